//! Notification deliveries (issue 12): the history with failed and dead-lettered messages and
//! their last error, and an admin's resend (audited by `notify::deliveries::retry`).

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;

use super::Confirm;
use crate::auth::Principal;
use crate::error::Error;
use crate::notify::DeliveryState;
use crate::notify::channel;
use crate::notify::deliveries::{self, Backlog, Delivery, Filter, RetryTarget};
use crate::portal::extract::{AppForm, AppQuery, Remote};
use crate::portal::{AppState, Nav, filters, render};
use crate::sites::Actor;

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct DeliveriesQuery {
    state: String,
    channel: String,
}

#[derive(Template)]
#[template(path = "admin_deliveries.html")]
struct DeliveriesPage {
    nav: Nav,
    deliveries: Vec<Delivery>,
    backlog: Backlog,
    state: String,
    channel: String,
    channels: Vec<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    AppQuery(q): AppQuery<DeliveriesQuery>,
) -> Result<Response, Error> {
    let wanted = match q.state.as_str() {
        "" => None,
        s => Some(
            DeliveryState::ALL
                .into_iter()
                .find(|x| x.as_str() == s)
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "状態「{s}」はありません。一覧の絞り込みから選んでください"
                    ))
                })?,
        ),
    };
    let mut conn = state.pool.acquire().await?;
    let filter = Filter {
        state: wanted,
        channel: Some(q.channel.trim().to_owned()).filter(|s| !s.is_empty()),
        limit: Some(200),
    };
    let page = DeliveriesPage {
        nav: Nav::from(&who),
        deliveries: deliveries::list(&mut conn, &filter).await?,
        backlog: deliveries::backlog(&mut conn, Utc::now()).await?,
        state: q.state,
        channel: q.channel,
        channels: channel::list(&mut conn)
            .await?
            .into_iter()
            .map(|c| c.name)
            .collect(),
    };
    Ok(render(&page)?.into_response())
}

pub async fn retry(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<i64>,
    Remote(remote): Remote,
    AppForm(_): AppForm<Confirm>,
) -> Result<Response, Error> {
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    deliveries::retry(&state.pool, &RetryTarget::One(id), by, Utc::now()).await?;
    Ok(Redirect::to("/admin/deliveries").into_response())
}

pub async fn retry_dead(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Remote(remote): Remote,
    AppForm(_): AppForm<Confirm>,
) -> Result<Response, Error> {
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    deliveries::retry(&state.pool, &RetryTarget::DeadOf(name), by, Utc::now()).await?;
    Ok(Redirect::to("/admin/deliveries?state=retrying").into_response())
}
