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

use crate::error::Error;
use crate::fleet::health;
use crate::fleet::report::ReportDoc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitOutcome {
    pub acked_seq: u64,
    pub stored: u32,
    pub duplicates: u32,
}

/// Stores a validated batch. `now` is the receipt time used for history
/// partitioning and health evaluation.
pub async fn commit_batch(
    pool: &PgPool,
    agent_id: &str,
    reports: &[pb::Report],
    abandoned_through: u64,
    now: DateTime<Utc>,
) -> Result<CommitOutcome, Error> {
    let mut tx = pool.begin().await?;
    let outcome = apply_batch(&mut tx, agent_id, reports, abandoned_through, now).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Writes a validated batch inside the caller's transaction (one batch of
/// its own, or many agents' batches of one group commit: see `writer`).
/// Nothing is durable, and nothing may be acknowledged, before the caller
/// commits.
pub async fn apply_batch(
    tx: &mut sqlx::PgConnection,
    agent_id: &str,
    reports: &[pb::Report],
    abandoned_through: u64,
    now: DateTime<Utc>,
) -> Result<CommitOutcome, Error> {
    let agent_version = reports
        .last()
        .and_then(|r| r.host.as_ref())
        .map(|h| h.agent_version.clone())
        .unwrap_or_default();
    let stored_ack = lock_agent(&mut *tx, agent_id, reports).await?;
    let acked = settled_through(&mut *tx, agent_id, stored_ack, reports, abandoned_through).await?;

    // Every seq above the stored ack is claimed, including those the same
    // batch declares abandoned: they were delivered after all, so they are
    // stored, not counted as duplicates.
    let candidates: Vec<i64> = reports
        .iter()
        .map(|r| r.seq as i64)
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
    let mut fresh: Vec<&pb::Report> = Vec::with_capacity(claimed.len());
    for r in reports {
        if claimed.contains(&(r.seq as i64)) && !fresh.iter().any(|f| f.seq == r.seq) {
            fresh.push(r);
        }
    }

    if !fresh.is_empty() {
        insert_history_and_state(&mut *tx, agent_id, &fresh, now).await?;
    }

    let new_acked = advance_ack(&mut *tx, agent_id, stored_ack, acked).await?;
    sqlx::query(
        "UPDATE agents SET acked_seq = $2, last_seen_at = $3,
                agent_version = CASE WHEN $4 = '' THEN agent_version ELSE $4 END
         WHERE agent_id = $1",
    )
    .bind(agent_id)
    .bind(new_acked)
    .bind(now)
    .bind(&agent_version)
    .execute(&mut *tx)
    .await?;

    Ok(CommitOutcome {
        acked_seq: new_acked as u64,
        stored: fresh.len() as u32,
        duplicates: (reports.len() - fresh.len()) as u32,
    })
}

/// Locks the agent's row (serialising its batches), re-checks enrolment,
/// revocation and the site; returns the stored ack.
async fn lock_agent(
    tx: &mut sqlx::PgConnection,
    agent_id: &str,
    reports: &[pb::Report],
) -> Result<i64, Error> {
    let row: Option<(i64, String, bool)> = sqlx::query_as(
        "SELECT acked_seq, site_id, revoked_at IS NOT NULL FROM agents WHERE agent_id = $1 FOR UPDATE",
    )
    .bind(agent_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (stored_ack, enrolled_site, revoked) = row.ok_or_else(|| {
        Error::Unauthorized(format!(
            "agent {agent_id} is not enrolled: run `onshi-agent enroll`"
        ))
    })?;
    if revoked {
        return Err(Error::Unauthorized(format!(
            "agent {agent_id} was revoked: re-enrol with a new token"
        )));
    }
    if let Some(r) = reports.iter().find(|r| r.site_id != enrolled_site) {
        return Err(Error::Forbidden(format!(
            "report seq {} claims site {:?} but this agent is enrolled for {enrolled_site:?}",
            r.seq, r.site_id
        )));
    }
    Ok(stored_ack)
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
    reports: &[pb::Report],
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
    let bound = abandon_bound(stored_ack, highest_pending, reports);
    if abandoned > bound {
        return Err(Error::InvalidArgument(format!(
            "abandoned_through {abandoned_through} is above {bound}, the highest seq received \
             from this agent or sent in this batch; an agent may abandon only seqs it has used"
        )));
    }
    Ok(abandoned)
}

/// The highest seq `abandoned_through` may name (see `settled_through`).
pub fn abandon_bound(stored_ack: i64, highest_pending: Option<i64>, reports: &[pb::Report]) -> i64 {
    let in_batch = reports.iter().map(|r| r.seq as i64).max().unwrap_or(0);
    stored_ack.max(highest_pending.unwrap_or(0)).max(in_batch)
}

async fn insert_history_and_state(
    tx: &mut sqlx::PgConnection,
    agent_id: &str,
    fresh: &[&pb::Report],
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let mut seqs = Vec::with_capacity(fresh.len());
    let mut sites = Vec::with_capacity(fresh.len());
    let mut collected = Vec::with_capacity(fresh.len());
    let mut healths = Vec::with_capacity(fresh.len());
    let mut docs = Vec::with_capacity(fresh.len());
    let mut newest: Option<(usize, Vec<health::Finding>)> = None;
    for (i, r) in fresh.iter().enumerate() {
        let doc = ReportDoc::from(*r);
        let findings = health::evaluate(&doc, now);
        seqs.push(r.seq as i64);
        sites.push(r.site_id.clone());
        collected.push(doc.collected_at.unwrap_or(now));
        healths.push(health::overall(&findings).as_str());
        docs.push(serde_json::to_value(&doc).map_err(anyhow::Error::from)?);
        if newest.as_ref().is_none_or(|(j, _)| fresh[*j].seq < r.seq) {
            newest = Some((i, findings));
        }
    }

    sqlx::query(
        "INSERT INTO report_history (received_at, agent_id, seq, site_id, collected_at, health, report)
         SELECT $1, $2, * FROM unnest($3::bigint[], $4::text[], $5::timestamptz[], $6::text[], $7::jsonb[])",
    )
    .bind(now)
    .bind(agent_id)
    .bind(&seqs)
    .bind(&sites)
    .bind(&collected)
    .bind(&healths)
    .bind(&docs)
    .execute(&mut *tx)
    .await?;

    if let Some((i, findings)) = newest {
        // Out-of-order delivery must not move a site's state backwards: only a
        // report at least as new as the stored one replaces it.
        sqlx::query(
            "INSERT INTO site_state (site_id, agent_id, seq, collected_at, received_at, health, findings, report)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (site_id) DO UPDATE SET
                agent_id = EXCLUDED.agent_id, seq = EXCLUDED.seq, collected_at = EXCLUDED.collected_at,
                received_at = EXCLUDED.received_at, health = EXCLUDED.health,
                findings = EXCLUDED.findings, report = EXCLUDED.report
             WHERE site_state.collected_at < EXCLUDED.collected_at
                OR (site_state.agent_id = EXCLUDED.agent_id AND site_state.seq < EXCLUDED.seq)",
        )
        .bind(&sites[i])
        .bind(agent_id)
        .bind(seqs[i])
        .bind(collected[i])
        .bind(now)
        .bind(health::overall(&findings).as_str())
        .bind(serde_json::to_value(&findings).map_err(anyhow::Error::from)?)
        .bind(&docs[i])
        .execute(&mut *tx)
        .await?;
    }
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
    use onshi_proto::v1 as pb;

    #[test]
    fn abandon_bound_is_the_highest_seq_seen() {
        let batch = |seqs: &[u64]| -> Vec<pb::Report> {
            seqs.iter()
                .map(|&seq| pb::Report {
                    seq,
                    ..Default::default()
                })
                .collect()
        };
        assert_eq!(abandon_bound(5, None, &batch(&[3])), 5);
        assert_eq!(abandon_bound(5, Some(9), &batch(&[6])), 9);
        assert_eq!(abandon_bound(5, Some(9), &batch(&[12, 11])), 12);
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
