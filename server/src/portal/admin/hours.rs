//! `/admin/hours`: business-hours defaults per site kind (issue 13). A site without hours of its
//! own follows its kind's default; a change applies on every replica at its next sweep.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::Principal;
use crate::error::Error;
use crate::portal::extract::{AppForm, AppQuery, Remote};
use crate::portal::{AppState, Nav, filters, render};
use crate::sites::hours::WeekSchedule;
use crate::sites::hours_defaults::{self, KindDefault};
use crate::sites::{Actor, SiteKind};

/// One kind's row: its default, how many sites use it, and the text in the form.
pub struct Row {
    default: KindDefault,
    sites: i64,
    /// What the form shows: the stored schedule, or what was typed when it was refused.
    typed: String,
    error: String,
}

#[derive(Template)]
#[template(path = "admin_hours.html")]
struct HoursPage {
    nav: Nav,
    rows: Vec<Row>,
    message: String,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct Saved {
    #[serde(default)]
    saved: Option<String>,
}

/// What a refused form brings back to the page.
struct Refused {
    kind: SiteKind,
    typed: String,
    error: String,
}

async fn page(
    state: &AppState,
    who: &Principal,
    message: String,
    refused: Option<Refused>,
) -> Result<HoursPage, Error> {
    let mut conn = state.pool.acquire().await?;
    let using = hours_defaults::sites_using(&mut conn).await?;
    let rows = hours_defaults::list(&mut conn)
        .await?
        .into_iter()
        .map(|d| {
            let sites = using
                .iter()
                .find(|(k, _)| *k == d.kind)
                .map_or(0, |(_, n)| *n);
            let (typed, error) = match &refused {
                Some(r) if r.kind == d.kind => (r.typed.clone(), r.error.clone()),
                _ => (d.week.to_text(), String::new()),
            };
            Row {
                default: d,
                sites,
                typed,
                error,
            }
        })
        .collect();
    Ok(HoursPage {
        nav: Nav::from(who),
        rows,
        message,
    })
}

pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    AppQuery(saved): AppQuery<Saved>,
) -> Result<Response, Error> {
    let message = match saved.saved.as_deref().and_then(kind_named) {
        Some(kind) => format!(
            "{}の既定の営業時間を保存しました。各サーバーの次の点検（30秒以内）から使われます",
            kind.label_ja()
        ),
        None => String::new(),
    };
    Ok(render(&page(&state, &who, message, None).await?)?.into_response())
}

fn kind_named(text: &str) -> Option<SiteKind> {
    SiteKind::ALL.into_iter().find(|k| k.as_str() == text)
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct HoursForm {
    #[serde(default)]
    week: String,
    /// "on": back to the built-in default.
    #[serde(default)]
    builtin: Option<String>,
}

pub async fn set(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(kind): Path<String>,
    Remote(remote): Remote,
    AppForm(form): AppForm<HoursForm>,
) -> Result<Response, Error> {
    let kind = kind_named(&kind).ok_or_else(|| {
        Error::NotFound(format!(
            "種別「{kind}」はありません（clinic / pharmacy / home_nursing）"
        ))
    })?;
    let week = match form.builtin.as_deref() {
        Some(_) => Ok(WeekSchedule::default_for(kind)),
        None => WeekSchedule::parse(form.week.trim())
            .and_then(|w| hours_defaults::check(&w).map(|()| w)),
    };
    let week = match week {
        Ok(week) => week,
        Err(error) => {
            tracing::info!(kind = kind.as_str(), %error, "default hours refused");
            let refused = Refused {
                kind,
                typed: form.week,
                error,
            };
            let shown = page(&state, &who, String::new(), Some(refused)).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&shown)?).into_response());
        }
    };
    let mut tx = state.pool.begin().await?;
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    hours_defaults::set(&mut tx, kind, &week, by).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/hours?saved={}", kind.as_str())).into_response())
}
