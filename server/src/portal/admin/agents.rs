//! Agents and their revocation (confirmed first: the revoked PC can no longer report).

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};

use super::Confirm;
use crate::auth::Principal;
use crate::enrol;
use crate::error::Error;
use crate::portal::extract::{AppForm, Remote};
use crate::portal::{AppState, Nav, filters, render};

#[derive(sqlx::FromRow)]
pub struct AgentRow {
    agent_id: String,
    site_id: String,
    acked_seq: i64,
    agent_version: String,
    enrolled_at: Option<DateTime<Utc>>,
    last_seen_at: DateTime<Utc>,
    cert_not_after: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(Template)]
#[template(path = "admin_agents.html")]
struct AgentsPage {
    nav: Nav,
    agents: Vec<AgentRow>,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Response, Error> {
    let agents = sqlx::query_as::<_, AgentRow>(
        "SELECT agent_id, site_id, acked_seq, agent_version, enrolled_at, last_seen_at, cert_not_after, revoked_at
         FROM agents ORDER BY last_seen_at DESC LIMIT 500",
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(render(&AgentsPage {
        nav: Nav::from(&who),
        agents,
    })?
    .into_response())
}

pub async fn revoke(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(agent_id): Path<String>,
    Remote(remote): Remote,
    AppForm(confirm): AppForm<Confirm>,
) -> Result<Response, Error> {
    confirm.require("エージェントを失効させる")?;
    enrol::revoke(&state.pool, &agent_id, &who.actor, &remote).await?;
    Ok(Redirect::to("/admin/agents").into_response())
}
