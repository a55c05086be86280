//! `/incidents/{id}/escalations`: the proposed draft for the incident's desk, and every case
//! raised from it — edit and send a mail, record a call, set the ticket, status and visit
//! date, see when the desk is open and when it should have answered. Forms post back here and
//! redirect (POST → 303 → GET); a refused form shows the page again with the reason.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

use super::extract::{AppForm, AppQuery, Remote};
use super::{AppState, Nav, filters, render};
use crate::auth::{Principal, Role};
use crate::desk::{DeskId, JST};
use crate::error::{Error, FieldErrors};
use crate::escalation::context::Context;
use crate::escalation::draft::{self, Draft, Request};
use crate::escalation::input::{CallInput, Patch};
use crate::escalation::model::{CallOutcome, Channel, Status, field_error};
use crate::escalation::query::{self, Escalation};
use crate::escalation::{send, store};
use crate::sites::Actor;

/// The draft the page proposes, or why none can be made (with where to fix it).
pub struct Proposal {
    pub draft: Option<Draft>,
    pub error: String,
    pub links: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "incident_escalations.html")]
struct Page {
    nav: Nav,
    can_act: bool,
    mail_ready: bool,
    ctx: Context,
    escalations: Vec<Escalation>,
    proposal: Proposal,
    /// The desk the new-draft form selects.
    desk: Option<DeskId>,
    serial: String,
    notice: &'static str,
    error: String,
    errors: FieldErrors,
    /// The case the error is about (0: the new-draft form).
    error_for: i64,
}

impl Page {
    /// The case's mail can be edited and sent from the page.
    fn sendable(&self, e: &Escalation) -> bool {
        e.channel == Channel::Mail && e.status == Status::Draft
    }

    fn desk_choices(&self) -> Vec<(DeskId, &'static str)> {
        DeskId::ALL
            .into_iter()
            .map(|d| (d, crate::desk::directory::desk(d).name))
            .collect()
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

/// Fixed messages for `?done=`: nothing the URL says is shown as such.
fn notice(done: Option<&str>) -> &'static str {
    match done {
        Some("drafted") => "下書きを作成しました。内容を確認してから送信・連絡してください",
        Some("saved") => "下書きを保存しました",
        Some("sent") => "メールを送信しました（依頼済）。回答期限を過ぎると催促が表示されます",
        Some("called") => "連絡の記録を追加しました",
        Some("updated") => "依頼を更新しました",
        _ => "",
    }
}

/// What went wrong, for the page shown again.
struct Refused {
    error_for: i64,
    message: String,
    errors: FieldErrors,
    desk: Option<DeskId>,
    serial: Option<String>,
}

async fn page(
    state: &AppState,
    who: &Principal,
    id: i64,
    notice_text: &'static str,
    refused: Option<Refused>,
) -> Result<Response, Error> {
    let now = Utc::now();
    let mut conn = state.pool.acquire().await?;
    let (ctx, escalations) = query::for_incident(&mut conn, id, now).await?;
    drop(conn);
    let req = Request {
        desk: refused.as_ref().and_then(|r| r.desk),
        serial: refused.as_ref().and_then(|r| r.serial.clone()),
    };
    let built = draft::build(&ctx.facts(&who.username), &req, now.with_timezone(&JST));
    let desk = req
        .desk
        .or_else(|| draft::default_desk(&ctx.facts(&who.username)).ok());
    let proposal = match built {
        Ok(d) => Proposal {
            draft: Some(d),
            error: String::new(),
            links: Vec::new(),
        },
        Err(e) => Proposal {
            draft: None,
            links: e.fix_pages(&ctx.site.site_id),
            error: e.to_string(),
        },
    };
    let serial = req.serial.unwrap_or_else(|| {
        proposal
            .draft
            .as_ref()
            .map(|d| d.serial.clone())
            .unwrap_or_default()
    });
    let status = if refused.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (error, errors, error_for) = match refused {
        Some(r) => (r.message, r.errors, r.error_for),
        None => (String::new(), FieldErrors::default(), -1),
    };
    let body = render(&Page {
        nav: Nav::from(who),
        can_act: who.role >= Role::Operator,
        mail_ready: state.escalation_mail.is_some(),
        ctx,
        escalations,
        proposal,
        desk,
        serial,
        notice: notice_text,
        error,
        errors,
        error_for,
    })?;
    Ok((status, body).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<i64>,
    AppQuery(done): AppQuery<Done>,
) -> Result<Response, Error> {
    page(&state, &who, id, notice(done.done.as_deref()), None).await
}

/// The page again with the problem, for errors the operator can fix; others propagate.
async fn refused(
    state: &AppState,
    who: &Principal,
    id: i64,
    mut context: Refused,
    e: Error,
) -> Result<Response, Error> {
    match e {
        Error::Fields(errors) => {
            context.message = errors
                .iter()
                .map(|(_, m)| m)
                .collect::<Vec<_>>()
                .join(" / ");
            context.errors = errors;
        }
        Error::Conflict(m) | Error::InvalidArgument(m) | Error::Upstream(m) => context.message = m,
        other => return Err(other),
    }
    tracing::info!(incident = id, actor = %who.actor, error = %context.message, "escalation form refused");
    page(state, who, id, "", Some(context)).await
}

fn back(id: i64, done: &str, eid: i64) -> Response {
    Redirect::to(&format!(
        "/incidents/{id}/escalations?done={done}#esc-{eid}"
    ))
    .into_response()
}

fn blank_refusal(error_for: i64) -> Refused {
    Refused {
        error_for,
        message: String::new(),
        errors: FieldErrors::default(),
        desk: None,
        serial: None,
    }
}

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
