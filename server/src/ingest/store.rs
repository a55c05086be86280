//! Committing a batch of reports: the one place where "acknowledge only after
//! commit" and "a replayed (agent_id, seq) is not stored twice" are enforced.
//!
//! One transaction per batch:
//! 1. lock the agent's row (`FOR UPDATE`): batches of one agent serialise;
//!    `abandoned_through` is bounded by the highest seq ever received;
//! 2. seqs at or below `acked_seq` are replays; the rest are claimed in
//!    `agent_pending_seqs` (`ON CONFLICT DO NOTHING` tells replays apart),
//!    also those this batch abandons (they arrived, so they are stored);
//! 3. new reports go to `report_history` in one multi-row insert and the
//!    newest one to `site_state`;
//! 4. `acked_seq` advances over the contiguous run of committed seqs.
//!
//! The caller answers the agent only after `commit` returns Ok. Live
//! traffic reaches `apply_batch` through `writer`, which commits many
//! agents' batches in one transaction; `commit_batch` is the one-batch
//! transaction (the writer's fallback).

use chrono::{DateTime, Utc};
use onshi_proto::v1 as pb;
use sqlx::PgPool;

use super::prepare::{HistoryRow, PreparedBatch, StateRow};
use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitOutcome {
    pub acked_seq: u64,
    pub stored: u32,
    pub duplicates: u32,
}

/// Stores a validated batch in a transaction of its own (tests and tools; the
/// server's handlers prepare in the handler and go through `writer`).
pub async fn commit_batch(
    pool: &PgPool,
    agent_id: &str,
    reports: &[pb::Report],
    abandoned_through: u64,
    now: DateTime<Utc>,
) -> Result<CommitOutcome, Error> {
    let batch = super::prepare::batch(agent_id.to_owned(), reports, abandoned_through, now)?;
    commit_prepared(pool, &batch).await
}

/// Stores a prepared batch in a transaction of its own.
pub async fn commit_prepared(pool: &PgPool, batch: &PreparedBatch) -> Result<CommitOutcome, Error> {
    let mut tx = pool.begin().await?;
    let outcome = apply_batch(&mut tx, batch).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Writes a prepared batch inside the caller's transaction (one batch of
/// its own, or many agents' batches of one group commit: see `writer`).
/// Nothing is durable, and nothing may be acknowledged, before the caller
/// commits.
pub async fn apply_batch(
    tx: &mut sqlx::PgConnection,
    batch: &PreparedBatch,
) -> Result<CommitOutcome, Error> {
    let agent_id = batch.agent_id.as_str();
    let seqs: Vec<i64> = batch.rows.iter().map(|r| r.seq).collect();
    let stored_ack = lock_agent(&mut *tx, batch).await?;
    let acked = settled_through(
        &mut *tx,
        agent_id,
        stored_ack,
        &seqs,
        batch.abandoned_through,
    )
    .await?;

    // Every seq above the stored ack is claimed, including those the same
    // batch declares abandoned: they were delivered after all, so they are
    // stored, not counted as duplicates.
    let candidates: Vec<i64> = seqs
        .iter()
        .copied()
        .filter(|seq| *seq > stored_ack)
        .collect();
    let claimed: Vec<i64> = if candidates.is_empty() {
        Vec::new()
    } else {
        sqlx::query_scalar(
            "INSERT INTO agent_pending_seqs (agent_id, seq)
             SELECT $1, s FROM unnest($2::bigint[]) AS s
             ON CONFLICT DO NOTHING RETURNING seq",
        )
        .bind(agent_id)
        .bind(&candidates)
        .fetch_all(&mut *tx)
        .await?
    };

    // A batch may repeat a seq; keep the first occurrence of each claimed seq.
    let mut fresh: Vec<&HistoryRow> = Vec::with_capacity(claimed.len());
    for r in &batch.rows {
        if claimed.contains(&r.seq) && !fresh.iter().any(|f| f.seq == r.seq) {
            fresh.push(r);
        }
    }

    if !fresh.is_empty() {
        insert_history(&mut *tx, agent_id, &fresh, batch.now).await?;
    }
    if let Some(state) = batch.newest.as_ref().filter(|s| claimed.contains(&s.seq)) {
        upsert_state(&mut *tx, agent_id, state, batch.now).await?;
    }

    let new_acked = advance_ack(&mut *tx, agent_id, stored_ack, acked).await?;
    sqlx::query(
        "UPDATE agents SET acked_seq = $2, last_seen_at = $3,
                agent_version = CASE WHEN $4 = '' THEN agent_version ELSE $4 END
         WHERE agent_id = $1",
    )
    .bind(agent_id)
    .bind(new_acked)
    .bind(batch.now)
    .bind(&batch.agent_version)
    .execute(&mut *tx)
    .await?;

    Ok(CommitOutcome {
        acked_seq: new_acked as u64,
        stored: fresh.len() as u32,
        duplicates: (batch.rows.len() - fresh.len()) as u32,
    })
}

/// Locks the agent's row (serialising its batches), re-checks enrolment,
/// revocation and the site; returns the stored ack.
async fn lock_agent(tx: &mut sqlx::PgConnection, batch: &PreparedBatch) -> Result<i64, Error> {
    let agent_id = batch.agent_id.as_str();
    let row: Option<(i64, String, bool)> = sqlx::query_as(
        "SELECT acked_seq, site_id, revoked_at IS NOT NULL FROM agents WHERE agent_id = $1 FOR UPDATE",
    )
    .bind(agent_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (stored_ack, enrolled_site, revoked) = row.ok_or_else(|| not_enrolled(agent_id))?;
    check_agent(batch, &enrolled_site, revoked)?;
    Ok(stored_ack)
}

pub fn not_enrolled(agent_id: &str) -> Error {
    Error::Unauthorized(format!(
        "agent {agent_id} is not enrolled: run `onshi-agent enroll`"
    ))
}

/// A revoked agent, or a report claiming another site than the agent's, refuses the batch.
pub fn check_agent(batch: &PreparedBatch, enrolled_site: &str, revoked: bool) -> Result<(), Error> {
    if revoked {
        return Err(Error::Unauthorized(format!(
            "agent {} was revoked: re-enrol with a new token",
            batch.agent_id
        )));
    }
    if let Some(r) = batch.rows.iter().find(|r| r.site_id != enrolled_site) {
        return Err(Error::Forbidden(format!(
            "report seq {} claims site {:?} but this agent is enrolled for {enrolled_site:?}",
            r.seq, r.site_id
        )));
    }
    Ok(())
}

/// The seq through which everything counts as settled: the stored ack, or
/// `abandoned_through` if higher. An agent can abandon only seqs it has used,
/// so `abandoned_through` may not exceed the highest seq this server has seen
/// from it (acked or pending) or sent in this batch; otherwise one bad value
/// (e.g. 2^63-1) would turn every later report into a "duplicate".
async fn settled_through(
    tx: &mut sqlx::PgConnection,
    agent_id: &str,
    stored_ack: i64,
    seqs: &[i64],
    abandoned_through: u64,
) -> Result<i64, Error> {
    let abandoned = i64::try_from(abandoned_through).unwrap_or(i64::MAX);
    if abandoned <= stored_ack {
        return Ok(stored_ack);
    }
    let highest_pending: Option<i64> =
        sqlx::query_scalar("SELECT max(seq) FROM agent_pending_seqs WHERE agent_id = $1")
            .bind(agent_id)
            .fetch_one(&mut *tx)
            .await?;
    check_abandoned(
        abandoned_through,
        abandon_bound(stored_ack, highest_pending, seqs),
    )
}

/// `abandoned_through` if it is within `bound`, else the refusal.
pub fn check_abandoned(abandoned_through: u64, bound: i64) -> Result<i64, Error> {
    let abandoned = i64::try_from(abandoned_through).unwrap_or(i64::MAX);
    if abandoned > bound {
        return Err(Error::InvalidArgument(format!(
            "abandoned_through {abandoned_through} is above {bound}, the highest seq received \
             from this agent or sent in this batch; an agent may abandon only seqs it has used"
        )));
    }
    Ok(abandoned)
}

/// The highest seq `abandoned_through` may name (see `settled_through`).
pub fn abandon_bound(stored_ack: i64, highest_pending: Option<i64>, seqs: &[i64]) -> i64 {
    let in_batch = seqs.iter().copied().max().unwrap_or(0);
    stored_ack.max(highest_pending.unwrap_or(0)).max(in_batch)
}

/// The lean history rows (migrations/0007_lean_history.sql), one statement.
async fn insert_history(
    tx: &mut sqlx::PgConnection,
    agent_id: &str,
    fresh: &[&HistoryRow],
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let agents = vec![agent_id; fresh.len()];
    let times = vec![now; fresh.len()];
    HistoryColumns::of(fresh.iter().copied())
        .insert(&mut *tx, &times, &agents)
        .await
}

/// The history rows of a group, column by column, for one `INSERT … SELECT FROM unnest`.
#[derive(Default)]
pub struct HistoryColumns<'a> {
    site_id: Vec<&'a str>,
    seq: Vec<i64>,
    collected_at: Vec<DateTime<Utc>>,
    health: Vec<&'static str>,
    report: Vec<&'a [u8]>,
    reader_power: Vec<Option<&'static str>>,
    boot_time: Vec<Option<DateTime<Utc>>>,
    target_names: Vec<&'a str>,
    target_reachable: Vec<&'a str>,
    target_latency_ms: Vec<&'a str>,
    probe_errors: Vec<i16>,
}

impl<'a> HistoryColumns<'a> {
    pub fn of(rows: impl Iterator<Item = &'a HistoryRow>) -> Self {
        let mut c = HistoryColumns::default();
        for r in rows {
            c.site_id.push(&r.site_id);
            c.seq.push(r.seq);
            c.collected_at.push(r.collected_at);
            c.health.push(r.health.as_str());
            c.report.push(&r.report);
            c.reader_power.push(r.reader_power.map(|p| p.as_str()));
            c.boot_time.push(r.boot_time);
            c.target_names.push(&r.targets.names);
            c.target_reachable.push(&r.targets.reachable);
            c.target_latency_ms.push(&r.targets.latency_ms);
            c.probe_errors.push(r.probe_errors);
        }
        c
    }

    /// Inserts the rows; `received_at` and `agent_id` are given per row.
    pub async fn insert(
        &self,
        tx: &mut sqlx::PgConnection,
        received_at: &[DateTime<Utc>],
        agent_id: &[&str],
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO report_history (received_at, agent_id, site_id, seq, collected_at, health,
                 report, reader_power, boot_time, target_names, target_reachable, target_latency_ms,
                 probe_errors)
             SELECT r, a, s, q, c, h, p, rp, b, tn::text[], tr::boolean[], tl::integer[], pe
             FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[],
                         $6::text[], $7::bytea[], $8::text[], $9::timestamptz[], $10::text[],
                         $11::text[], $12::text[], $13::smallint[])
                  AS u(r, a, s, q, c, h, p, rp, b, tn, tr, tl, pe)",
        )
        .bind(received_at)
        .bind(agent_id)
        .bind(&self.site_id)
        .bind(&self.seq)
        .bind(&self.collected_at)
        .bind(&self.health)
        .bind(&self.report)
        .bind(&self.reader_power)
        .bind(&self.boot_time)
        .bind(&self.target_names)
        .bind(&self.target_reachable)
        .bind(&self.target_latency_ms)
        .bind(&self.probe_errors)
        .execute(tx)
        .await?;
        Ok(())
    }
}

/// Out-of-order delivery must not move a site's state backwards: only a
/// report at least as new as the stored one replaces it.
async fn upsert_state(
    tx: &mut sqlx::PgConnection,
    agent_id: &str,
    state: &StateRow,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO site_state (site_id, agent_id, seq, collected_at, received_at, health, findings, report)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb)
         ON CONFLICT (site_id) DO UPDATE SET
            agent_id = EXCLUDED.agent_id, seq = EXCLUDED.seq, collected_at = EXCLUDED.collected_at,
            received_at = EXCLUDED.received_at, health = EXCLUDED.health,
            findings = EXCLUDED.findings, report = EXCLUDED.report
         WHERE site_state.collected_at < EXCLUDED.collected_at
            OR (site_state.agent_id = EXCLUDED.agent_id AND site_state.seq < EXCLUDED.seq)",
    )
    .bind(&state.site_id)
    .bind(agent_id)
    .bind(state.seq)
    .bind(state.collected_at)
    .bind(now)
    .bind(state.health.as_str())
    .bind(&state.findings)
    .bind(&state.report)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Moves the ack mark from `acked` over every contiguous committed seq and
/// forgets the pending rows it passed since `stored_ack`.
async fn advance_ack(
    tx: &mut sqlx::PgConnection,
    agent_id: &str,
    stored_ack: i64,
    acked: i64,
) -> Result<i64, Error> {
    let pending: Vec<i64> = sqlx::query_scalar(
        "SELECT seq FROM agent_pending_seqs WHERE agent_id = $1 AND seq > $2 ORDER BY seq",
    )
    .bind(agent_id)
    .bind(acked)
    .fetch_all(&mut *tx)
    .await?;
    let new_acked = contiguous_end(acked, &pending);
    if new_acked > stored_ack {
        sqlx::query("DELETE FROM agent_pending_seqs WHERE agent_id = $1 AND seq <= $2")
            .bind(agent_id)
            .bind(new_acked)
            .execute(&mut *tx)
            .await?;
    }
    Ok(new_acked)
}

/// The end of the run `acked+1, acked+2, ...` within sorted `pending`.
pub fn contiguous_end(acked: i64, pending_sorted: &[i64]) -> i64 {
    let mut end = acked;
    for &seq in pending_sorted {
        if seq == end + 1 {
            end = seq;
        } else if seq > end + 1 {
            break;
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::{abandon_bound, contiguous_end};

    #[test]
    fn abandon_bound_is_the_highest_seq_seen() {
        assert_eq!(abandon_bound(5, None, &[3]), 5);
        assert_eq!(abandon_bound(5, Some(9), &[6]), 9);
        assert_eq!(abandon_bound(5, Some(9), &[12, 11]), 12);
        assert_eq!(abandon_bound(0, None, &[]), 0);
    }

    #[test]
    fn contiguous_run() {
        assert_eq!(contiguous_end(0, &[]), 0);
        assert_eq!(contiguous_end(0, &[1, 2, 3]), 3);
        assert_eq!(contiguous_end(0, &[2, 3]), 0);
        assert_eq!(contiguous_end(3, &[4, 6, 7]), 4);
        assert_eq!(contiguous_end(3, &[4, 5, 6, 9]), 6);
    }
}
