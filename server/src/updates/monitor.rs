//! The rollout monitor, one task per server process: every
//! `--rollout-check-seconds` it reloads the running rollouts into the offers
//! and measures each one's health (`halt::evaluate`); a rollout whose new
//! version does worse than the old one is halted (`rollout_store::halt`:
//! state, reason, timeline, audit and notification in one transaction).
//! Several replicas may check at once: the halt locks the row and only a
//! running rollout is halted, so it happens once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;

use super::Offers;
use super::halt::{Cohort, Health, Thresholds, evaluate};
use super::rollout_store::{self, RolloutRow};
use crate::error::Error;

/// Agents silent for longer than this are left out of both cohorts: a PC
/// retired or replaced is not a signal about a release.
const COHORT_DAYS: i64 = 7;

pub async fn run(
    pool: PgPool,
    offers: Arc<Offers>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = Utc::now();
                if let Err(e) = offers.refresh(now).await {
                    tracing::error!(error = %e, "cannot reload the running rollouts; offers unchanged until the next check");
                }
                if let Err(e) = check_all(&pool, now).await {
                    tracing::error!(error = %e, "rollout health check failed; trying again at the next check");
                }
            }
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Checks every running rollout; returns the ids it halted.
pub async fn check_all(pool: &PgPool, now: DateTime<Utc>) -> Result<Vec<i64>, Error> {
    let mut halted = Vec::new();
    for rollout in rollout_store::running(pool).await? {
        let health = measure(pool, &rollout, now).await?;
        let thresholds = Thresholds {
            margin_points: rollout.halt_margin_points.clamp(1, 100) as u32,
            max_rollback_percent: rollout.max_rollback_percent.clamp(0, 100) as u32,
        };
        tracing::debug!(rollout_id = rollout.rollout_id, ?health, "rollout health");
        if let Some(reason) = evaluate(&rollout.version, &health, &thresholds)
            && rollout_store::halt(pool, rollout.rollout_id, &reason, now).await?
        {
            halted.push(rollout.rollout_id);
        }
    }
    Ok(halted)
}

#[derive(sqlx::FromRow)]
struct CohortRow {
    on_new: bool,
    agents: i64,
    silent: i64,
    probe_errors: i64,
    crashed: i64,
}

/// New-version agents against the others, now; rollbacks since `health_since`.
pub async fn measure(
    pool: &PgPool,
    rollout: &RolloutRow,
    now: DateTime<Utc>,
) -> Result<Health, Error> {
    let rows: Vec<CohortRow> = sqlx::query_as(
        "WITH cohort AS (
             SELECT a.agent_id, a.site_id, a.agent_version, a.agent_version = $1 AS on_new
             FROM agents a
             WHERE a.revoked_at IS NULL AND a.agent_version <> ''
               AND a.last_seen_at > $2 - make_interval(days => $3))
         SELECT c.on_new, count(*) AS agents,
             count(*) FILTER (WHERE EXISTS (SELECT 1 FROM incidents i WHERE i.site_id = c.site_id
                 AND i.rule = 'offline' AND i.state <> 'resolved')) AS silent,
             count(*) FILTER (WHERE EXISTS (SELECT 1 FROM incidents i WHERE i.site_id = c.site_id
                 AND i.rule = 'agent_probe_errors' AND i.state <> 'resolved')) AS probe_errors,
             count(*) FILTER (WHERE EXISTS (SELECT 1 FROM agent_update_events e WHERE e.agent_id = c.agent_id
                 AND e.kind = 'crash_restart' AND e.version = c.agent_version AND e.occurred_at >= $4)) AS crashed
         FROM cohort c GROUP BY c.on_new",
    )
    .bind(&rollout.version)
    .bind(now)
    .bind(COHORT_DAYS as i32)
    .bind(rollout.health_since)
    .fetch_all(pool)
    .await?;
    let mut health = Health::default();
    for row in rows {
        let cohort = Cohort {
            agents: row.agents as u64,
            silent: row.silent as u64,
            probe_errors: row.probe_errors as u64,
            crashed: row.crashed as u64,
        };
        if row.on_new {
            health.new = cohort;
        } else {
            health.old = cohort;
        }
    }
    let (tried, rolled_back): (i64, i64) = sqlx::query_as(
        "SELECT count(DISTINCT agent_id) FILTER (WHERE kind IN ('applied', 'rolled_back')),
                count(DISTINCT agent_id) FILTER (WHERE kind = 'rolled_back')
         FROM agent_update_events WHERE rollout_id = $1 AND occurred_at >= $2",
    )
    .bind(rollout.rollout_id)
    .bind(rollout.health_since)
    .fetch_one(pool)
    .await?;
    health.tried = tried as u64;
    health.rolled_back = rolled_back as u64;
    Ok(health)
}

/// Says a halt "in a notification": a critical event in the operators'
/// notification outbox (`notify::enqueue_event`, routed like a critical
/// incident), owed in the halt's own transaction. The halt never depends on
/// it: the event is written under a savepoint, and if it cannot be (a
/// refused text, a database error) the halt still commits and the server
/// log says so (error level, for log-based alerting).
pub async fn notify_rollout_halted(
    tx: &mut PgConnection,
    rollout: &RolloutRow,
    reason: &str,
) -> Result<(), Error> {
    tracing::error!(
        rollout_id = rollout.rollout_id,
        version = %rollout.version,
        target = %rollout.target,
        reason,
        "ROLLOUT HALTED: agent update {} for {} stopped itself; see /admin/rollouts/{}",
        rollout.version,
        rollout.target,
        rollout.rollout_id
    );
    let event = halt_event(rollout, reason);
    let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
    match crate::notify::enqueue_event(&mut savepoint, &event).await {
        Ok(_) => savepoint.commit().await?,
        Err(e) => {
            savepoint.rollback().await?;
            tracing::error!(error = %e, rollout_id = rollout.rollout_id, "the halt notification could not be queued; the rollout is halted all the same");
        }
    }
    Ok(())
}

/// The notification of a halt: what happened, why, and what to do.
pub fn halt_event(rollout: &RolloutRow, reason: &str) -> crate::notify::SystemEvent {
    crate::notify::SystemEvent {
        kind: "rollout_halted".into(),
        subject: format!(
            "エージェント更新 {}（{}）のロールアウトを自動停止しました",
            rollout.version,
            rollout.target.label_ja()
        ),
        body: format!(
            "ロールアウト #{} （{}）を監視が自動停止しました。新しい PC への配信と切り替えは止まっています。\n\n\
             停止理由: {reason}\n\n\
             切り替えに失敗した PC は自動で元のバージョンに戻り、報告を続けています。\
             管理画面の /admin/rollouts/{} で各 PC の状況を確認し、原因を調べてから「再開」するか「中止」してください。\
             戻す必要があれば、前のバージョンを --rollback 付きで署名・公開して配信してください。",
            rollout.rollout_id,
            rollout.ring_label(),
            rollout.rollout_id
        ),
        severity: crate::sites::Health::Critical,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::updates::RolloutState;

    #[test]
    fn the_halt_notification_is_a_valid_critical_event() {
        let now = Utc::now();
        let rollout = RolloutRow {
            rollout_id: 12,
            release_id: 3,
            version: "1.4.2".into(),
            rollback: false,
            target: onshi_release::Target::WindowsX86_64,
            state: RolloutState::Running,
            ring: 0,
            canary_sites: vec!["clinic-0001".into()],
            canary_basis_points: 100,
            ring_percents: vec![10, 100],
            spread_minutes: 60,
            force_swap: false,
            halt_margin_points: 10,
            max_rollback_percent: 5,
            halt_reason: None,
            started_by: "cli:root".into(),
            started_at: now,
            ring_started_at: now,
            health_since: now,
            updated_at: now,
            ended_at: None,
        };
        let event = halt_event(
            &rollout,
            "1.4.2 に切り替えた PC のうち 1 台が報告できず元のバージョンに戻りました",
        );
        event.check().unwrap();
        assert_eq!(event.kind, "rollout_halted");
        assert!(event.subject.contains("1.4.2") && event.subject.contains("Windows"));
        assert!(event.body.contains("/admin/rollouts/12"), "{}", event.body);
        assert!(
            event.body.contains("停止理由: 1.4.2 に切り替えた"),
            "{}",
            event.body
        );
    }
}
