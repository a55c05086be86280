//! HTTP adapter of incidents (issue 11 "Interfaces"): lists and details, operator actions,
//! silences, and a site's business hours. Thin: the logic is in `incidents::{query, actions,
//! silence}` and `sites::{hours_input, hours_store}`; every route is in `routes.rs`.

use std::net::SocketAddr;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use crate::auth::Principal;
use crate::error::Error;
use crate::incidents::actions::{self, Action, Expect};
use crate::incidents::query::{self, Filter};
use crate::incidents::silence::{self, NewSilence, Scope};
use crate::sites::hours_input::{self, ExceptionInput, WeekInput};
use crate::sites::{Actor, hours_store};

fn bad_query(e: QueryRejection) -> Error {
    Error::InvalidArgument(format!("クエリが正しくありません: {}", e.body_text()))
}

pub(super) fn bad_json(e: JsonRejection) -> Error {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return Error::ResourceExhausted("リクエストが大きすぎます（上限 2 MB）".into());
    }
    Error::InvalidArgument(format!(
        "JSON が正しくありません（Content-Type: application/json で送ってください）: {}",
        e.body_text()
    ))
}

/// An optional JSON body: empty means the defaults.
pub(super) fn optional_json<T: serde::de::DeserializeOwned + Default>(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<T, Error> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::ResourceExhausted("リクエストが大きすぎます（上限 2 MB）".into())
        } else {
            Error::InvalidArgument(format!("本文を読めません: {}", e.body_text()))
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::InvalidArgument(format!("JSON が正しくありません: {e}")))
}

pub(super) fn bad_id(e: axum::extract::rejection::PathRejection) -> Error {
    Error::InvalidArgument(format!("URL のIDが正しくありません: {}", e.body_text()))
}

pub(super) type Body = Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>;

fn actor<'a>(who: &'a Principal, remote: &'a str) -> Actor<'a> {
    Actor {
        actor: &who.actor,
        remote,
    }
}

pub async fn list(
    State(state): State<AppState>,
    filter: Result<Query<Filter>, QueryRejection>,
) -> Result<Json<query::Page>, Error> {
    let Query(filter) = filter.map_err(bad_query)?;
    let mut conn = state.pool.acquire().await?;
    Ok(Json(query::list(&mut conn, &filter, Utc::now()).await?))
}

pub async fn detail(
    State(state): State<AppState>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<Json<query::Detail>, Error> {
    let Path(id) = id.map_err(bad_id)?;
    let mut conn = state.pool.acquire().await?;
    Ok(Json(query::get(&mut conn, id, Utc::now()).await?))
}

/// Body of every action: its own fields plus the optional `version` guard.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActionBody {
    assignee: String,
    text: String,
    reason: String,
    version: Option<i64>,
}

async fn act(
    state: AppState,
    who: Principal,
    remote: SocketAddr,
    id: i64,
    make: impl FnOnce(ActionBody) -> Action,
    body: Body,
) -> Result<Json<query::Detail>, Error> {
    let body: ActionBody = optional_json(body)?;
    let expect = Expect {
        version: body.version,
    };
    let action = make(body);
    let remote = remote.ip().to_string();
    let now = Utc::now();
    actions::perform(&state.pool, id, &action, expect, actor(&who, &remote), now).await?;
    let mut conn = state.pool.acquire().await?;
    Ok(Json(query::get(&mut conn, id, now).await?))
}

macro_rules! action_handler {
    ($name:ident, $make:expr) => {
        pub async fn $name(
            State(state): State<AppState>,
            Extension(who): Extension<Principal>,
            ConnectInfo(remote): ConnectInfo<SocketAddr>,
            id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
            body: Body,
        ) -> Result<Json<query::Detail>, Error> {
            let Path(id) = id.map_err(bad_id)?;
            act(state, who, remote, id, $make, body).await
        }
    };
}

action_handler!(ack, |_| Action::Acknowledge);
action_handler!(assign, |b: ActionBody| Action::Assign {
    assignee: b.assignee.trim().to_owned()
});
action_handler!(comment, |b: ActionBody| Action::Comment { text: b.text });
action_handler!(resolve, |b: ActionBody| Action::Resolve {
    reason: b.reason.trim().to_owned()
});
action_handler!(reopen, |b: ActionBody| Action::Reopen {
    reason: b.reason.trim().to_owned()
});

#[derive(Debug, Default, Deserialize)]
pub struct SilenceList {
    #[serde(default)]
    all: bool,
}

pub async fn silences(
    State(state): State<AppState>,
    q: Result<Query<SilenceList>, QueryRejection>,
) -> Result<Json<Value>, Error> {
    let Query(q) = q.map_err(bad_query)?;
    let scope = if q.all { Scope::All } else { Scope::Current };
    let mut conn = state.pool.acquire().await?;
    let list = silence::list(&mut conn, scope, Utc::now()).await?;
    Ok(Json(json!({ "silences": list })))
}

pub async fn silence_create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    body: Result<Json<NewSilence>, JsonRejection>,
) -> Result<(StatusCode, Json<silence::Silence>), Error> {
    let Json(input) = body.map_err(bad_json)?;
    let remote = remote.ip().to_string();
    let created = silence::create(&state.pool, &input, actor(&who, &remote), Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn silence_expire(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<Json<silence::Silence>, Error> {
    let Path(id) = id.map_err(bad_id)?;
    let remote = remote.ip().to_string();
    Ok(Json(
        silence::expire(&state.pool, id, actor(&who, &remote), Utc::now()).await?,
    ))
}

async fn hours_view(state: &AppState, site_id: &str) -> Result<hours_input::HoursView, Error> {
    let mut conn = state.pool.acquire().await?;
    let today = Utc::now().with_timezone(&crate::desk::JST).date_naive();
    let stored = hours_store::load(&mut conn, site_id, today)
        .await?
        .ok_or_else(|| Error::NotFound(format!("サイト {site_id}")))?;
    Ok(hours_input::view(site_id, &stored))
}

pub async fn hours_get(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
) -> Result<Json<hours_input::HoursView>, Error> {
    Ok(Json(hours_view(&state, &site_id).await?))
}

pub async fn hours_put(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(site_id): Path<String>,
    body: Result<Json<WeekInput>, JsonRejection>,
) -> Result<Json<hours_input::HoursView>, Error> {
    let Json(input) = body.map_err(bad_json)?;
    let week = hours_input::week_from(&input).map_err(Error::InvalidArgument)?;
    let remote = remote.ip().to_string();
    // Absent `closed_on_holidays` keeps what the site has.
    let closed_on_holidays = match input.closed_on_holidays {
        Some(closed) => closed,
        None => hours_view(&state, &site_id).await?.closed_on_holidays,
    };
    let mut tx = state.pool.begin().await?;
    hours_store::set_week(
        &mut tx,
        &site_id,
        week.as_ref(),
        closed_on_holidays,
        actor(&who, &remote),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(hours_view(&state, &site_id).await?))
}

pub async fn exception_put(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path((site_id, date)): Path<(String, String)>,
    body: Body,
) -> Result<Json<hours_input::HoursView>, Error> {
    let day = hours_input::parse_date(&date).map_err(Error::InvalidArgument)?;
    let input: ExceptionInput = optional_json(body)?;
    let exception = hours_input::exception_from(day, &input).map_err(Error::InvalidArgument)?;
    let remote = remote.ip().to_string();
    let mut tx = state.pool.begin().await?;
    hours_store::set_exception(&mut tx, &site_id, &exception, actor(&who, &remote)).await?;
    tx.commit().await?;
    Ok(Json(hours_view(&state, &site_id).await?))
}

pub async fn exception_delete(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path((site_id, date)): Path<(String, String)>,
) -> Result<Json<hours_input::HoursView>, Error> {
    let day = hours_input::parse_date(&date).map_err(Error::InvalidArgument)?;
    let remote = remote.ip().to_string();
    let mut tx = state.pool.begin().await?;
    hours_store::remove_exception(&mut tx, &site_id, day, actor(&who, &remote)).await?;
    tx.commit().await?;
    Ok(Json(hours_view(&state, &site_id).await?))
}

#[cfg(test)]
mod tests {
    /// Every `/api/v1/...` route of the route table is in the OpenAPI document served at
    /// `/api/v1/openapi.json`, with its method.
    #[test]
    fn every_api_route_is_documented() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../desk/openapi.json")).expect("valid JSON");
        let mut missing = Vec::new();
        for (spec, _) in super::super::routes::table() {
            if !spec.path.starts_with("/api/v1/") {
                continue;
            }
            let method = spec.method.as_str().to_ascii_lowercase();
            if doc["paths"][spec.path][&method].is_null() {
                missing.push(format!("{method} {}", spec.path));
            }
        }
        assert!(missing.is_empty(), "undocumented API routes: {missing:?}");
    }
}
