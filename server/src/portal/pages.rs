//! HTML pages. Japanese first: operators read these all day.

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};

use super::extract::{AppQuery, PAGE_SIZE, PageParam};
use super::{AppState, Nav, filters, render};
use crate::auth::Principal;
use crate::error::Error;
use crate::fleet::query::{self, SiteRow, Summary};
use crate::sites::SiteStatus;

pub struct SiteView {
    pub site_id: String,
    pub name: String,
    pub prefecture: String,
    pub kind: &'static str,
    pub maintenance: &'static str,
    pub received_at: Option<DateTime<Utc>>,
    pub status: SiteStatus,
    pub finding: String,
}

impl SiteView {
    /// CSS class and `data-state`: ok | warning | critical | stale | none.
    pub fn state(&self) -> &'static str {
        match self.status {
            SiteStatus::Ok => "ok",
            SiteStatus::Warning => "warning",
            SiteStatus::Critical => "critical",
            SiteStatus::Silent | SiteStatus::Closed => "stale",
            SiteStatus::NeverReported => "none",
        }
    }
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    nav: Nav,
    summary: Summary,
    sites: Vec<SiteView>,
    page: i64,
    has_next: bool,
}

/// Reports older than this instant count as silence.
fn silent_before(state: &AppState) -> DateTime<Utc> {
    let stale =
        chrono::Duration::from_std(state.stale_after).unwrap_or(chrono::Duration::minutes(10));
    Utc::now() - stale
}

pub async fn index(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    AppQuery(params): AppQuery<PageParam>,
) -> Result<impl IntoResponse, Error> {
    let page = params.number()?;
    let silent_before = silent_before(&state);
    let rows = query::list_sites(
        &state.pool,
        silent_before,
        PAGE_SIZE + 1,
        PageParam::offset(page),
    )
    .await?;
    let has_next = rows.len() as i64 > PAGE_SIZE;
    let sites = rows
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(site_view)
        .collect();
    let page = IndexPage {
        nav: Nav::from(&who),
        summary: query::summary(&state.pool, silent_before).await?,
        sites,
        page,
        has_next,
    };
    render(&page)
}

/// `GET /api/v1/sites?page=N`: the same list as JSON, for integrations.
pub async fn api_sites(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<PageParam>,
) -> Result<impl IntoResponse, Error> {
    let page = params.number()?;
    let silent_before = silent_before(&state);
    let sites = query::list_sites(
        &state.pool,
        silent_before,
        PAGE_SIZE,
        PageParam::offset(page),
    )
    .await?;
    Ok(Json(
        serde_json::json!({ "page": page, "summary": query::summary(&state.pool, silent_before).await?, "sites": sites }),
    ))
}

fn site_view(row: SiteRow) -> SiteView {
    let finding = row
        .findings
        .as_ref()
        .and_then(|f| f.0.first())
        .map(|f| f.message.clone())
        .unwrap_or_default();
    SiteView {
        site_id: row.site_id,
        name: row.name,
        prefecture: row.prefecture,
        kind: row.kind.label_ja(),
        maintenance: row.maintenance.short_ja(),
        received_at: row.received_at,
        status: row.status,
        finding,
    }
}

pub async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../../static/portal.css"),
    )
}
