//! The only code that writes `escalations` and `escalation_calls`. Every step — draft, edit,
//! send, call, ticket, status, reminder — commits with its incident timeline row (kind
//! `escalation`) and its audit row in one transaction, under the site's incident lock.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::context;
use super::draft::{self, Draft, Request};
use super::due::answer_due;
use super::input::{CallInput, Patch};
use super::model::{Channel, Status, check_transition, desk_from_str, field_error};
use crate::auth::audit::{self, Entry, Outcome};
use crate::desk::{DeskId, JST};
use crate::error::Error;
use crate::incidents::lifecycle::State;
use crate::incidents::store as incident_store;
use crate::sites::Actor;

mod sending;
pub use sending::{Outgoing, SendResult, begin_send, finish_send, precheck_send};

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
    let status = insert_call(&mut tx, &current, &call, at, by.actor, now).await?;
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

/// Stores the call and moves the case as its outcome says (a draft becomes 依頼済 with its due
/// time); returns the status after it.
async fn insert_call(
    conn: &mut PgConnection,
    current: &Current,
    call: &CallInput,
    at: DateTime<chrono::FixedOffset>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Status, Error> {
    let eid = current.escalation_id;
    sqlx::query(
        "INSERT INTO escalation_calls (escalation_id, called_at, operator, spoke_with, outcome,
             ticket, note)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(eid)
    .bind(at)
    .bind(actor)
    .bind(&call.spoke_with)
    .bind(call.outcome)
    .bind(&call.ticket)
    .bind(&call.note)
    .execute(&mut *conn)
    .await?;
    let moved = call.outcome.moves(current.status);
    let status = moved.unwrap_or(current.status);
    let requested = current.status == Status::Draft && moved.is_some();
    let due = if requested {
        let ctx = context::load(conn, current.incident_id, now).await?;
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
    .bind(actor)
    .bind(due)
    .bind(answered)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(status)
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
