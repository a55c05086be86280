//! HTTP adapter of escalations (issue 12): draft, send, record a call, ticket and status.
//! Thin: the logic is in `escalation::{draft, store, send, query}`; every route is in
//! `routes.rs`.

use std::net::SocketAddr;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::incidents_api::{Body, bad_id, bad_json, optional_json};
use crate::auth::Principal;
use crate::error::Error;
use crate::escalation::draft::Request;
use crate::escalation::input::{CallInput, Patch};
use crate::escalation::query::{self, Escalation};
use crate::escalation::{send, store};
use crate::sites::Actor;

/// The created draft, with what the operator should check before sending or calling.
#[derive(Debug, Serialize)]
pub struct Created {
    #[serde(flatten)]
    escalation: Escalation,
    warnings: Vec<String>,
    /// The desk at the time of drafting, in words (contact, hours, open or when, who is open).
    sheet: String,
}

async fn escalation(state: &AppState, id: i64, eid: i64) -> Result<Json<Escalation>, Error> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(query::get(&mut conn, id, eid, Utc::now()).await?))
}

fn actor<'a>(who: &'a Principal, remote: &'a str) -> Actor<'a> {
    Actor {
        actor: &who.actor,
        remote,
    }
}

pub async fn list(
    State(state): State<AppState>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<serde_json::Value>, Error> {
    let Path(id) = id.map_err(bad_id)?;
    let mut conn = state.pool.acquire().await?;
    let (_, list) = query::for_incident(&mut conn, id, Utc::now()).await?;
    Ok(Json(
        serde_json::json!({ "incident_id": id, "escalations": list }),
    ))
}

pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    id: Result<Path<i64>, PathRejection>,
    body: Body,
) -> Result<(StatusCode, Json<Created>), Error> {
    let Path(id) = id.map_err(bad_id)?;
    let req: Request = optional_json(body)?;
    let remote = remote.ip().to_string();
    let (eid, draft) =
        store::create(&state.pool, id, &req, actor(&who, &remote), Utc::now()).await?;
    let Json(escalation) = escalation(&state, id, eid).await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            escalation,
            warnings: draft.warnings,
            sheet: draft.sheet,
        }),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    ids: Result<Path<(i64, i64)>, PathRejection>,
) -> Result<Json<Escalation>, Error> {
    let Path((id, eid)) = ids.map_err(bad_id)?;
    escalation(&state, id, eid).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SendBody {
    confirm_resend: bool,
}

pub async fn send_mail(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    ids: Result<Path<(i64, i64)>, PathRejection>,
    body: Body,
) -> Result<Json<Escalation>, Error> {
    let Path((id, eid)) = ids.map_err(bad_id)?;
    let SendBody { confirm_resend } = optional_json(body)?;
    let sender = state.escalation_mail.as_deref();
    let remote = remote.ip().to_string();
    let sent = send::send(
        &state.pool,
        sender,
        id,
        eid,
        confirm_resend,
        actor(&who, &remote),
    )
    .await?;
    Ok(Json(sent))
}

pub async fn record_call(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    ids: Result<Path<(i64, i64)>, PathRejection>,
    body: Result<Json<CallInput>, JsonRejection>,
) -> Result<Json<Escalation>, Error> {
    let Path((id, eid)) = ids.map_err(bad_id)?;
    let Json(call) = body.map_err(bad_json)?;
    let remote = remote.ip().to_string();
    store::record_call(
        &state.pool,
        id,
        eid,
        &call,
        actor(&who, &remote),
        Utc::now(),
    )
    .await?;
    escalation(&state, id, eid).await
}

pub async fn patch(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    ids: Result<Path<(i64, i64)>, PathRejection>,
    body: Result<Json<Patch>, JsonRejection>,
) -> Result<Json<Escalation>, Error> {
    let Path((id, eid)) = ids.map_err(bad_id)?;
    let Json(patch) = body.map_err(bad_json)?;
    let remote = remote.ip().to_string();
    store::update(
        &state.pool,
        id,
        eid,
        &patch,
        actor(&who, &remote),
        Utc::now(),
    )
    .await?;
    escalation(&state, id, eid).await
}
