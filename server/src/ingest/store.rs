//! Committing batches of reports: the one place where "acknowledge only after
//! commit" and "a replayed (agent_id, seq) is not stored twice" are enforced.
//!
//! One transaction holds a group of batches (one, or many agents' from the
//! group-committing `writer`), with one statement per table for the whole group:
//! 1. lock the agents' rows (`FOR UPDATE`, in agent order so replicas never
//!    deadlock): batches of one agent serialise across writers and replicas;
//! 2. read their pending seqs (a new statement, so it sees what a batch that
//!    held the lock before us committed);
//! 3. decide each batch (`plan`, pure): refused batches write nothing;
//! 4. the new reports go to `report_history`; `site_state` gets one row per
//!    site, the newest of the group; `agents` their new ack and last-seen;
//!    `agent_pending_seqs` only changes when seqs arrive out of order.
//!
//! The caller answers the agents only after `commit` returns Ok. A statement
//! the database refuses aborts the whole transaction: `writer` then splits the
//! group to find the batch at fault.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use onshi_proto::v1 as pb;
use sqlx::{PgConnection, PgPool};

use super::columns::{AgentColumns, HistoryColumns, PendingColumns, StateColumns};
use super::plan::{self, AgentRow, BatchPlan};
use super::prepare::PreparedBatch;
use crate::error::Error;

pub use super::plan::{abandon_bound, contiguous_end};

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
    let mut outcomes = apply_group(&mut tx, &[batch]).await?;
    let outcome = outcomes.pop().expect("one outcome per batch")?;
    tx.commit().await?;
    Ok(outcome)
}

/// Writes a group of prepared batches, each of a different agent, inside the
/// caller's transaction. `Err`: a statement failed and the transaction is
/// aborted. `Ok`: one outcome per batch, in order; a refused batch (`Err`
/// inside) wrote nothing. Nothing is durable, and nothing may be
/// acknowledged, before the caller commits.
pub async fn apply_group(
    tx: &mut PgConnection,
    batches: &[&PreparedBatch],
) -> Result<Vec<Result<CommitOutcome, Error>>, Error> {
    let mut ids: Vec<&str> = batches.iter().map(|b| b.agent_id.as_str()).collect();
    ids.sort_unstable();
    debug_assert!(
        ids.windows(2).all(|w| w[0] != w[1]),
        "one batch per agent in a group"
    );
    let agents = lock_agents(&mut *tx, &ids).await?;
    let pending = pending_seqs(&mut *tx, &ids).await?;
    let plans: Vec<Result<BatchPlan, Error>> = batches
        .iter()
        .map(|b| {
            let seqs = pending.get(&b.agent_id).map_or(&[][..], Vec::as_slice);
            plan::plan(b, agents.get(&b.agent_id), seqs)
        })
        .collect();
    let planned: Vec<(&PreparedBatch, &BatchPlan)> = batches
        .iter()
        .zip(&plans)
        .filter_map(|(b, p)| Some((*b, p.as_ref().ok()?)))
        .collect();
    write(&mut *tx, &planned).await?;
    Ok(batches
        .iter()
        .zip(plans)
        .map(|(b, p)| {
            p.map(|p| CommitOutcome {
                acked_seq: p.new_acked as u64,
                stored: p.fresh.len() as u32,
                duplicates: p.duplicates(b) as u32,
            })
        })
        .collect())
}

/// The group's statements, one per table (those with nothing to write are skipped).
async fn write(
    tx: &mut PgConnection,
    planned: &[(&PreparedBatch, &BatchPlan)],
) -> Result<(), Error> {
    let history = HistoryColumns::of_group(planned);
    if !history.is_empty() {
        history.insert(&mut *tx).await?;
    }
    let states = StateColumns::coalesced(planned);
    if !states.is_empty() {
        states.upsert(&mut *tx).await?;
    }
    if !planned.is_empty() {
        AgentColumns::of(planned).update(&mut *tx).await?;
    }
    let pending = PendingColumns::of(planned);
    pending.forget(&mut *tx).await?;
    pending.insert(&mut *tx).await?;
    Ok(())
}

/// Locks the agents' rows, in agent order.
async fn lock_agents(
    tx: &mut PgConnection,
    ids: &[&str],
) -> Result<HashMap<String, AgentRow>, Error> {
    let rows: Vec<(String, i64, String, bool)> = sqlx::query_as(
        "SELECT agent_id, acked_seq, site_id, revoked_at IS NOT NULL FROM agents
         WHERE agent_id = ANY($1) ORDER BY agent_id FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, acked_seq, site_id, revoked)| {
            let row = AgentRow {
                acked_seq,
                site_id,
                revoked,
            };
            (id, row)
        })
        .collect())
}

/// Pending seqs per agent, ascending.
async fn pending_seqs(
    tx: &mut PgConnection,
    ids: &[&str],
) -> Result<HashMap<String, Vec<i64>>, Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT agent_id, seq FROM agent_pending_seqs WHERE agent_id = ANY($1) ORDER BY agent_id, seq",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut by_agent: HashMap<String, Vec<i64>> = HashMap::new();
    for (agent, seq) in rows {
        by_agent.entry(agent).or_default().push(seq);
    }
    Ok(by_agent)
}
