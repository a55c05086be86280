//! Notifications to operators (issue 12): tell the right people once.
//!
//! An incident change owes a notification in its own transaction (`outbox`, called by
//! `incidents::store`); the router decides who hears it — routes, channel minimums, silences,
//! flapping — and groups what opens within a channel's window into one message (`router`,
//! `route`, `message`); senders deliver each message over a signed webhook or SMTP
//! (`deliver`, `webhook`, `crate::mail`), retrying with backoff and dead-lettering at the end.
//! Admins manage channels and routes (`channel`, `route`, `cli`, the admin pages) and retry
//! failed deliveries (`deliveries`). Guarantees and formats: docs/notifications.md.

pub mod channel;
pub mod cli;
pub mod deliver;
pub mod deliveries;
pub mod engine;
pub mod message;
pub mod metrics;
pub mod model;
pub mod outbox;
pub mod route;
pub mod router;
pub mod webhook;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::types::Uuid;

pub use model::{ChannelKind, DeliveryState, MessageKind};
pub use outbox::{SystemEvent, enqueue_event};

use crate::auth::audit::{self, Entry, Outcome};
use crate::error::Error;
use crate::sites::Actor;

/// What a test send did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    pub delivery_id: i64,
    /// The server's answer, or why it failed (Japanese).
    pub outcome: Result<String, String>,
}

/// Sends a test message to the channel `name` now (not through the outbox, so the admin sees
/// the answer at once) and records it in the delivery history and the audit log.
pub async fn test_channel(
    pool: &PgPool,
    name: &str,
    by: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<TestResult, Error> {
    let channel = channel::get(&mut *pool.acquire().await?, name).await?;
    let client = webhook::client().map_err(|e| Error::Other(e.into()))?;
    let out = deliver::Outgoing {
        key: Uuid::new_v4(),
        kind: MessageKind::Test,
        rendered: message::render_test(name, by.actor, now),
    };
    let result = deliver::send(&client, &channel, &out, now).await;
    let (state, error) = match &result {
        Ok(_) => (DeliveryState::Sent, None),
        Err(f) => (DeliveryState::Dead, Some(f.message.clone())),
    };
    let mut tx = pool.begin().await?;
    let delivery_id: i64 = sqlx::query_scalar(
        "INSERT INTO notify_deliveries (channel_id, channel_name, kind, state, idempotency_key, subject, body,
             payload, attempts, max_attempts, next_attempt_at, last_attempt_at, last_error, sent_at, created_at)
         VALUES ($1, $2, 'test', $3, $4, $5, $6, $7, 1, 1, $8, $8, $9, CASE WHEN $3 = 'sent' THEN $8 END, $8)
         RETURNING delivery_id",
    )
    .bind(channel.id)
    .bind(&channel.name)
    .bind(state)
    .bind(out.key)
    .bind(&out.rendered.subject)
    .bind(&out.rendered.body)
    .bind(&out.rendered.payload)
    .bind(now)
    .bind(&error)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Entry::new(by.actor, "notify.channel_test", format!("channel:{name}"))
            .remote(by.remote)
            .outcome(if result.is_ok() {
                Outcome::Ok
            } else {
                Outcome::Failed
            })
            .detail(serde_json::json!({ "delivery_id": delivery_id, "error": error })),
    )
    .await?;
    tx.commit().await?;
    Ok(TestResult {
        delivery_id,
        outcome: result.map_err(|f| f.message),
    })
}
