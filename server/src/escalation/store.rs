//! The only code that writes `escalations` and `escalation_calls`. Every step — draft, edit,
//! send, call, ticket, status, reminder — commits with its incident timeline row (kind
//! `escalation`) and its audit row in one transaction, under the site's incident lock.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::context::{self, Context};
use super::draft::{self, Draft, Request};
use super::due::answer_due;
use super::input::{self, CallInput, Patch};
use super::model::{Channel, Status, check_transition, desk_from_str, field_error};
use crate::auth::audit::{self, Entry, Outcome};
use crate::desk::{DeskId, JST};
use crate::error::{Error, FieldErrors};
use crate::incidents::lifecycle::State;
use crate::incidents::store as incident_store;
use crate::sites::Actor;

/// The columns a write checks before changing a row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Current {
    pub escalation_id: i64,
    pub incident_id: i64,
    pub desk: String,
    pub desk_name: String,
    pub channel: Channel,
    pub status: Status,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub ticket: String,
    pub visit_on: Option<chrono::NaiveDate>,
    pub send_started_at: Option<DateTime<Utc>>,
    pub send_started_by: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
}

impl Current {
    pub fn desk_id(&self) -> Result<DeskId, Error> {
        desk_from_str(&self.desk)
            .ok_or_else(|| Error::Other(anyhow::anyhow!("unknown stored desk {}", self.desk)))
    }
}

const CURRENT: &str = "SELECT escalation_id, incident_id, desk, desk_name, channel, status, \
     recipient, subject, body, ticket, visit_on, send_started_at, send_started_by, answered_at \
     FROM escalations";

async fn site_of(pool: &PgPool, incident_id: i64) -> Result<String, Error> {
    sqlx::query_scalar("SELECT site_id FROM incidents WHERE incident_id = $1")
        .bind(incident_id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("障害 {incident_id}")))
}

/// Opens the transaction every write runs in: the site's incident lock, then the row.
async fn lock(
    pool: &PgPool,
    incident_id: i64,
    eid: i64,
) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, Current), Error> {
    let site_id = site_of(pool, incident_id).await?;
    let mut tx = pool.begin().await?;
    incident_store::lock_site(&mut tx, &site_id).await?;
    let current: Current = sqlx::query_as(&format!(
        "{CURRENT} WHERE escalation_id = $1 AND incident_id = $2 FOR UPDATE"
    ))
    .bind(eid)
    .bind(incident_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::NotFound(format!("障害 {incident_id} のエスカレーション {eid}")))?;
    Ok((tx, current))
}

/// The timeline row and the audit row of one step.
async fn record(
    conn: &mut PgConnection,
    incident_id: i64,
    by: Actor<'_>,
    audit_action: &'static str,
    outcome: Outcome,
    detail: serde_json::Value,
) -> Result<(), Error> {
    incident_store::event(conn, incident_id, "escalation", by.actor, detail.clone()).await?;
    audit::record(
        conn,
        Entry::new(by.actor, audit_action, format!("incident:{incident_id}"))
            .remote(by.remote)
            .outcome(outcome)
            .detail(detail),
    )
    .await
}

/// Drafts a request to the routed (or asked-for) desk and stores it as 下書き.
pub async fn create(
    pool: &PgPool,
    incident_id: i64,
    req: &Request,
    by: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<(i64, Draft), Error> {
    let site_id = site_of(pool, incident_id).await?;
    let mut tx = pool.begin().await?;
    incident_store::lock_site(&mut tx, &site_id).await?;
    let ctx = context::load(&mut tx, incident_id, now).await?;
    if ctx.incident.state == State::Resolved {
        return Err(Error::Conflict(
            "この障害は解決済みです。依頼が必要なら先に障害を再オープンしてください".into(),
        ));
    }
    let draft = draft::build(&ctx.facts(by.actor), req, now.with_timezone(&JST))?;
    let eid: i64 = sqlx::query_scalar(
        "INSERT INTO escalations (incident_id, desk, desk_name, channel, recipient, subject, body,
             serial, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING escalation_id",
    )
    .bind(incident_id)
    .bind(draft.desk.as_str())
    .bind(&draft.desk_name)
    .bind(draft.channel)
    .bind(&draft.to)
    .bind(&draft.subject)
    .bind(&draft.body)
    .bind(&draft.serial)
    .bind(by.actor)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => Error::Conflict(format!(
            "この障害には {} への依頼が既にあります（完了・取消になっていないもの）。その依頼を使うか、取消してから作成してください",
            draft.desk_name
        )),
        _ => Error::Sqlx(e),
    })?;
    let detail = json!({
        "action": "drafted", "escalation_id": eid, "desk": draft.desk,
        "channel": draft.channel, "to": draft.to, "serial": draft.serial,
    });
    record(
        &mut tx,
        incident_id,
        by,
        "escalation.draft",
        Outcome::Ok,
        detail,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(incident = incident_id, escalation = eid, desk = %draft.desk, actor = by.actor, "escalation drafted");
    Ok((eid, draft))
}

/// Applies a patch: the mail's text while a draft, the ticket, the status (checked), the visit.
pub async fn update(
    pool: &PgPool,
    incident_id: i64,
    eid: i64,
    patch: &Patch,
    by: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if patch.is_empty() {
        return Err(Error::InvalidArgument(
            "変更する項目（status, ticket, visit_on, subject, body）を指定してください".into(),
        ));
    }
    let (mut tx, current) = lock(pool, incident_id, eid).await?;
    patch.check_fields(current.desk_id()?)?;
    let next = plan(&current, patch)?;
    let answered = current.answered_at.is_none()
        && (next.status.is_answered() || (!next.ticket.is_empty() && current.ticket.is_empty()));
    sqlx::query(
        "UPDATE escalations SET status = $2, ticket = $3, visit_on = $4, subject = $5, body = $6,
             answered_at = CASE WHEN $7 THEN $8 ELSE answered_at END, updated_at = now()
         WHERE escalation_id = $1",
    )
    .bind(eid)
    .bind(next.status)
    .bind(&next.ticket)
    .bind(next.visit_on)
    .bind(&next.subject)
    .bind(&next.body)
    .bind(answered)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let detail = json!({
        "action": "updated", "escalation_id": eid, "desk": current.desk,
        "from": current.status, "status": next.status,
        "ticket": patch.ticket.as_ref().map(|_| &next.ticket),
        "visit_on": patch.visit_on, "note": patch.note,
        "edited": patch.subject.is_some() || patch.body.is_some(),
    });
    record(
        &mut tx,
        incident_id,
        by,
        "escalation.update",
        Outcome::Ok,
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The row after a patch, or why not.
struct Next {
    status: Status,
    ticket: String,
    visit_on: Option<chrono::NaiveDate>,
    subject: String,
    body: String,
}

fn plan(current: &Current, patch: &Patch) -> Result<Next, Error> {
    let draft = current.status == Status::Draft;
    if (patch.subject.is_some() || patch.body.is_some()) && !draft {
        return Err(Error::Conflict(format!(
            "この依頼は既に「{}」です。送信・連絡済みの本文は変更できません",
            current.status.label_ja()
        )));
    }
    if patch.subject.is_some() && current.channel != Channel::Mail {
        return Err(field_error("subject", "件名はメールの依頼にだけあります"));
    }
    if patch.ticket.is_some() && draft {
        return Err(field_error(
            "ticket",
            "受付番号は依頼した後に記録します。先にメールを送信するか電話の記録をしてください",
        ));
    }
    let visit_on = patch.visit_on.or(current.visit_on);
    let mut status = current.status;
    if let Some(to) = patch.status {
        check_transition(current.status, to, visit_on.is_some())
            .map_err(|m| field_error("status", m))?;
        status = to;
    } else if patch.visit_on.is_some() && current.status != Status::VisitScheduled {
        return Err(field_error(
            "visit_on",
            "訪問日は状態を「訪問予定」にするときに指定してください",
        ));
    }
    if status.is_closed() && patch.status.is_none() {
        return Err(Error::Conflict(format!(
            "この依頼は既に「{}」です。変更できません",
            current.status.label_ja()
        )));
    }
    Ok(Next {
        status,
        ticket: patch
            .ticket
            .as_ref()
            .map(|t| t.trim().to_owned())
            .unwrap_or_else(|| current.ticket.clone()),
        visit_on: if status == Status::VisitScheduled {
            visit_on
        } else {
            current.visit_on
        },
        subject: patch
            .subject
            .clone()
            .unwrap_or_else(|| current.subject.clone()),
        body: patch.body.clone().unwrap_or_else(|| current.body.clone()),
    })
}

/// Records a call (or a submitted web form) and moves the case as its outcome says.
pub async fn record_call(
    pool: &PgPool,
    incident_id: i64,
    eid: i64,
    call: &CallInput,
    by: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let call = call.checked(now)?;
    let at = call.at.unwrap_or_else(|| now.with_timezone(&JST));
    let (mut tx, current) = lock(pool, incident_id, eid).await?;
    if current.status.is_closed() {
        return Err(Error::Conflict(format!(
            "この依頼は既に「{}」です。新しい依頼を作成してから記録してください",
            current.status.label_ja()
        )));
    }
    if current.send_started_at.is_some() {
        return Err(Error::Conflict(
            "この依頼のメール送信の結果が確認できていません。送信結果を確かめてから記録してください".into(),
        ));
    }
    sqlx::query(
        "INSERT INTO escalation_calls (escalation_id, called_at, operator, spoke_with, outcome,
             ticket, note)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(eid)
    .bind(at)
    .bind(by.actor)
    .bind(&call.spoke_with)
    .bind(call.outcome)
    .bind(&call.ticket)
    .bind(&call.note)
    .execute(&mut *tx)
    .await?;
    let moved = call.outcome.moves(current.status);
    let status = moved.unwrap_or(current.status);
    let requested = current.status == Status::Draft && moved.is_some();
    let due = if requested {
        let ctx = context::load(&mut tx, incident_id, now).await?;
        Some(answer_due(&ctx.desk_hours(current.desk_id()?), at).at)
    } else {
        None
    };
    let answered = current.answered_at.is_none()
        && (status.is_answered() || (!call.ticket.is_empty() && current.ticket.is_empty()));
    sqlx::query(
        "UPDATE escalations SET status = $2,
             ticket = CASE WHEN $3 = '' THEN ticket ELSE $3 END,
             requested_at = CASE WHEN $4 THEN $5 ELSE requested_at END,
             requested_by = CASE WHEN $4 THEN $6 ELSE requested_by END,
             due_at = COALESCE($7, due_at),
             answered_at = CASE WHEN $8 THEN $9 ELSE answered_at END,
             updated_at = now()
         WHERE escalation_id = $1",
    )
    .bind(eid)
    .bind(status)
    .bind(&call.ticket)
    .bind(requested)
    .bind(at)
    .bind(by.actor)
    .bind(due)
    .bind(answered)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let detail = json!({
        "action": "call_recorded", "escalation_id": eid, "desk": current.desk,
        "called_at": at, "spoke_with": call.spoke_with, "outcome": call.outcome,
        "ticket": call.ticket, "note": call.note, "from": current.status, "status": status,
    });
    record(
        &mut tx,
        incident_id,
        by,
        "escalation.record_call",
        Outcome::Ok,
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A mail about to go out: the claim on the row is committed first, so a server that dies
/// while sending leaves a row that says so (and is not re-sent without confirmation).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub escalation_id: i64,
    pub incident_id: i64,
    pub desk: DeskId,
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Why this case cannot be sent now, if it cannot: only a draft mail, and after an unknown
/// outcome only with `confirm_resend`.
fn check_sendable(current: &Current, confirm_resend: bool) -> Result<(), Error> {
    if current.channel != Channel::Mail {
        return Err(Error::Conflict(format!(
            "この依頼は{}です。送信ではなく、連絡した結果を記録してください",
            current.channel.label_ja()
        )));
    }
    if current.status != Status::Draft {
        return Err(Error::Conflict(format!(
            "この依頼は既に「{}」です（二重に送信しないため、送信できるのは下書きだけです）",
            current.status.label_ja()
        )));
    }
    if let (Some(at), false) = (current.send_started_at, confirm_resend) {
        return Err(Error::Conflict(format!(
            "{} に {} がこのメールの送信を始めましたが、結果が記録されていません。宛先に届いていないことを確認してから、再送の確認を付けて送信してください",
            crate::portal::filters::jst_text(Some(at)),
            current.send_started_by.as_deref().unwrap_or("不明")
        )));
    }
    Ok(())
}

/// [`check_sendable`] without taking any lock: answers "not a mail" before "mail is not
/// configured".
pub async fn precheck_send(
    pool: &PgPool,
    incident_id: i64,
    eid: i64,
    confirm_resend: bool,
) -> Result<(), Error> {
    let current: Current = sqlx::query_as(&format!(
        "{CURRENT} WHERE escalation_id = $1 AND incident_id = $2"
    ))
    .bind(eid)
    .bind(incident_id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("障害 {incident_id} のエスカレーション {eid}")))?;
    check_sendable(&current, confirm_resend)
}

/// Claims a draft mail for sending. `confirm_resend` is needed when an earlier send of the
/// same draft ended without a recorded outcome.
pub async fn begin_send(
    pool: &PgPool,
    incident_id: i64,
    eid: i64,
    confirm_resend: bool,
    by: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<Outgoing, Error> {
    let (mut tx, current) = lock(pool, incident_id, eid).await?;
    check_sendable(&current, confirm_resend)?;
    let desk = current.desk_id()?;
    let mut errors = FieldErrors::default();
    input::check_subject(desk, &current.subject, &mut errors);
    input::check_body(&current.body, &mut errors);
    errors.into_result()?;
    sqlx::query(
        "UPDATE escalations SET send_started_at = $2, send_started_by = $3, updated_at = now()
         WHERE escalation_id = $1",
    )
    .bind(eid)
    .bind(now)
    .bind(by.actor)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Entry::new(
            by.actor,
            "escalation.send_started",
            format!("incident:{incident_id}"),
        )
        .remote(by.remote)
        .detail(json!({ "escalation_id": eid, "to": current.recipient, "resend": confirm_resend })),
    )
    .await?;
    tx.commit().await?;
    Ok(Outgoing {
        escalation_id: eid,
        incident_id,
        desk,
        to: current.recipient,
        subject: current.subject,
        body: current.body,
    })
}

/// How a send ended.
#[derive(Debug, Clone)]
pub enum SendResult {
    /// The SMTP server accepted the mail (`reply`: what it said).
    Sent {
        message_id: Option<String>,
        reply: String,
    },
    /// It was refused, or never reached the server: nothing went out.
    Failed { error: String },
    /// The line went quiet or broke mid-way: the server may have the mail. The claim stays,
    /// so the draft is not sent again without confirmation.
    Unknown { error: String },
}

/// Records the outcome of [`begin_send`]: 依頼済 with its due time, or the failure.
pub async fn finish_send(
    pool: &PgPool,
    out: &Outgoing,
    result: &SendResult,
    by: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let (mut tx, current) = lock(pool, out.incident_id, out.escalation_id).await?;
    match result {
        SendResult::Sent { message_id, reply } => {
            let ctx: Context = context::load(&mut tx, out.incident_id, now).await?;
            let due = answer_due(&ctx.desk_hours(out.desk), now.with_timezone(&JST));
            sqlx::query(
                "UPDATE escalations SET status = 'requested', requested_at = $2, requested_by = $3,
                     due_at = $4, message_id = $5, send_started_at = NULL, send_started_by = NULL,
                     updated_at = now()
                 WHERE escalation_id = $1",
            )
            .bind(out.escalation_id)
            .bind(now)
            .bind(by.actor)
            .bind(due.at)
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
            let detail = json!({
                "action": "sent", "escalation_id": out.escalation_id, "desk": current.desk,
                "to": out.to, "subject": out.subject, "due_at": due.at,
                "message_id": message_id, "reply": reply,
            });
            record(
                &mut tx,
                out.incident_id,
                by,
                "escalation.send",
                Outcome::Ok,
                detail,
            )
            .await?;
        }
        SendResult::Failed { error } => {
            sqlx::query(
                "UPDATE escalations SET send_started_at = NULL, send_started_by = NULL,
                     updated_at = now() WHERE escalation_id = $1",
            )
            .bind(out.escalation_id)
            .execute(&mut *tx)
            .await?;
            let detail = json!({
                "action": "send_failed", "escalation_id": out.escalation_id,
                "desk": current.desk, "to": out.to, "error": error,
            });
            record(
                &mut tx,
                out.incident_id,
                by,
                "escalation.send",
                Outcome::Failed,
                detail,
            )
            .await?;
        }
        SendResult::Unknown { error } => {
            let detail = json!({
                "action": "send_unknown", "escalation_id": out.escalation_id,
                "desk": current.desk, "to": out.to, "error": error,
            });
            record(
                &mut tx,
                out.incident_id,
                by,
                "escalation.send",
                Outcome::Failed,
                detail,
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Raises the reminder `key` on a case once: timeline row, audit row, and the key stored so
/// the next pass (on any replica) does not raise it again. False when already raised.
pub async fn raise_reminder(
    conn: &mut PgConnection,
    incident_id: i64,
    eid: i64,
    key: &str,
    message: &str,
) -> Result<bool, Error> {
    let changed = sqlx::query(
        "UPDATE escalations SET reminder_key = $2
         WHERE escalation_id = $1 AND reminder_key IS DISTINCT FROM $2",
    )
    .bind(eid)
    .bind(key)
    .execute(&mut *conn)
    .await?;
    if changed.rows_affected() == 0 {
        return Ok(false);
    }
    let by = Actor {
        actor: incident_store::SYSTEM,
        remote: "",
    };
    let detail = json!({
        "action": "reminder", "escalation_id": eid, "reminder": key, "message": message,
    });
    record(
        conn,
        incident_id,
        by,
        "escalation.reminder",
        Outcome::Ok,
        detail,
    )
    .await?;
    Ok(true)
}
