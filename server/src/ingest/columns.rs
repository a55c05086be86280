//! The group commit's statements: one multi-row `INSERT … SELECT FROM unnest(…)` (or
//! `UPDATE … FROM unnest`, `DELETE … USING unnest`) per table for the whole group, the rows
//! passed column by column as arrays. The SQL text never depends on the group's size, so
//! each statement is prepared once per connection (sqlx's statement cache).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::plan::BatchPlan;
use super::prepare::{HistoryRow, PreparedBatch, StateRow};
use crate::error::Error;

/// `report_history` rows (the lean row of migrations/0007_lean_history.sql).
#[derive(Default)]
pub struct HistoryColumns<'a> {
    received_at: Vec<DateTime<Utc>>,
    agent_id: Vec<&'a str>,
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
    /// The new reports of every planned batch.
    pub fn of_group(planned: &[(&'a PreparedBatch, &BatchPlan)]) -> Self {
        let mut c = HistoryColumns::default();
        for (batch, plan) in planned {
            for &i in &plan.fresh {
                c.push(&batch.rows[i], batch.now, &batch.agent_id);
            }
        }
        c
    }

    pub fn push(&mut self, r: &'a HistoryRow, received_at: DateTime<Utc>, agent_id: &'a str) {
        self.received_at.push(received_at);
        self.agent_id.push(agent_id);
        self.site_id.push(&r.site_id);
        self.seq.push(r.seq);
        self.collected_at.push(r.collected_at);
        self.health.push(r.health.as_str());
        self.report.push(&r.report);
        self.reader_power.push(r.reader_power.map(|p| p.as_str()));
        self.boot_time.push(r.boot_time);
        self.target_names.push(&r.targets.names);
        self.target_reachable.push(&r.targets.reachable);
        self.target_latency_ms.push(&r.targets.latency_ms);
        self.probe_errors.push(r.probe_errors);
    }

    pub fn is_empty(&self) -> bool {
        self.seq.is_empty()
    }

    pub async fn insert(&self, tx: &mut PgConnection) -> Result<(), Error> {
        // The per-row arrays travel as array literals (a 2-D array would unnest flat).
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
        .bind(&self.received_at)
        .bind(&self.agent_id)
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

/// `site_state`: one row per site per group, the newest candidate.
#[derive(Default)]
pub struct StateColumns<'a> {
    site_id: Vec<&'a str>,
    agent_id: Vec<&'a str>,
    seq: Vec<i64>,
    collected_at: Vec<DateTime<Utc>>,
    received_at: Vec<DateTime<Utc>>,
    health: Vec<&'static str>,
    findings: Vec<&'a str>,
    report: Vec<&'a str>,
}

impl<'a> StateColumns<'a> {
    /// Coalesces the group's candidates: per site the newest by (collected_at, seq), in site
    /// order (row locks in a fixed order across writers and replicas).
    pub fn coalesced(planned: &[(&'a PreparedBatch, &BatchPlan)]) -> Self {
        let mut newest: BTreeMap<&str, (&PreparedBatch, &StateRow)> = BTreeMap::new();
        for (batch, plan) in planned {
            let Some(state) = batch.newest.as_ref().filter(|_| plan.state) else {
                continue;
            };
            let entry = newest
                .entry(state.site_id.as_str())
                .or_insert((batch, state));
            if (state.collected_at, state.seq) > (entry.1.collected_at, entry.1.seq) {
                *entry = (batch, state);
            }
        }
        let mut c = StateColumns::default();
        for (site, (batch, s)) in newest {
            c.site_id.push(site);
            c.agent_id.push(&batch.agent_id);
            c.seq.push(s.seq);
            c.collected_at.push(s.collected_at);
            c.received_at.push(batch.now);
            c.health.push(s.health.as_str());
            c.findings.push(&s.findings);
            c.report.push(&s.report);
        }
        c
    }

    pub fn is_empty(&self) -> bool {
        self.site_id.is_empty()
    }

    /// Out-of-order delivery must not move a site's state backwards: only a
    /// report at least as new as the stored one replaces it.
    pub async fn upsert(&self, tx: &mut PgConnection) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO site_state (site_id, agent_id, seq, collected_at, received_at, health,
                 findings, report)
             SELECT s, a, q, c, r, h, f::jsonb, p::jsonb
             FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[],
                         $5::timestamptz[], $6::text[], $7::text[], $8::text[])
                  AS u(s, a, q, c, r, h, f, p)
             ON CONFLICT (site_id) DO UPDATE SET
                agent_id = EXCLUDED.agent_id, seq = EXCLUDED.seq,
                collected_at = EXCLUDED.collected_at, received_at = EXCLUDED.received_at,
                health = EXCLUDED.health, findings = EXCLUDED.findings, report = EXCLUDED.report
             WHERE site_state.collected_at < EXCLUDED.collected_at
                OR (site_state.agent_id = EXCLUDED.agent_id AND site_state.seq < EXCLUDED.seq)",
        )
        .bind(&self.site_id)
        .bind(&self.agent_id)
        .bind(&self.seq)
        .bind(&self.collected_at)
        .bind(&self.received_at)
        .bind(&self.health)
        .bind(&self.findings)
        .bind(&self.report)
        .execute(tx)
        .await?;
        Ok(())
    }
}

/// `agents`: the new ack, last-seen time and version of every planned batch's agent.
#[derive(Default)]
pub struct AgentColumns<'a> {
    agent_id: Vec<&'a str>,
    acked_seq: Vec<i64>,
    seen_at: Vec<DateTime<Utc>>,
    version: Vec<&'a str>,
}

impl<'a> AgentColumns<'a> {
    pub fn of(planned: &[(&'a PreparedBatch, &BatchPlan)]) -> Self {
        let mut c = AgentColumns::default();
        for (batch, plan) in planned {
            c.agent_id.push(&batch.agent_id);
            c.acked_seq.push(plan.new_acked);
            c.seen_at.push(batch.now);
            c.version.push(&batch.agent_version);
        }
        c
    }

    pub async fn update(&self, tx: &mut PgConnection) -> Result<(), Error> {
        sqlx::query(
            "UPDATE agents SET acked_seq = u.acked, last_seen_at = u.seen,
                 agent_version = CASE WHEN u.version = '' THEN agents.agent_version ELSE u.version END
             FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[])
                  AS u(agent_id, acked, seen, version)
             WHERE agents.agent_id = u.agent_id",
        )
        .bind(&self.agent_id)
        .bind(&self.acked_seq)
        .bind(&self.seen_at)
        .bind(&self.version)
        .execute(tx)
        .await?;
        Ok(())
    }
}

/// `agent_pending_seqs`: seqs that arrived beyond a gap, and those the ack passed.
#[derive(Default)]
pub struct PendingColumns<'a> {
    insert_agent: Vec<&'a str>,
    insert_seq: Vec<i64>,
    forget_agent: Vec<&'a str>,
    forget_through: Vec<i64>,
}

impl<'a> PendingColumns<'a> {
    pub fn of(planned: &[(&'a PreparedBatch, &BatchPlan)]) -> Self {
        let mut c = PendingColumns::default();
        for (batch, plan) in planned {
            for &seq in &plan.pending_insert {
                c.insert_agent.push(&batch.agent_id);
                c.insert_seq.push(seq);
            }
            if let Some(through) = plan.pending_forget_through {
                c.forget_agent.push(&batch.agent_id);
                c.forget_through.push(through);
            }
        }
        c
    }

    pub async fn forget(&self, tx: &mut PgConnection) -> Result<(), Error> {
        if self.forget_agent.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "DELETE FROM agent_pending_seqs p USING unnest($1::text[], $2::bigint[]) AS u(a, t)
             WHERE p.agent_id = u.a AND p.seq <= u.t",
        )
        .bind(&self.forget_agent)
        .bind(&self.forget_through)
        .execute(tx)
        .await?;
        Ok(())
    }

    /// No `ON CONFLICT`: the pending seqs were read under the agent's lock, so a conflict
    /// would mean a report stored twice; it fails the group instead (retried).
    pub async fn insert(&self, tx: &mut PgConnection) -> Result<(), Error> {
        if self.insert_agent.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO agent_pending_seqs (agent_id, seq)
             SELECT * FROM unnest($1::text[], $2::bigint[])",
        )
        .bind(&self.insert_agent)
        .bind(&self.insert_seq)
        .execute(tx)
        .await?;
        Ok(())
    }
}
