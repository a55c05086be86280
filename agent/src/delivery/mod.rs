//! The agent service: collect every interval, write each report durably to
//! the spool, deliver the spool in order and in batches, retry with
//! exponential backoff and jitter, forget a report only once the server's
//! ack covers it.

mod backoff;
mod send;

use std::hash::{Hash, Hasher};
use std::time::Duration;

use anyhow::Context;
use onshi_proto::v1 as pb;
use onshi_proto::v1::agent_service_client::AgentServiceClient;
use prost::Message;
use rand::Rng;
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::config::{Mode, RunConfig};
use crate::probe::{self, Prober};
use crate::spool::{Limits, Spool};
use crate::state::{AgentState, StateFile};
use crate::update;
use backoff::Backoff;
pub use send::{DeliveryError, retry_after};

/// How often to check whether the client certificate is due for renewal.
const RENEW_CHECK: Duration = Duration::from_secs(6 * 3600);
/// Pause after a local disk error: the disk is not the network, and
/// backing off longer does not make it heal sooner.
const SPOOL_RETRY: Duration = Duration::from_secs(1);

/// Loop state of `run`: what is due when.
struct Schedule {
    next_collect: Instant,
    next_send: Instant,
    next_renew_check: Instant,
    attempts: u32,
    collected_once: bool,
}

pub async fn run(cfg: RunConfig) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let once = matches!(cfg.mode, Mode::Once { .. });
    // The running marker belongs to the first agent of a process tree (a
    // new version on trial runs under its parent's): crash restarts.
    let owns_marker =
        !once && std::env::var_os(update::trial::TRIAL_ENV).is_none_or(|v| v.is_empty());
    let mut crashed = None;
    if owns_marker {
        let now = chrono::Utc::now();
        let (_, previous) =
            update::crash::Marker::start(&cfg.state_dir, crate::version::get(), now);
        crashed = previous.filter(|p| update::crash::crashed(p, update::platform::boot_time(now)));
    }
    loop {
        let mut agent = Agent::start(&cfg, crashed.take()).await?;
        let exit = agent.serve(&cfg, &mut shutdown).await;
        drop(agent);
        let plan = match exit? {
            Flow::Swap(plan) => plan,
            Flow::Done | Flow::Stopped | Flow::Again => {
                if owns_marker {
                    update::crash::Marker::at(&cfg.state_dir).clear();
                }
                return Ok(());
            }
        };
        match update::trial::run(*plan, &mut shutdown).await {
            update::trial::Outcome::RolledBack => continue,
            update::trial::Outcome::Stopped => {
                if owns_marker {
                    update::crash::Marker::at(&cfg.state_dir).clear();
                }
                return Ok(());
            }
            update::trial::Outcome::Handed(child, guard) => {
                let code = update::trial::shim(child, guard, &cfg.state_dir, &mut shutdown).await;
                tracing::info!(code, "the updated agent stopped; exiting with its code");
                std::process::exit(code);
            }
        }
    }
}

impl Agent {
    /// The service loop until a stop, the end of `--once`, or a swap.
    async fn serve(
        &mut self,
        cfg: &RunConfig,
        shutdown: &mut (impl std::future::Future<Output = ()> + Unpin),
    ) -> anyhow::Result<Flow> {
        let mut backoff = Backoff::new(cfg.max_backoff);
        let now = Instant::now();
        let mut at = Schedule {
            next_collect: now,
            next_send: now,
            next_renew_check: now,
            attempts: 0,
            collected_once: false,
        };
        let once = matches!(cfg.mode, Mode::Once { .. });
        let agent = self;
        loop {
            // Every await below races SIGTERM: probes and a gRPC call can take
            // up to their timeouts, and a stop must not wait for them.
            let step = async {
                if let Some(plan) = agent.step(cfg, &mut at, &mut backoff).await? {
                    return anyhow::Ok(Flow::Swap(Box::new(plan)));
                }
                if once && at.collected_once && agent.spool.backlog() == 0 {
                    if agent.spool.unreported_loss().rejected > 0 {
                        anyhow::bail!(
                            "the server refused the report as invalid; it was set aside in {} (see the log)",
                            cfg.state_dir.join("spool").join("rejected").display()
                        );
                    }
                    return anyhow::Ok(Flow::Done);
                }
                tokio::time::sleep_until(agent.wake(&at, once)).await;
                anyhow::Ok(Flow::Again)
            };
            let flow = tokio::select! {
                flow = step => flow?,
                _ = &mut *shutdown => Flow::Stopped,
            };
            match flow {
                Flow::Again => {}
                Flow::Stopped => {
                    tracing::info!(
                        backlog = agent.spool.backlog(),
                        "stopping; the spool keeps what was not delivered"
                    );
                    return Ok(Flow::Stopped);
                }
                done_or_swap => return Ok(done_or_swap),
            }
        }
    }
}

enum Flow {
    Again,
    Done,
    Stopped,
    /// A staged update's moment came: stop this loop and try it (`update::trial`).
    Swap(Box<update::SwapPlan>),
}

struct Agent {
    channel: Channel,
    client: AgentServiceClient<Channel>,
    spool: Spool,
    /// The server's contiguous ack as last heard (it may go down if the
    /// server lost data; the spool keeps the highest).
    server_acked: u64,
    state: AgentState,
    state_file: StateFile,
    prober: Prober,
    /// Content key of the previous report, to tell unchanged (low-value)
    /// reports apart.
    last_content: Option<u64>,
    /// Current batch size: 1 while isolating a rejected report.
    max_batch: usize,
    batch_limit: usize,
    /// Agent updates: the offer, the download, the swap (docs/UPDATES.md).
    updater: update::Updater,
}

impl Agent {
    async fn start(
        cfg: &RunConfig,
        crashed: Option<update::crash::Running>,
    ) -> anyhow::Result<Agent> {
        let state_file = StateFile::new(&cfg.state_dir)?;
        let mut state = state_file.load_or_init(|| {
            crate::transport::certificate_agent_id(&cfg.state_dir).unwrap_or_else(default_agent_id)
        })?;
        if let Some(id) = &cfg.agent_id {
            state.agent_id = id.clone();
        }
        let spool_dir = cfg.state_dir.join("spool");
        let spool = Spool::open(
            &spool_dir,
            Limits {
                max_bytes: cfg.spool.max_bytes,
                segment_bytes: cfg.spool.segment_bytes,
            },
        )
        .with_context(|| format!("cannot open the spool in {}", spool_dir.display()))?;
        // The spool knows the highest seq ever written, even when the state
        // file was saved before it (a crash between the two); seqs the
        // state file counts but the spool lost are counted as corrupt.
        let mut spool = spool;
        if let Err(e) = spool.note_seqs_used_through(state.next_seq.saturating_sub(1)) {
            tracing::warn!(error = %e, "spool: cannot write the loss count yet");
        }
        state.next_seq = state.next_seq.max(spool.last_seq() + 1);
        let channel = crate::transport::channel(&cfg.server).await?;
        let batch_limit = cfg.spool.batch_reports.clamp(1, 500);
        let service = matches!(cfg.mode, Mode::Service);
        let mut updater = update::Updater::open(&cfg.state_dir, &cfg.update, service);
        if let Some(previous) = &crashed {
            updater.say_crash_restart(previous);
        }
        let agent = Agent {
            client: AgentServiceClient::new(channel.clone()),
            channel,
            server_acked: spool.acked(),
            spool,
            state,
            state_file,
            prober: Prober::new(cfg.probe.clone(), true),
            last_content: None,
            max_batch: batch_limit,
            batch_limit,
            updater,
        };
        let loss = agent.spool.unreported_loss();
        tracing::info!(
            agent_id = %agent.state.agent_id,
            server = %cfg.server.url,
            state_dir = %cfg.state_dir.display(),
            version = crate::version::get(),
            trial = agent.updater.is_trial(),
            backlog = agent.spool.backlog(),
            next_seq = agent.state.next_seq,
            corrupt = loss.corrupt,
            dropped = loss.dropped,
            "agent started"
        );
        Ok(agent)
    }

    /// Does what is due: collect, renew, deliver; a swap plan when an
    /// update's moment came.
    async fn step(
        &mut self,
        cfg: &RunConfig,
        at: &mut Schedule,
        backoff: &mut Backoff,
    ) -> anyhow::Result<Option<update::SwapPlan>> {
        let once = matches!(cfg.mode, Mode::Once { .. });
        let now = Instant::now();
        if now >= at.next_collect && !(once && at.collected_once) {
            if let Err(e) = self.collect_and_spool(&cfg.site_id).await {
                tracing::error!(error = %format!("{e:#}"), "report not written to the spool; trying again next interval");
                if once {
                    return Err(e);
                }
            }
            at.collected_once = true;
            // Fixed rate, not fixed delay: a slow probe does not shift the
            // schedule; after a long stall, one collection and back in step.
            at.next_collect += cfg.interval;
            if at.next_collect < now {
                at.next_collect = now + cfg.interval;
            }
        }
        if now >= at.next_renew_check {
            at.next_renew_check = now + RENEW_CHECK;
            self.renew_certificate(cfg).await;
        }
        if self.spool.backlog() > 0 && Instant::now() >= at.next_send {
            let result = self.deliver().await;
            let delivered = result.is_ok();
            self.after_delivery(result, cfg, at, backoff)?;
            if delivered {
                let boot = update::platform::boot_time(chrono::Utc::now());
                let agent_id = self.state.agent_id.clone();
                return Ok(self
                    .updater
                    .after_delivery(&self.channel, &agent_id, boot)
                    .await);
            }
        }
        Ok(None)
    }

    /// Schedules the next attempt from how the last one went.
    fn after_delivery(
        &mut self,
        result: Result<Duration, DeliveryError>,
        cfg: &RunConfig,
        at: &mut Schedule,
        backoff: &mut Backoff,
    ) -> anyhow::Result<()> {
        let pause = match &result {
            Ok(pause) => {
                backoff.reset();
                at.attempts = 0;
                at.next_send = Instant::now() + *pause;
                return Ok(());
            }
            Err(DeliveryError::Server(status)) => {
                // An overloaded server says when to come back; a little
                // jitter so the fleet it sent away does not return at once.
                let pause = match send::retry_after(status) {
                    Some(wait) => wait + wait.mul_f64(rand::rng().random_range(0.0..0.25)),
                    None => backoff.next(),
                };
                tracing::warn!(
                    code = ?status.code(),
                    message = status.message(),
                    retry_in = ?pause,
                    backlog = self.spool.backlog(),
                    "delivery failed; reports stay in the spool"
                );
                pause
            }
            Err(DeliveryError::Spool(e)) => {
                tracing::error!(
                    error = %e,
                    retry_in = ?SPOOL_RETRY,
                    backlog = self.spool.backlog(),
                    "spool I/O failed (local disk, not the network); check the disk of the state directory"
                );
                SPOOL_RETRY
            }
        };
        at.next_send = Instant::now() + pause;
        at.attempts += 1;
        if let (Mode::Once { max_attempts }, Err(e)) = (cfg.mode, result)
            && at.attempts >= max_attempts
        {
            anyhow::bail!("server did not acknowledge the report: {e}");
        }
        Ok(())
    }

    /// When the loop next has something to do.
    fn wake(&self, at: &Schedule, once: bool) -> Instant {
        if once && at.collected_once {
            at.next_send
        } else if self.spool.backlog() > 0 {
            at.next_collect.min(at.next_send)
        } else {
            at.next_collect
        }
    }

    async fn collect_and_spool(&mut self, site_id: &str) -> anyhow::Result<()> {
        let snapshot = self.prober.collect().await;
        let seq = self.state.next_seq;
        let mut report = probe::report::to_report(&snapshot, &self.state.agent_id, site_id, seq);
        let loss = self.spool.unreported_loss();
        if let Some(health) = report.agent.as_mut() {
            health.spool_dropped = loss.dropped;
            health.spool_corrupt = loss.corrupt;
            health.spool_rejected = loss.rejected;
            health.spool_backlog = self.spool.backlog();
            health.spool_bytes = self.spool.bytes();
        }
        let content = content_key(&report);
        let low_value = self.last_content == Some(content) && loss.is_none();
        // The seq is used whatever happens: a report that cannot be written
        // is counted as dropped by the spool and said by the next one.
        self.state.next_seq = seq + 1;
        self.spool
            .append(seq, low_value, &report.encode_to_vec(), loss)?;
        self.last_content = Some(content);
        // The spool holds the seq now; the state file is a second record of
        // it (should the spool's last record ever be lost). Saved only
        // after the append: a seq the file counts is one the spool had.
        self.save_state();
        tracing::debug!(
            seq,
            low_value,
            backlog = self.spool.backlog(),
            "report spooled"
        );
        Ok(())
    }

    /// Saves the state file; a failure is logged, not fatal: the spool's
    /// marks hold the highest seq too.
    fn save_state(&self) {
        if let Err(e) = self.state_file.save(&self.state) {
            tracing::warn!(error = %format!("{e:#}"), "cannot save the agent state; the spool still has the seq");
        }
    }

    async fn renew_certificate(&mut self, cfg: &RunConfig) {
        match crate::transport::renew_if_due(&cfg.server, self.channel.clone()).await {
            Ok(true) => match crate::transport::channel(&cfg.server).await {
                Ok(channel) => {
                    self.client = AgentServiceClient::new(channel.clone());
                    self.channel = channel;
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "renewed certificate cannot be loaded")
                }
            },
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "certificate renewal failed; will try again")
            }
        }
    }
}

/// What a report says, without what changes every time (seq, times,
/// latencies, free disk, the agent's own counters).
fn content_key(report: &pb::Report) -> u64 {
    let mut r = report.clone();
    r.seq = 0;
    r.collected_at = None;
    r.agent = None;
    if let Some(h) = r.host.as_mut() {
        h.disk_free_bytes >>= 30; // GiB
    }
    for t in &mut r.network {
        t.latency = None;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    r.encode_to_vec().hash(&mut hasher);
    hasher.finish()
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn default_agent_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "pc".into());
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40)
        .collect();
    format!(
        "{}-{:08x}",
        if host.is_empty() { "pc" } else { &host },
        rand::rng().random::<u32>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_key_ignores_what_always_changes() {
        let report = |seq: u64, latency_ns: i32, disk: u64| pb::Report {
            seq,
            collected_at: Some(prost_types::Timestamp {
                seconds: seq as i64,
                nanos: 0,
            }),
            host: Some(pb::Host {
                hostname: "pc".into(),
                disk_free_bytes: disk,
                ..Default::default()
            }),
            network: vec![pb::NetworkTarget {
                name: "router".into(),
                reachable: true,
                latency: Some(prost_types::Duration {
                    seconds: 0,
                    nanos: latency_ns,
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let a = content_key(&report(1, 1_000, 100 << 30));
        assert_eq!(a, content_key(&report(2, 9_000, (100 << 30) + 12345)));
        let mut changed = report(3, 1_000, 100 << 30);
        changed.network[0].reachable = false;
        assert_ne!(a, content_key(&changed));
    }
}
