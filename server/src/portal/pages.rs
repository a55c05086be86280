//! HTML pages. Japanese first: operators read these all day.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::{Extension, Json};
use chrono::{FixedOffset, Utc};

use super::{AppState, Nav};
use crate::auth::Principal;
use crate::error::Error;
use crate::fleet::query::{self, SiteRow, Summary};
use crate::sites::Health;

const PAGE_SIZE: i64 = 100;

#[derive(serde::Deserialize)]
pub struct ListParams {
    page: Option<i64>,
}

pub struct SiteView {
    pub site_id: String,
    pub name: String,
    pub prefecture: String,
    pub kind: &'static str,
    pub maintenance: &'static str,
    pub last_report: String,
    /// CSS class and data attribute: ok | warning | critical | stale | none
    pub state: &'static str,
    pub state_label: &'static str,
    pub finding: String,
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

pub async fn index(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(params): Query<ListParams>,
) -> Result<impl IntoResponse, Error> {
    let page = params.page.unwrap_or(1).max(1);
    let rows = query::list_sites(&state.pool, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE).await?;
    let has_next = rows.len() as i64 > PAGE_SIZE;
    let now = Utc::now();
    let stale =
        chrono::Duration::from_std(state.stale_after).unwrap_or(chrono::Duration::minutes(10));
    let sites = rows
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(|row| site_view(row, now, stale))
        .collect();
    let page = IndexPage {
        nav: Nav::from(&who),
        summary: query::summary(&state.pool).await?,
        sites,
        page,
        has_next,
    };
    Ok(Html(page.render().map_err(|e| Error::Other(e.into()))?))
}

/// `GET /api/v1/sites?page=N`: the same list as JSON, for integrations.
pub async fn api_sites(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<impl IntoResponse, Error> {
    let page = params.page.unwrap_or(1).max(1);
    let sites = query::list_sites(&state.pool, PAGE_SIZE, (page - 1) * PAGE_SIZE).await?;
    Ok(Json(
        serde_json::json!({ "page": page, "summary": query::summary(&state.pool).await?, "sites": sites }),
    ))
}

fn site_view(row: SiteRow, now: chrono::DateTime<Utc>, stale: chrono::Duration) -> SiteView {
    let jst = FixedOffset::east_opt(9 * 3600).expect("valid offset");
    let (state, state_label) = match (row.health, row.received_at) {
        (None, _) | (_, None) => ("none", "未受信"),
        // An old report says nothing about now: a PC off at night is normal,
        // so this is grey, not red (domain.md §2.1).
        (_, Some(at)) if now - at > stale => ("stale", "停止中"),
        (Some(Health::Critical), _) => ("critical", "異常"),
        (Some(Health::Warning), _) => ("warning", "注意"),
        _ => ("ok", "正常"),
    };
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
        last_report: row
            .received_at
            .map(|t| {
                t.with_timezone(&jst)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_else(|| "—".into()),
        state,
        state_label,
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
