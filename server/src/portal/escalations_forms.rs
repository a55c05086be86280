//! The forms of `/incidents/{id}/escalations`: draft, edit, send, record a call, update. Each
//! redirects back to the page on success and shows it again with the reason when refused.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

use super::AppState;
use super::escalations_page::{Refused, back, blank_refusal, refused};
use super::extract::{AppForm, Remote};
use crate::auth::Principal;
use crate::desk::JST;
use crate::error::Error;
use crate::escalation::draft::Request;
use crate::escalation::input::{CallInput, Patch};
use crate::escalation::model::{CallOutcome, Status, field_error};
use crate::escalation::query::{self, Escalation};
use crate::escalation::{send, store};
use crate::sites::Actor;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DraftForm {
    desk: String,
    serial: String,
}

pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<i64>,
    Remote(remote): Remote,
    AppForm(form): AppForm<DraftForm>,
) -> Result<Response, Error> {
    let desk = match form.desk.trim() {
        "" => None,
        text => Some(
            crate::escalation::model::desk_from_str(text).ok_or_else(|| {
                Error::InvalidArgument("窓口の値が正しくありません。一覧から選んでください".into())
            })?,
        ),
    };
    let req = Request {
        desk,
        serial: Some(form.serial.clone()).filter(|s| !s.trim().is_empty()),
    };
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    match store::create(&state.pool, id, &req, by, Utc::now()).await {
        Ok((eid, _)) => Ok(back(id, "drafted", eid)),
        Err(e) => {
            let context = Refused {
                desk,
                serial: Some(form.serial),
                ..blank_refusal(0)
            };
            refused(&state, &who, id, context, e).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EditForm {
    subject: Option<String>,
    body: String,
}

pub async fn edit(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((id, eid)): Path<(i64, i64)>,
    Remote(remote): Remote,
    AppForm(form): AppForm<EditForm>,
) -> Result<Response, Error> {
    // Browsers send CRLF line ends; the stored text (and the mail) uses LF.
    let patch = Patch {
        subject: form.subject,
        body: Some(form.body.replace("\r\n", "\n")),
        ..Default::default()
    };
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    match store::update(&state.pool, id, eid, &patch, by, Utc::now()).await {
        Ok(()) => Ok(back(id, "saved", eid)),
        Err(e) => refused(&state, &who, id, blank_refusal(eid), e).await,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SendForm {
    confirm_resend: Option<String>,
}

pub async fn send_mail(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((id, eid)): Path<(i64, i64)>,
    Remote(remote): Remote,
    AppForm(form): AppForm<SendForm>,
) -> Result<Response, Error> {
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    let confirm = form.confirm_resend.is_some();
    let sender = state.escalation_mail.as_deref();
    let result = send::send(&state.pool, sender, id, eid, confirm, by)
        .await
        .map(|_| ());
    match result {
        Ok(()) => Ok(back(id, "sent", eid)),
        Err(e) => refused(&state, &who, id, blank_refusal(eid), e).await,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CallForm {
    spoke_with: String,
    /// `datetime-local`: `2026-03-02T10:15` in JST; empty means now.
    at: String,
    outcome: String,
    ticket: String,
    note: String,
}

fn parse_outcome(text: &str) -> Result<CallOutcome, Error> {
    CallOutcome::ALL
        .into_iter()
        .find(|o| o.as_str() == text)
        .ok_or_else(|| field_error("outcome", "連絡の結果を選んでください"))
}

fn parse_local(text: &str) -> Result<Option<DateTime<chrono::FixedOffset>>, Error> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| field_error("at", "通話日時は 2026-03-02T10:15 の形で入力してください"))?;
    Ok(JST.from_local_datetime(&naive).single())
}

pub async fn record_call(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((id, eid)): Path<(i64, i64)>,
    Remote(remote): Remote,
    AppForm(form): AppForm<CallForm>,
) -> Result<Response, Error> {
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    let result = async {
        let call = CallInput {
            spoke_with: form.spoke_with,
            at: parse_local(&form.at)?,
            outcome: parse_outcome(&form.outcome)?,
            ticket: form.ticket,
            note: form.note.replace("\r\n", "\n"),
        };
        store::record_call(&state.pool, id, eid, &call, by, Utc::now()).await
    }
    .await;
    match result {
        Ok(()) => Ok(back(id, "called", eid)),
        Err(e) => refused(&state, &who, id, blank_refusal(eid), e).await,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateForm {
    status: String,
    ticket: Option<String>,
    visit_on: String,
    note: String,
}

fn form_patch(form: UpdateForm, current: Option<&Escalation>) -> Result<Patch, Error> {
    let status = match form.status.trim() {
        "" => None,
        text => Some(
            Status::ALL
                .into_iter()
                .find(|s| s.as_str() == text)
                .ok_or_else(|| field_error("status", "状態を一覧から選んでください"))?,
        ),
    };
    let visit_on =
        match form.visit_on.trim() {
            "" => None,
            text => Some(NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                field_error("visit_on", "訪問日は 2026-03-10 の形で入力してください")
            })?),
        };
    // The form always carries the ticket field: only a change is a change.
    let ticket = form
        .ticket
        .map(|t| t.trim().to_owned())
        .filter(|t| current.is_none_or(|c| &c.ticket != t));
    Ok(Patch {
        status: status.filter(|s| current.is_none_or(|c| c.status != *s) || visit_on.is_some()),
        ticket,
        visit_on: visit_on.filter(|d| current.is_none_or(|c| c.visit_on != Some(*d))),
        note: Some(form.note.replace("\r\n", "\n")).filter(|n| !n.trim().is_empty()),
        ..Default::default()
    })
}

pub async fn update(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((id, eid)): Path<(i64, i64)>,
    Remote(remote): Remote,
    AppForm(form): AppForm<UpdateForm>,
) -> Result<Response, Error> {
    let by = Actor {
        actor: &who.actor,
        remote: &remote,
    };
    let result = async {
        let mut conn = state.pool.acquire().await?;
        let current = query::get(&mut conn, id, eid, Utc::now()).await?;
        drop(conn);
        let patch = form_patch(form, Some(&current))?;
        store::update(&state.pool, id, eid, &patch, by, Utc::now()).await
    }
    .await;
    match result {
        Ok(()) => Ok(back(id, "updated", eid)),
        Err(e) => refused(&state, &who, id, blank_refusal(eid), e).await,
    }
}
