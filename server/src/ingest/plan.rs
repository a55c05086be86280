//! What committing one batch changes, decided from the agent's locked row and its pending seqs:
//! which reports are new, where the ack moves, which pending rows to add or forget. Pure, so
//! exactly-once and the contiguous ack are unit-tested here; `store` only runs the statements.
//!
//! The rules (ARCHITECTURE.md "Exactly once per (agent_id, seq)"):
//! - seqs at or below the stored ack are replays;
//! - a seq above it is new unless it is pending (committed earlier, out of order);
//! - `abandoned_through` settles the seqs up to it, bounded by the highest seq seen from the
//!   agent (acked, pending, or in this batch); a report of the batch at or below it that is new
//!   is still stored;
//! - the ack is the end of the contiguous run of committed seqs from the settled mark; new
//!   seqs beyond it are remembered as pending, pending seqs it passed are forgotten.

use super::prepare::PreparedBatch;
use crate::error::Error;

/// The agent's row, locked for the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRow {
    pub acked_seq: i64,
    pub site_id: String,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchPlan {
    /// Indices into `batch.rows` of the reports to store (first occurrence of each new seq).
    pub fresh: Vec<usize>,
    /// Whether `batch.newest` is stored now (then it is this batch's `site_state` candidate).
    pub state: bool,
    pub stored_ack: i64,
    pub new_acked: i64,
    /// New seqs beyond the new ack: they become pending.
    pub pending_insert: Vec<i64>,
    /// Pending seqs at or below this are forgotten (the ack passed them).
    pub pending_forget_through: Option<i64>,
}

impl BatchPlan {
    pub fn duplicates(&self, batch: &PreparedBatch) -> usize {
        batch.rows.len() - self.fresh.len()
    }
}

/// Decides the batch, or refuses it (not enrolled, revoked, another site's report, an
/// `abandoned_through` beyond what the agent has used). `pending` is sorted ascending.
pub fn plan(
    batch: &PreparedBatch,
    agent: Option<&AgentRow>,
    pending: &[i64],
) -> Result<BatchPlan, Error> {
    let agent = agent.ok_or_else(|| not_enrolled(&batch.agent_id))?;
    check_agent(batch, &agent.site_id, agent.revoked)?;
    let stored_ack = agent.acked_seq;
    let settled = settled_through(batch, stored_ack, pending)?;

    let mut fresh: Vec<usize> = Vec::new();
    let mut fresh_seqs: Vec<i64> = Vec::new();
    for (i, row) in batch.rows.iter().enumerate() {
        let seq = row.seq;
        if seq > stored_ack && pending.binary_search(&seq).is_err() && !fresh_seqs.contains(&seq) {
            fresh.push(i);
            fresh_seqs.push(seq);
        }
    }
    let mut known: Vec<i64> = pending
        .iter()
        .chain(&fresh_seqs)
        .copied()
        .filter(|s| *s > settled)
        .collect();
    known.sort_unstable();
    let new_acked = contiguous_end(settled, &known);
    let state = batch
        .newest
        .as_ref()
        .is_some_and(|s| fresh_seqs.contains(&s.seq));
    Ok(BatchPlan {
        pending_insert: fresh_seqs
            .iter()
            .copied()
            .filter(|s| *s > new_acked)
            .collect(),
        pending_forget_through: pending
            .first()
            .is_some_and(|p| *p <= new_acked)
            .then_some(new_acked),
        fresh,
        state,
        stored_ack,
        new_acked,
    })
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
fn settled_through(batch: &PreparedBatch, stored_ack: i64, pending: &[i64]) -> Result<i64, Error> {
    let abandoned = i64::try_from(batch.abandoned_through).unwrap_or(i64::MAX);
    if abandoned <= stored_ack {
        return Ok(stored_ack);
    }
    let seqs: Vec<i64> = batch.rows.iter().map(|r| r.seq).collect();
    let bound = abandon_bound(stored_ack, pending.last().copied(), &seqs);
    if abandoned > bound {
        return Err(Error::InvalidArgument(format!(
            "abandoned_through {} is above {bound}, the highest seq received \
             from this agent or sent in this batch; an agent may abandon only seqs it has used",
            batch.abandoned_through
        )));
    }
    Ok(abandoned)
}

/// The highest seq `abandoned_through` may name (see `settled_through`).
pub fn abandon_bound(stored_ack: i64, highest_pending: Option<i64>, seqs: &[i64]) -> i64 {
    let in_batch = seqs.iter().copied().max().unwrap_or(0);
    stored_ack.max(highest_pending.unwrap_or(0)).max(in_batch)
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
    use super::*;
    use crate::ingest::prepare;
    use onshi_proto::v1 as pb;

    fn batch(seqs: &[u64], abandoned_through: u64) -> PreparedBatch {
        let reports: Vec<pb::Report> = seqs
            .iter()
            .map(|&seq| pb::Report {
                seq,
                site_id: "s1".into(),
                ..Default::default()
            })
            .collect();
        let now = "2026-12-02T00:00:00Z".parse().unwrap();
        prepare::batch("a1".into(), &reports, abandoned_through, now).unwrap()
    }

    fn agent(acked_seq: i64) -> AgentRow {
        AgentRow {
            acked_seq,
            site_id: "s1".into(),
            revoked: false,
        }
    }

    #[test]
    fn live_report_after_the_ack_needs_no_pending_row() {
        let p = plan(&batch(&[8], 0), Some(&agent(7)), &[]).unwrap();
        assert_eq!(p.fresh, [0]);
        assert!(p.state);
        assert_eq!((p.stored_ack, p.new_acked), (7, 8));
        assert!(p.pending_insert.is_empty() && p.pending_forget_through.is_none());
    }

    #[test]
    fn replays_and_repeats_are_duplicates() {
        let b = batch(&[1, 2, 2, 3], 0);
        let p = plan(&b, Some(&agent(1)), &[3]).unwrap();
        assert_eq!(p.fresh, [1], "1 is acked, 3 pending, the second 2 a repeat");
        assert_eq!(p.duplicates(&b), 3);
        assert_eq!(p.new_acked, 3);
        assert_eq!(p.pending_forget_through, Some(3));
        assert!(!p.state, "the newest (3) was stored before");
    }

    #[test]
    fn a_gap_keeps_the_ack_and_remembers_the_seq() {
        let p = plan(&batch(&[4], 0), Some(&agent(2)), &[]).unwrap();
        assert_eq!((p.new_acked, p.pending_insert.clone()), (2, vec![4]));
        let p = plan(&batch(&[3], 0), Some(&agent(2)), &[4]).unwrap();
        assert_eq!(p.new_acked, 4);
        assert!(p.pending_insert.is_empty());
        assert_eq!(p.pending_forget_through, Some(4));
        let p = plan(&batch(&[3], 0), Some(&agent(2)), &[5, 6]).unwrap();
        assert_eq!(p.new_acked, 3);
        assert_eq!(p.pending_forget_through, None, "5 and 6 stay pending");
    }

    #[test]
    fn abandoned_seqs_are_settled_within_the_bound() {
        // 3 and 4 lost; 1, 2, 5 arrive in the batch that says so: all stored, ack 5.
        let p = plan(&batch(&[1, 2, 5], 4), Some(&agent(0)), &[]).unwrap();
        assert_eq!((p.fresh.len(), p.new_acked), (3, 5));
        // Pending 9, batch 6: abandoning through 9 is allowed, through 10 is not.
        assert_eq!(
            plan(&batch(&[6], 8), Some(&agent(5)), &[9])
                .unwrap()
                .new_acked,
            9
        );
        let e = plan(&batch(&[6], 10), Some(&agent(5)), &[9]).unwrap_err();
        assert!(
            e.to_string().contains("abandoned_through 10 is above 9"),
            "{e}"
        );
        let e = plan(&batch(&[6], i64::MAX as u64), Some(&agent(5)), &[9]).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)));
    }

    #[test]
    fn refusals_name_the_reason() {
        let b = batch(&[1], 0);
        assert!(
            matches!(plan(&b, None, &[]), Err(Error::Unauthorized(m)) if m.contains("not enrolled"))
        );
        let revoked = AgentRow {
            revoked: true,
            ..agent(0)
        };
        assert!(
            matches!(plan(&b, Some(&revoked), &[]), Err(Error::Unauthorized(m)) if m.contains("revoked"))
        );
        let elsewhere = AgentRow {
            site_id: "s2".into(),
            ..agent(0)
        };
        assert!(matches!(
            plan(&b, Some(&elsewhere), &[]),
            Err(Error::Forbidden(_))
        ));
    }

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
