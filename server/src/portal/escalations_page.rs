//! `/incidents/{id}/escalations`: the proposed draft for the incident's desk, and every case
//! raised from it — edit and send a mail, record a call, set the ticket, status and visit
//! date, see when the desk is open and when it should have answered. The forms
//! (`escalations_forms.rs`) post back and redirect here (POST → 303 → GET); a refused form
//! shows this page again with the reason.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use super::extract::AppQuery;
use super::{AppState, Nav, filters, render};
use crate::auth::{Principal, Role};
use crate::desk::{DeskId, JST};
use crate::error::{Error, FieldErrors};
use crate::escalation::context::Context;
use crate::escalation::draft::{self, Draft, Request};
use crate::escalation::model::{Channel, Status};
use crate::escalation::query::{self, Escalation};

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
pub(super) struct Refused {
    pub error_for: i64,
    pub message: String,
    pub errors: FieldErrors,
    pub desk: Option<DeskId>,
    pub serial: Option<String>,
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
pub(super) async fn refused(
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

pub(super) fn back(id: i64, done: &str, eid: i64) -> Response {
    Redirect::to(&format!(
        "/incidents/{id}/escalations?done={done}#esc-{eid}"
    ))
    .into_response()
}

pub(super) fn blank_refusal(error_for: i64) -> Refused {
    Refused {
        error_for,
        message: String::new(),
        errors: FieldErrors::default(),
        desk: None,
        serial: None,
    }
}
