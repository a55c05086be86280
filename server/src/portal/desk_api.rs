//! HTTP adapter of desk routing: `GET /api/v1/desk/route`, `GET
//! /api/v1/desks`, and the OpenAPI document. With `site_id`, the site's
//! profile (maintenance, router, reader) and contacts come from the database;
//! explicit query parameters win. (`desk/` itself is pure; this is its HTTP adapter.)

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{DateTime, FixedOffset, Utc};

use super::AppState;
use crate::desk::{AtParam, Maintenance, RouteQuery, SiteContacts};
use crate::error::Error;

#[derive(Debug, Default, serde::Deserialize)]
pub struct SiteParam {
    #[serde(default)]
    site_id: Option<String>,
}

fn bad_query(e: QueryRejection) -> Error {
    Error::InvalidArgument(format!("クエリが正しくありません: {}", e.body_text()))
}

fn at_or_now(at: AtParam) -> DateTime<FixedOffset> {
    at.at
        .unwrap_or_else(|| Utc::now().with_timezone(&crate::desk::JST))
}

/// The site's profile and contacts; the query's own values take precedence.
async fn load_site(
    state: &AppState,
    site_id: &str,
    query: &mut Option<&mut RouteQuery>,
) -> Result<SiteContacts, Error> {
    let profile = crate::sites::store::get(&state.pool, site_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("site {site_id}")))?;
    if let Some(q) = query.as_deref_mut() {
        if q.maintenance == Maintenance::None {
            q.maintenance = profile.maintenance;
        }
        q.router_model = q.router_model.or(profile.router_model);
        q.reader_maker = q.reader_maker.or(profile.reader_maker);
    }
    Ok(crate::incidents::desk::contacts_for(&profile))
}

pub async fn route(
    State(state): State<AppState>,
    query: Result<Query<RouteQuery>, QueryRejection>,
    at: Result<Query<AtParam>, QueryRejection>,
    site: Result<Query<SiteParam>, QueryRejection>,
) -> Result<impl IntoResponse, Error> {
    let Query(mut query) = query.map_err(bad_query)?;
    let Query(at) = at.map_err(bad_query)?;
    let Query(site) = site.map_err(bad_query)?;
    let contacts = match site.site_id.as_deref() {
        Some(id) => load_site(&state, id, &mut Some(&mut query)).await?,
        None => SiteContacts::default(),
    };
    let answer = crate::desk::route(&query, &contacts, at_or_now(at))
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    Ok(Json(answer))
}

pub async fn desks(
    State(state): State<AppState>,
    at: Result<Query<AtParam>, QueryRejection>,
    site: Result<Query<SiteParam>, QueryRejection>,
) -> Result<impl IntoResponse, Error> {
    let Query(at) = at.map_err(bad_query)?;
    let Query(site) = site.map_err(bad_query)?;
    let contacts = match site.site_id.as_deref() {
        Some(id) => load_site(&state, id, &mut None).await?,
        None => SiteContacts::default(),
    };
    let at = at_or_now(at);
    Ok(Json(
        serde_json::json!({ "at": at.to_rfc3339(), "desks": crate::desk::list_desks(&contacts, at) }),
    ))
}

pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../desk/openapi.json"),
    )
}
