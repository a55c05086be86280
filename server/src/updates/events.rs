//! What agents say became of updates: the only writer of
//! `agent_update_events`. Each event is checked like a report (no NUL, sizes
//! bounded, a known kind); a resend (same agent and event id) is stored once.

use chrono::{DateTime, Duration, Utc};
use onshi_proto::v1 as pb;
use sqlx::PgPool;

use super::model::UpdateEventKind;
use crate::error::Error;

pub const MAX_EVENTS: usize = 64;
const MAX_VERSION: usize = 64;
const MAX_REASON: usize = 500;

/// A checked event, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_id: i64,
    pub kind: UpdateEventKind,
    pub version: String,
    pub from_version: String,
    pub reason: String,
    pub at: DateTime<Utc>,
    pub rollout_id: i64,
}

/// Checks a request's events; the error names the event and field.
pub fn validate(events: &[pb::UpdateEvent], now: DateTime<Utc>) -> Result<Vec<Event>, Error> {
    if events.len() > MAX_EVENTS {
        return Err(Error::InvalidArgument(format!(
            "{} update events in one call, at most {MAX_EVENTS}",
            events.len()
        )));
    }
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let bad = |what: String| Error::InvalidArgument(format!("update event {i}: {what}"));
            let kind = UpdateEventKind::from_wire(e.kind)
                .ok_or_else(|| bad(format!("kind {} is not a known update event", e.kind)))?;
            for (field, value, max) in [
                ("version", &e.version, MAX_VERSION),
                ("from_version", &e.from_version, MAX_VERSION),
                ("reason", &e.reason, MAX_REASON),
            ] {
                if value.len() > max || value.contains('\0') {
                    return Err(bad(format!(
                        "{field} must be at most {max} bytes without NUL"
                    )));
                }
            }
            if e.version.is_empty() {
                return Err(bad("version is empty".into()));
            }
            let at =
                e.at.as_ref()
                    .and_then(|t| {
                        DateTime::from_timestamp(t.seconds, t.nanos.clamp(0, 999_999_999) as u32)
                    })
                    .ok_or_else(|| bad("at is missing or out of range".into()))?;
            if at > now + Duration::days(1) {
                return Err(bad(
                    "at is more than a day in the future; check the PC's clock".into(),
                ));
            }
            Ok(Event {
                event_id: e.event_id as i64,
                kind,
                version: e.version.clone(),
                from_version: e.from_version.clone(),
                reason: e.reason.clone(),
                at,
                rollout_id: i64::try_from(e.rollout_id).unwrap_or(0),
            })
        })
        .collect()
}

/// Stores the events of one agent; returns how many were new.
pub async fn store(pool: &PgPool, agent_id: &str, events: &[Event]) -> Result<u32, Error> {
    if events.is_empty() {
        return Ok(0);
    }
    let col = |f: fn(&Event) -> String| events.iter().map(f).collect::<Vec<_>>();
    let stored: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO agent_update_events (agent_id, event_id, kind, version, from_version, reason, occurred_at, rollout_id)
         SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::bigint[])
         ON CONFLICT (agent_id, event_id) DO NOTHING
         RETURNING event_id",
    )
    .bind(agent_id)
    .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
    .bind(col(|e| e.kind.as_str().to_owned()))
    .bind(col(|e| e.version.clone()))
    .bind(col(|e| e.from_version.clone()))
    .bind(col(|e| e.reason.clone()))
    .bind(events.iter().map(|e| e.at).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.rollout_id).collect::<Vec<_>>())
    .fetch_all(pool)
    .await?;
    for e in events.iter().filter(|e| stored.contains(&e.event_id)) {
        if e.kind.is_problem() {
            tracing::warn!(agent_id, kind = ?e.kind, version = %e.version, reason = %e.reason, "agent update problem");
        } else {
            tracing::info!(agent_id, kind = ?e.kind, version = %e.version, "agent update progress");
        }
    }
    Ok(stored.len() as u32)
}

/// One row for the admin page.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct EventRow {
    pub agent_id: String,
    pub site_id: String,
    pub kind: UpdateEventKind,
    pub version: String,
    pub from_version: String,
    pub reason: String,
    pub occurred_at: DateTime<Utc>,
}

/// The newest events a rollout's agents sent.
pub async fn of_rollout(
    pool: &PgPool,
    rollout_id: i64,
    limit: i64,
) -> Result<Vec<EventRow>, Error> {
    Ok(sqlx::query_as(
        "SELECT e.agent_id, a.site_id, e.kind, e.version, e.from_version, e.reason, e.occurred_at
         FROM agent_update_events e JOIN agents a USING (agent_id)
         WHERE e.rollout_id = $1 ORDER BY e.occurred_at DESC LIMIT $2",
    )
    .bind(rollout_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Agents per outcome in a rollout (distinct agents).
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow, serde::Serialize)]
pub struct Outcomes {
    pub staged: i64,
    pub applied: i64,
    pub refused: i64,
    pub rolled_back: i64,
}

pub async fn outcomes(pool: &PgPool, rollout_id: i64) -> Result<Outcomes, Error> {
    Ok(sqlx::query_as(
        "SELECT count(DISTINCT agent_id) FILTER (WHERE kind = 'staged') AS staged,
                count(DISTINCT agent_id) FILTER (WHERE kind = 'applied') AS applied,
                count(DISTINCT agent_id) FILTER (WHERE kind = 'refused') AS refused,
                count(DISTINCT agent_id) FILTER (WHERE kind = 'rolled_back') AS rolled_back
         FROM agent_update_events WHERE rollout_id = $1",
    )
    .bind(rollout_id)
    .fetch_one(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: i32) -> pb::UpdateEvent {
        pb::UpdateEvent {
            event_id: u64::MAX,
            kind,
            version: "0.2.0".into(),
            from_version: "0.1.0".into(),
            reason: "exited with code 3 before delivering a report".into(),
            at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            rollout_id: 7,
        }
    }

    #[test]
    fn events_are_checked_and_named_when_bad() {
        let now = Utc::now();
        let ok = validate(&[event(4)], now).unwrap();
        assert_eq!(ok[0].kind, UpdateEventKind::RolledBack);
        assert_eq!(ok[0].event_id, -1, "u64 ids keep their bits");
        assert_eq!(ok[0].rollout_id, 7);
        let msg = |e: pb::UpdateEvent| validate(&[event(1), e], now).unwrap_err().to_string();
        assert!(msg(event(0)).starts_with("update event 1: kind 0"));
        assert!(msg(event(42)).contains("kind 42"));
        let mut nul = event(1);
        nul.reason = "a\0b".into();
        assert!(msg(nul).contains("reason"));
        let mut long = event(1);
        long.version = "9".repeat(65);
        assert!(msg(long).contains("version must be at most 64"));
        let mut empty = event(1);
        empty.version.clear();
        assert!(msg(empty).contains("version is empty"));
        let mut future = event(1);
        future.at = Some(prost_types::Timestamp {
            seconds: now.timestamp() + 3 * 86_400,
            nanos: 0,
        });
        assert!(msg(future).contains("clock"));
        let mut missing = event(1);
        missing.at = None;
        assert!(msg(missing).contains("at is missing"));
        let many: Vec<_> = (0..65).map(|_| event(1)).collect();
        assert!(
            validate(&many, now)
                .unwrap_err()
                .to_string()
                .contains("at most 64")
        );
    }
}
