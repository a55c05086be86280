//! The sender: takes one due message at a time and delivers it to its channel.
//!
//! Claim: one row `FOR UPDATE SKIP LOCKED` (two replicas never take the same one), marked
//! `sending` with a lease and committed, so no database connection is held while the webhook
//! or SMTP server thinks. Then the result is written — `sent`, `retrying` with the next try
//! after an exponential backoff with jitter, or `dead` after `max_attempts` tries (or at once
//! for a failure that cannot heal) — only if the claim is still ours. A sender killed mid-send
//! leaves the lease to run out; the message is then sent once more, with the same idempotency
//! key. Sent at least once, at most twice after a crash, and never by two replicas at once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use sqlx::PgPool;
use sqlx::types::Uuid;

use super::channel::{self, Channel};
use super::message::Rendered;
use super::metrics::NotifyMetrics;
use super::model::{ChannelKind, DeliveryState, MessageKind};
use super::webhook;
use crate::error::Error;
use crate::mail::{Mail, Smtp};

/// Why a try failed, in Japanese for the deliveries page; `permanent` when trying again
/// cannot help until someone fixes something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub permanent: bool,
}

/// Retry timing, from the command line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Wait after the first failed try; doubled after each further one.
    pub base: Duration,
    /// Longest wait between two tries.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(30),
            max: Duration::from_secs(3600),
        }
    }
}

/// Wait before the next try after `failed` failed tries (1 = the first failed): `base ×
/// 2^(failed−1)`, capped at `max`, then spread by ±20 % (`jitter` in [0, 1)) so that many
/// messages failing together do not retry together.
pub fn backoff(policy: &RetryPolicy, failed: u32, jitter: f64) -> Duration {
    let exp = 2f64.powi(failed.saturating_sub(1).min(30) as i32);
    let wait = (policy.base.as_secs_f64() * exp).min(policy.max.as_secs_f64());
    Duration::from_secs_f64(wait * (0.8 + 0.4 * jitter.clamp(0.0, 1.0)))
}

/// How long a claim lasts: longer than any try can take (the SMTP exchange is bounded at
/// three times the channel timeout), so only a dead sender's claim runs out.
pub fn lease(timeout_seconds: i32) -> chrono::Duration {
    chrono::Duration::seconds(i64::from(timeout_seconds.max(1)) * 4 + 5)
}

/// A message as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub key: Uuid,
    pub kind: MessageKind,
    pub rendered: Rendered,
}

/// The webhook's JSON body: the message's payload with its id, kind, subject and text. The
/// same message always gives the same bytes.
pub fn webhook_body(channel: &str, out: &Outgoing) -> Vec<u8> {
    let mut doc = serde_json::json!({
        "id": out.key.to_string(),
        "channel": channel,
        "kind": out.kind,
        "subject": out.rendered.subject,
        "text": out.rendered.body,
    });
    if let (Some(doc), Some(payload)) = (doc.as_object_mut(), out.rendered.payload.as_object()) {
        for (k, v) in payload {
            doc.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// Sends one message over the channel's transport.
pub async fn send(
    client: &reqwest::Client,
    channel: &Channel,
    out: &Outgoing,
    now: DateTime<Utc>,
) -> Result<String, Failure> {
    let timeout = Duration::from_secs(channel.timeout_seconds.max(1) as u64);
    match channel.kind {
        ChannelKind::Webhook => {
            let (Some(url), Some(secret)) = (&channel.url, &channel.secret) else {
                return Err(misconfigured(channel));
            };
            let key = out.key.to_string();
            let body = webhook_body(&channel.name, out);
            webhook::post(client, url, secret, &key, body, now.timestamp(), timeout).await
        }
        ChannelKind::Smtp => {
            let (Some(url), Some(from), Some(to)) =
                (&channel.smtp_url, &channel.mail_from, &channel.mail_to)
            else {
                return Err(misconfigured(channel));
            };
            let smtp_url = url.parse().map_err(|e: crate::mail::MailError| Failure {
                message: e.to_string(),
                permanent: true,
            })?;
            let mail = Mail {
                from: from.clone(),
                to: to.clone(),
                subject: out.rendered.subject.clone(),
                body: out.rendered.body.clone(),
                // The same Message-ID on every try: a second copy after a crash is recognisable.
                message_id: Some(format!("{}@onshi-fleet", out.key)),
            };
            Smtp::new(smtp_url)
                .with_timeout(timeout)
                .send(&mail)
                .await
                .map(|sent| sent.reply)
                .map_err(|e| Failure {
                    permanent: e.is_permanent(),
                    message: e.to_string(),
                })
        }
    }
}

fn misconfigured(channel: &Channel) -> Failure {
    Failure {
        message: format!(
            "チャネル「{}」の設定が不完全です。削除して登録し直してください",
            channel.name
        ),
        permanent: true,
    }
}

#[derive(sqlx::FromRow)]
struct Claimed {
    delivery_id: i64,
    channel_id: Option<i64>,
    channel_name: String,
    kind: MessageKind,
    idempotency_key: Uuid,
    subject: String,
    body: String,
    payload: sqlx::types::Json<serde_json::Value>,
    attempts: i32,
    max_attempts: i32,
}

/// What one pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pass {
    Idle,
    Delivered {
        delivery_id: i64,
        state: DeliveryState,
    },
}

/// Claims one due message (or one whose sender died), sends it and records the outcome.
pub async fn deliver_once(
    pool: &PgPool,
    client: &reqwest::Client,
    policy: &RetryPolicy,
    metrics: &NotifyMetrics,
    now: DateTime<Utc>,
) -> Result<Pass, Error> {
    let Some((claimed, channel)) = claim(pool, now).await? else {
        return Ok(Pass::Idle);
    };
    let result = match &channel {
        None => Err(Failure {
            message: "チャネルが削除されたため送信しませんでした".into(),
            permanent: true,
        }),
        Some(c) => {
            let out = Outgoing {
                key: claimed.idempotency_key,
                kind: claimed.kind,
                rendered: Rendered {
                    subject: claimed.subject.clone(),
                    body: claimed.body.clone(),
                    payload: claimed.payload.0.clone(),
                },
            };
            send(client, c, &out, now).await
        }
    };
    let state = record(pool, &claimed, &result, policy, Utc::now()).await?;
    let name = claimed.channel_name.as_str();
    match (&result, state) {
        (Ok(reply), _) => {
            metrics.sent(name);
            tracing::info!(delivery = claimed.delivery_id, channel = name, reply = %reply, "notification sent");
        }
        (Err(f), DeliveryState::Dead) => {
            metrics.failed(name);
            metrics.dead_lettered(name);
            tracing::warn!(delivery = claimed.delivery_id, channel = name, attempts = claimed.attempts, error = %f.message, "notification dead-lettered");
        }
        (Err(f), _) => {
            metrics.failed(name);
            tracing::warn!(delivery = claimed.delivery_id, channel = name, attempts = claimed.attempts, error = %f.message, "notification failed; will retry");
        }
    }
    Ok(Pass::Delivered {
        delivery_id: claimed.delivery_id,
        state,
    })
}

async fn claim(
    pool: &PgPool,
    now: DateTime<Utc>,
) -> Result<Option<(Claimed, Option<Channel>)>, Error> {
    let mut tx = pool.begin().await?;
    // A message whose sender died (lease ran out) first, then the due ones, oldest first.
    let mut row: Option<Claimed> = None;
    for due in [
        "state = 'sending' AND lease_until < $1",
        "state IN ('pending', 'retrying') AND next_attempt_at <= $1",
    ] {
        row = sqlx::query_as(&format!(
            "SELECT delivery_id, channel_id, channel_name, kind, idempotency_key, subject, body, payload,
                    attempts, max_attempts
             FROM notify_deliveries WHERE {due}
             ORDER BY next_attempt_at, delivery_id LIMIT 1 FOR UPDATE SKIP LOCKED"
        ))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if row.is_some() {
            break;
        }
    }
    let Some(mut claimed) = row else {
        return Ok(None);
    };
    let channel = match claimed.channel_id {
        Some(id) => channel::get_by_id(&mut tx, id).await?,
        None => None,
    };
    let timeout = channel.as_ref().map_or(10, |c| c.timeout_seconds);
    claimed.attempts += 1;
    sqlx::query(
        "UPDATE notify_deliveries SET state = 'sending', attempts = $2, lease_until = $3,
             last_attempt_at = $4, updated_at = now()
         WHERE delivery_id = $1",
    )
    .bind(claimed.delivery_id)
    .bind(claimed.attempts)
    .bind(now + lease(timeout))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some((claimed, channel)))
}

/// Writes the outcome if the claim is still ours (same attempt number, still `sending`).
async fn record(
    pool: &PgPool,
    claimed: &Claimed,
    result: &Result<String, Failure>,
    policy: &RetryPolicy,
    now: DateTime<Utc>,
) -> Result<DeliveryState, Error> {
    let (state, next, error) = match result {
        Ok(_) => (DeliveryState::Sent, now, None),
        Err(f) if f.permanent || claimed.attempts >= claimed.max_attempts => {
            (DeliveryState::Dead, now, Some(f.message.clone()))
        }
        Err(f) => {
            let wait = backoff(policy, claimed.attempts as u32, rand::rng().random::<f64>());
            let next = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
            (DeliveryState::Retrying, next, Some(f.message.clone()))
        }
    };
    let done = sqlx::query(
        "UPDATE notify_deliveries SET state = $2, next_attempt_at = $3,
             last_error = COALESCE($4, last_error), lease_until = NULL,
             sent_at = CASE WHEN $2 = 'sent' THEN $5 ELSE sent_at END, updated_at = now()
         WHERE delivery_id = $1 AND state = 'sending' AND attempts = $6",
    )
    .bind(claimed.delivery_id)
    .bind(state)
    .bind(next)
    .bind(error)
    .bind(now)
    .bind(claimed.attempts)
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        // Our lease ran out and another sender took the message: its outcome counts.
        tracing::warn!(
            delivery = claimed.delivery_id,
            "notification outcome not recorded: the claim had expired"
        );
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_spreads() {
        let p = RetryPolicy {
            base: Duration::from_secs(30),
            max: Duration::from_secs(3600),
        };
        assert_eq!(backoff(&p, 1, 0.5), Duration::from_secs(30));
        assert_eq!(backoff(&p, 2, 0.5), Duration::from_secs(60));
        assert_eq!(backoff(&p, 4, 0.5), Duration::from_secs(240));
        assert_eq!(backoff(&p, 20, 0.5), Duration::from_secs(3600));
        assert_eq!(backoff(&p, 1, 0.0), Duration::from_secs(24));
        assert_eq!(backoff(&p, 1, 1.0), Duration::from_secs(36));
        assert_eq!(backoff(&p, u32::MAX, 0.5), Duration::from_secs(3600));
        assert_eq!(backoff(&p, 0, 0.5), Duration::from_secs(30));
    }

    #[test]
    fn the_lease_outlasts_any_try() {
        // SMTP bounds a whole exchange at 3 × the timeout.
        assert!(lease(10) > chrono::Duration::seconds(30));
        assert!(lease(0) > chrono::Duration::zero());
    }

    #[test]
    fn the_webhook_body_is_stable_and_complete() {
        let out = Outgoing {
            key: Uuid::nil(),
            kind: MessageKind::Opened,
            rendered: Rendered {
                subject: "【異常】8:31 — 30 サイトでカードリーダー電源断".into(),
                body: "本文".into(),
                payload: serde_json::json!({"incident_count": 30, "kind": "ignored"}),
            },
        };
        let a = webhook_body("ops", &out);
        assert_eq!(a, webhook_body("ops", &out));
        let doc: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(doc["id"], Uuid::nil().to_string());
        assert_eq!(doc["kind"], "opened");
        assert_eq!(doc["channel"], "ops");
        assert_eq!(doc["incident_count"], 30);
        assert_eq!(doc["text"], "本文");
    }
}
