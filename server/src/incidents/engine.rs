//! The incident engine's background tasks in a server process: the outbox worker and the
//! sweep. Both are safe to run on every replica (SKIP LOCKED claims, one sweeper by lock).

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::watch;

use super::lifecycle::Policy;
use super::sweep::{self, OfflinePolicy};
use super::worker;
use crate::error::Error;
use crate::metrics::Metrics;

/// How the engine runs, resolved from the command line.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    pub policy: Policy,
    pub offline: OfflinePolicy,
    pub sweep_every: Duration,
    pub worker: WorkerMode,
}

/// Whether this process drains the evaluation outbox (a replica may leave it to others).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkerMode {
    On,
    Off,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            policy: Policy::default(),
            offline: OfflinePolicy::default(),
            sweep_every: Duration::from_secs(30),
            worker: WorkerMode::On,
        }
    }
}

/// Drains the outbox until stopped: at once while there is work, else every 250 ms.
pub async fn run_worker(
    pool: PgPool,
    metrics: Metrics,
    config: EngineConfig,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    if config.worker == WorkerMode::Off {
        return Ok(());
    }
    loop {
        let pause = match worker::drain_once(&pool, &config.policy, Utc::now()).await {
            Ok(d) => {
                metrics.incidents.evaluation_lag.set(d.lag_seconds);
                if !d.applied.opened.is_empty() || !d.applied.resolved.is_empty() {
                    tracing::info!(
                        opened = d.applied.opened.len(),
                        reopened = d.applied.reopened.len(),
                        resolved = d.applied.resolved.len(),
                        "incidents updated"
                    );
                }
                if d.entries as i64 >= worker::BATCH {
                    Duration::ZERO
                } else {
                    Duration::from_millis(250)
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "incident worker: pass failed; retrying in 5 s");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Sweeps every `sweep_every` and refreshes the open-incident gauges.
pub async fn run_sweep(
    pool: PgPool,
    metrics: Metrics,
    config: EngineConfig,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut tick = tokio::time::interval(config.sweep_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return Ok(()),
        }
        let started = std::time::Instant::now();
        match sweep::sweep_once(&pool, &config.policy, &config.offline, Utc::now()).await {
            Ok(s) if s.ran => {
                metrics
                    .incidents
                    .sweep_seconds
                    .observe(started.elapsed().as_secs_f64());
                if !s.applied.opened.is_empty()
                    || !s.applied.reopened.is_empty()
                    || !s.applied.resolved.is_empty()
                {
                    tracing::info!(
                        offline_opened = s.applied.opened.len() + s.applied.reopened.len(),
                        resolved = s.applied.resolved.len(),
                        settled = s.settled,
                        "sweep"
                    );
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "incident sweep failed; next one in one interval")
            }
        }
        if let Err(e) = refresh_open_gauge(&pool, &metrics).await {
            tracing::warn!(error = %e, "cannot count open incidents for /metrics");
        }
    }
}

async fn refresh_open_gauge(pool: &PgPool, metrics: &Metrics) -> Result<(), Error> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT severity, rule, count(*) FROM incidents WHERE state <> 'resolved' GROUP BY 1, 2",
    )
    .fetch_all(pool)
    .await?;
    metrics.incidents.open.clear();
    for (severity, rule, n) in rows {
        metrics
            .incidents
            .open
            .get_or_create(&super::metrics::OpenLabels { severity, rule })
            .set(n);
    }
    Ok(())
}
