//! Sending, as the store sees it: the claim on a draft mail (committed before any SMTP
//! traffic), and the outcome — 依頼済 with its due time, a refusal (claim released) or an
//! unknown outcome (claim kept, a resend needs confirmation).

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;

use super::{CURRENT, Current, lock, record};
use crate::auth::audit::{self, Entry, Outcome};
use crate::desk::{DeskId, JST};
use crate::error::{Error, FieldErrors};
use crate::escalation::context::{self, Context};
use crate::escalation::due::answer_due;
use crate::escalation::input;
use crate::escalation::model::{Channel, Status};
use crate::sites::Actor;

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
    let base = json!({
        "escalation_id": out.escalation_id, "desk": current.desk, "to": out.to,
    });
    let with = |mut detail: serde_json::Value, extra: serde_json::Value| {
        if let (Some(d), Some(e)) = (detail.as_object_mut(), extra.as_object()) {
            d.extend(e.clone());
        }
        detail
    };
    let (outcome, detail) = match result {
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
            let extra = json!({
                "action": "sent", "subject": out.subject, "due_at": due.at,
                "message_id": message_id, "reply": reply,
            });
            (Outcome::Ok, with(base, extra))
        }
        SendResult::Failed { error } => {
            sqlx::query(
                "UPDATE escalations SET send_started_at = NULL, send_started_by = NULL,
                     updated_at = now() WHERE escalation_id = $1",
            )
            .bind(out.escalation_id)
            .execute(&mut *tx)
            .await?;
            let extra = json!({ "action": "send_failed", "error": error });
            (Outcome::Failed, with(base, extra))
        }
        // The claim stays: the page and the API show the send as of unknown outcome.
        SendResult::Unknown { error } => {
            let extra = json!({ "action": "send_unknown", "error": error });
            (Outcome::Failed, with(base, extra))
        }
    };
    record(
        &mut tx,
        out.incident_id,
        by,
        "escalation.send",
        outcome,
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
