//! Reading the delivery history (admin page, CLI) and an admin's retry of failed messages —
//! the only writes to `notify_deliveries` outside the router and the sender, audited.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Uuid;
use sqlx::{PgConnection, PgPool};

use super::model::{DeliveryState, MessageKind};
use crate::auth::audit::{self, Entry};
use crate::error::Error;
use crate::sites::Actor;

/// Most rows one listing returns.
pub const MAX_LIST: i64 = 500;

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Delivery {
    pub delivery_id: i64,
    pub channel_name: String,
    pub kind: MessageKind,
    pub state: DeliveryState,
    pub idempotency_key: Uuid,
    pub subject: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub retried_by: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Incidents the message is about.
    pub incidents: i64,
}

impl Delivery {
    pub fn retryable(&self) -> bool {
        self.state.retryable()
    }
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub state: Option<DeliveryState>,
    pub channel: Option<String>,
    pub limit: Option<i64>,
}

/// Newest first.
pub async fn list(conn: &mut PgConnection, filter: &Filter) -> Result<Vec<Delivery>, Error> {
    Ok(sqlx::query_as(
        "SELECT d.delivery_id, d.channel_name, d.kind, d.state, d.idempotency_key, d.subject,
                d.attempts, d.max_attempts, d.next_attempt_at, d.last_attempt_at, d.last_error,
                d.sent_at, d.retried_by, d.created_at,
                (SELECT count(*) FROM notify_delivery_incidents m WHERE m.delivery_id = d.delivery_id) AS incidents
         FROM notify_deliveries d
         WHERE ($1::text IS NULL OR d.state = $1) AND ($2::text IS NULL OR d.channel_name = $2)
         ORDER BY d.delivery_id DESC LIMIT $3",
    )
    .bind(filter.state)
    .bind(&filter.channel)
    .bind(filter.limit.unwrap_or(100).clamp(1, MAX_LIST))
    .fetch_all(conn)
    .await?)
}

/// Counts per state and the age of the oldest undelivered message (for /metrics and pages).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Backlog {
    pub waiting: i64,
    pub dead: i64,
    pub oldest_age_seconds: f64,
}

pub async fn backlog(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<Backlog, Error> {
    let (waiting, dead, oldest): (i64, i64, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE state IN ('pending', 'sending', 'retrying')),
                count(*) FILTER (WHERE state = 'dead'),
                min(created_at) FILTER (WHERE state IN ('pending', 'sending', 'retrying'))
         FROM notify_deliveries WHERE state <> 'sent'",
    )
    .fetch_one(conn)
    .await?;
    Ok(Backlog {
        waiting,
        dead,
        oldest_age_seconds: oldest
            .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
            .unwrap_or(0.0),
    })
}

/// Which failed messages to send again.
#[derive(Debug, Clone)]
pub enum RetryTarget {
    One(i64),
    /// Every dead-lettered message of the channel.
    DeadOf(String),
}

/// Sends failed (retrying or dead) messages again now, with a fresh count of tries and the
/// same idempotency key; a message already sent is refused, so nothing is sent twice by hand.
/// Audited. Returns how many were queued.
pub async fn retry(
    pool: &PgPool,
    target: &RetryTarget,
    by: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    let mut tx = pool.begin().await?;
    let (sql_filter, audit_target) = match target {
        RetryTarget::One(id) => ("delivery_id = $1", format!("delivery:{id}")),
        RetryTarget::DeadOf(name) => (
            "channel_name = $2 AND state = 'dead'",
            format!("channel:{name}"),
        ),
    };
    if let RetryTarget::One(id) = target {
        let state: Option<DeliveryState> = sqlx::query_scalar(
            "SELECT state FROM notify_deliveries WHERE delivery_id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        match state {
            None => {
                return Err(Error::NotFound(format!(
                    "通知 {id}（channel deliveries で確認してください）"
                )));
            }
            Some(s) if !s.retryable() => {
                return Err(Error::Conflict(format!(
                    "通知 {id} は「{}」のため再送できません（再送できるのは失敗したものだけです）",
                    s.label_ja()
                )));
            }
            Some(_) => {}
        }
    }
    let (id, name) = match target {
        RetryTarget::One(id) => (*id, String::new()),
        RetryTarget::DeadOf(name) => (0, name.clone()),
    };
    let n = sqlx::query(&format!(
        "UPDATE notify_deliveries SET state = 'retrying', attempts = 0, next_attempt_at = $3,
             retried_by = $4, retried_at = $3, updated_at = now()
         WHERE {sql_filter} AND state IN ('retrying', 'dead') AND channel_id IS NOT NULL"
    ))
    .bind(id)
    .bind(&name)
    .bind(now)
    .bind(by.actor)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 && matches!(target, RetryTarget::One(_)) {
        return Err(Error::Conflict(
            "チャネルが削除されているため再送できません。チャネルを登録し直してください".into(),
        ));
    }
    audit::record(
        &mut tx,
        Entry::new(by.actor, "notify.retry", audit_target)
            .remote(by.remote)
            .detail(serde_json::json!({ "messages": n })),
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}
