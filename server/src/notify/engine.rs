//! Notifications in a server process: the router (outbox → groups → sealed messages, repeats)
//! and a few senders. Safe on every replica: every claim is `FOR UPDATE SKIP LOCKED`.

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::watch;

use super::deliver::{self, Pass, RetryPolicy};
use super::{deliveries, router};
use crate::error::Error;
use crate::incidents::engine::WorkerMode;
use crate::metrics::Metrics;

/// How notifications run, resolved from the command line.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// `off` on a replica that leaves notifications to the others.
    pub worker: WorkerMode,
    pub retry: RetryPolicy,
    /// Messages sent at once by this process.
    pub senders: usize,
    /// The portal's address as operators reach it, for links in messages.
    pub portal_url: Option<String>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            worker: WorkerMode::On,
            retry: RetryPolicy::default(),
            senders: 4,
            portal_url: None,
        }
    }
}

const IDLE: Duration = Duration::from_millis(500);
const REPEAT_EVERY: Duration = Duration::from_secs(30);
const MEASURE_EVERY: Duration = Duration::from_secs(5);
const ON_ERROR: Duration = Duration::from_secs(5);

/// Runs the router and the senders until `stop`.
pub async fn run(
    pool: PgPool,
    metrics: Metrics,
    config: NotifyConfig,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    if config.worker == WorkerMode::Off {
        return Ok(());
    }
    let client = super::webhook::client().map_err(|e| Error::Other(e.into()))?;
    let mut senders = Vec::new();
    for _ in 0..config.senders.max(1) {
        senders.push(tokio::spawn(send_loop(
            pool.clone(),
            client.clone(),
            metrics.clone(),
            config.retry,
            stop.clone(),
        )));
    }
    route_loop(pool, metrics, config, stop).await;
    for s in senders {
        let _ = s.await;
    }
    Ok(())
}

async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = stop.changed() => true,
    }
}

async fn route_loop(
    pool: PgPool,
    metrics: Metrics,
    config: NotifyConfig,
    mut stop: watch::Receiver<bool>,
) {
    let portal = config.portal_url.as_deref();
    let mut last_repeat = std::time::Instant::now() - REPEAT_EVERY;
    let mut last_measure = std::time::Instant::now() - MEASURE_EVERY;
    loop {
        let now = Utc::now();
        let wait = match router::route_once(&pool, now, portal).await {
            Ok(r) if r.events as i64 >= router::BATCH => Duration::ZERO,
            Ok(r) => {
                if r.events > 0 {
                    tracing::debug!(
                        events = r.events,
                        queued = r.queued,
                        quiet = r.quiet,
                        "notifications routed"
                    );
                }
                IDLE
            }
            Err(e) => {
                tracing::error!(error = %e, "notification routing failed; retrying in 5 s");
                ON_ERROR
            }
        };
        if let Err(e) = router::seal_once(&pool, now, portal).await {
            tracing::error!(error = %e, "sealing notification groups failed; retrying");
        }
        if last_repeat.elapsed() >= REPEAT_EVERY {
            last_repeat = std::time::Instant::now();
            if let Err(e) = router::repeat_once(&pool, now).await {
                tracing::error!(error = %e, "notification repeats failed; next try in 30 s");
            }
        }
        if last_measure.elapsed() >= MEASURE_EVERY {
            last_measure = std::time::Instant::now();
            match pool.acquire().await {
                Ok(mut conn) => match deliveries::backlog(&mut conn, now).await {
                    Ok(b) => {
                        metrics.notify.outbox_age.set(b.oldest_age_seconds);
                        metrics.notify.outbox_pending.set(b.waiting);
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot measure the notification backlog"),
                },
                Err(e) => tracing::warn!(error = %e, "cannot measure the notification backlog"),
            }
        }
        if pause(wait, &mut stop).await {
            return;
        }
    }
}

async fn send_loop(
    pool: PgPool,
    client: reqwest::Client,
    metrics: Metrics,
    retry: RetryPolicy,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let wait = match deliver::deliver_once(&pool, &client, &retry, &metrics.notify, Utc::now())
            .await
        {
            Ok(Pass::Delivered { .. }) => Duration::ZERO,
            Ok(Pass::Idle) => IDLE,
            Err(e) => {
                tracing::error!(error = %e, "notification sender: database error; retrying in 5 s");
                ON_ERROR
            }
        };
        if !wait.is_zero() && pause(wait, &mut stop).await {
            return;
        }
    }
}
