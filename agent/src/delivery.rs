//! The agent service: collect every interval, write each report durably to
//! the spool, deliver the spool in order and in batches, retry with
//! exponential backoff and jitter, forget a report only once the server's
//! ack covers it.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use anyhow::Context;
use onshi_proto::v1 as pb;
use onshi_proto::v1::agent_service_client::AgentServiceClient;
use prost::Message;
use rand::Rng;
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::cli::RunArgs;
use crate::config::FileConfig;
use crate::probe::{self, Prober};
use crate::spool::{Limits, Spool};
use crate::state::{AgentState, StateFile};

/// Largest batch in bytes: well under the server's 1 MiB message limit.
const MAX_BATCH_BYTES: usize = 512 * 1024;
/// How often to check whether the client certificate is due for renewal.
const RENEW_CHECK: Duration = Duration::from_secs(6 * 3600);

pub async fn run(args: RunArgs, file: &FileConfig) -> anyhow::Result<()> {
    let state_file = StateFile::new(&args.state_dir)?;
    let mut state = state_file.load_or_init(|| {
        crate::transport::certificate_agent_id(&args.state_dir).unwrap_or_else(default_agent_id)
    })?;
    if let Some(id) = &args.agent_id {
        state.agent_id = id.clone();
    }
    let spool_dir = args.state_dir.join("spool");
    let spool = Spool::open(
        &spool_dir,
        Limits {
            max_bytes: file.spool.max_bytes,
            segment_bytes: file.spool.segment_bytes,
        },
    )
    .with_context(|| format!("cannot open the spool in {}", spool_dir.display()))?;
    // The spool knows the highest seq ever written, even when the state
    // file was saved before it (a crash between the two).
    state.next_seq = state.next_seq.max(spool.last_seq() + 1);
    let settings = crate::config::probe_settings(&args.probe, Some(args.state_dir.clone()), file);
    let channel = crate::transport::channel(&args).await?;
    let mut agent = Agent {
        client: AgentServiceClient::new(channel.clone()),
        channel,
        server_acked: spool.acked(),
        spool,
        state,
        state_file,
        prober: Prober::new(settings, true),
        last_content: None,
        max_batch: file.spool.batch_reports.clamp(1, 500),
        batch_limit: file.spool.batch_reports.clamp(1, 500),
    };
    let loss = agent.spool.unreported_loss();
    tracing::info!(
        agent_id = %agent.state.agent_id,
        server = %args.server,
        backlog = agent.spool.backlog(),
        next_seq = agent.state.next_seq,
        corrupt = loss.corrupt,
        dropped = loss.dropped,
        "agent started"
    );

    let interval = Duration::from_secs_f64(args.interval.max(0.05));
    let mut backoff = Backoff::new(Duration::from_secs_f64(args.max_backoff.max(0.1)));
    let mut next_collect = Instant::now();
    let mut next_send = Instant::now();
    let mut next_renew_check = Instant::now();
    let mut attempts = 0u32;
    let mut collected_once = false;
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);

    loop {
        let now = Instant::now();
        if now >= next_collect && !(args.once && collected_once) {
            agent.collect_and_spool(&args.site_id).await.inspect_err(|e| {
                tracing::error!(error = %format!("{e:#}"), "report not written to the spool; trying again next interval");
            })
            .or_else(|e| if args.once { Err(e) } else { Ok(()) })?;
            collected_once = true;
            // Fixed rate, not fixed delay: a slow probe does not shift the
            // schedule; after a long stall, one collection and back in step.
            next_collect += interval;
            if next_collect < now {
                next_collect = now + interval;
            }
        }
        if now >= next_renew_check {
            next_renew_check = now + RENEW_CHECK;
            agent.renew_certificate(&args).await;
        }
        if agent.spool.backlog() > 0 && Instant::now() >= next_send {
            match agent.deliver().await {
                Ok(pause) => {
                    backoff.reset();
                    attempts = 0;
                    next_send = Instant::now() + pause;
                }
                Err(status) => {
                    attempts += 1;
                    let pause = backoff.next();
                    next_send = Instant::now() + pause;
                    tracing::warn!(
                        code = ?status.code(),
                        message = status.message(),
                        retry_in = ?pause,
                        backlog = agent.spool.backlog(),
                        "delivery failed; reports stay in the spool"
                    );
                    if args.once && attempts >= args.max_attempts {
                        anyhow::bail!(
                            "server did not acknowledge the report: {:?}: {}",
                            status.code(),
                            status.message()
                        );
                    }
                }
            }
        }
        if args.once && collected_once && agent.spool.backlog() == 0 {
            return Ok(());
        }
        let wake = if agent.spool.backlog() > 0 {
            next_collect.min(next_send)
        } else {
            next_collect
        };
        let wake = if args.once && collected_once {
            next_send
        } else {
            wake
        };
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = &mut shutdown => {
                tracing::info!(backlog = agent.spool.backlog(), "stopping; the spool keeps what was not delivered");
                return Ok(());
            }
        }
    }
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
}

impl Agent {
    async fn collect_and_spool(&mut self, site_id: &str) -> anyhow::Result<()> {
        let snapshot = self.prober.collect().await;
        let seq = self.state.next_seq;
        let mut report = probe::report::to_report(&snapshot, &self.state.agent_id, site_id, seq);
        let loss = self.spool.unreported_loss();
        if let Some(health) = report.agent.as_mut() {
            health.spool_dropped = loss.dropped;
            health.spool_corrupt = loss.corrupt;
            health.spool_backlog = self.spool.backlog();
            health.spool_bytes = self.spool.bytes();
        }
        let content = content_key(&report);
        let low_value =
            self.last_content == Some(content) && loss.dropped == 0 && loss.corrupt == 0;
        self.spool
            .append(seq, low_value, &report.encode_to_vec(), loss)?;
        self.last_content = Some(content);
        // The spool holds the seq now; the state file is a second record of
        // it (should the spool's last record ever be lost).
        self.state.next_seq = seq + 1;
        if let Err(e) = self.state_file.save(&self.state) {
            tracing::warn!(error = %format!("{e:#}"), "cannot save the agent state; the spool still has the seq");
        }
        tracing::debug!(
            seq,
            low_value,
            backlog = self.spool.backlog(),
            "report spooled"
        );
        Ok(())
    }

    /// Sends the spool in batches until it is empty. Returns the pause the
    /// server asked for, if any.
    async fn deliver(&mut self) -> Result<Duration, tonic::Status> {
        let mut stalls = 0;
        loop {
            let batch = self
                .spool
                .next_batch(self.max_batch, MAX_BATCH_BYTES)
                .map_err(|e| tonic::Status::internal(format!("spool unreadable: {e}")))?;
            let Some(batch) = batch else {
                return Ok(Duration::ZERO);
            };
            let mut reports = Vec::with_capacity(batch.payloads.len());
            for p in &batch.payloads {
                // Checked by the spool's CRC already; this cannot fail short
                // of a bug, and then the record is given up, not retried forever.
                match pb::Report::decode(p.as_slice()) {
                    Ok(r) => reports.push(r),
                    Err(e) => {
                        tracing::error!(error = %e, "spooled report does not decode; dropped");
                        self.spool
                            .give_up_oldest()
                            .map_err(|e| tonic::Status::internal(e.to_string()))?;
                        break;
                    }
                }
            }
            if reports.len() != batch.payloads.len() {
                continue;
            }
            // Every seq below the batch that the server has not acked is one
            // this agent no longer holds (dropped or corrupt): say so, so
            // that the server's contiguous ack can move past the gap.
            let abandoned_through = if batch.first > self.server_acked + 1 {
                batch.first - 1
            } else {
                0
            };
            let request = pb::SubmitReportsRequest {
                agent_id: self.state.agent_id.clone(),
                reports,
                abandoned_through,
            };
            let response = match self.client.submit_reports(request).await {
                Ok(r) => r.into_inner(),
                Err(status) => {
                    self.on_error(&status, batch.first, batch.last)?;
                    return Err(status);
                }
            };
            self.server_acked = response.acked_seq;
            if response.acked_seq >= batch.first {
                self.spool
                    .ack(response.acked_seq)
                    .map_err(|e| tonic::Status::internal(format!("spool: {e}")))?;
                self.max_batch = self.batch_limit;
                stalls = 0;
                tracing::debug!(
                    acked = response.acked_seq,
                    first = batch.first,
                    last = batch.last,
                    "batch acknowledged"
                );
            } else {
                stalls += 1;
                if stalls > 1 {
                    return Err(tonic::Status::failed_precondition(format!(
                        "server acknowledged up to {} but our oldest report is {}",
                        response.acked_seq, batch.first
                    )));
                }
            }
            if response.acked_seq >= self.state.next_seq {
                // The server has seen seqs this agent never wrote (its state
                // was restored from an old copy): never reuse them.
                tracing::warn!(
                    acked = response.acked_seq,
                    next_seq = self.state.next_seq,
                    "server is ahead of this agent; skipping seqs"
                );
                self.state.next_seq = response.acked_seq + 1;
                let _ = self.state_file.save(&self.state);
            }
            if response.retry_after_seconds > 0 {
                return Ok(Duration::from_secs(
                    response.retry_after_seconds.min(3600).into(),
                ));
            }
        }
    }

    /// Decides what a failed batch means. Only a report the server rejects
    /// as invalid on its own is ever given up (and counted); everything else
    /// is retried.
    fn on_error(
        &mut self,
        status: &tonic::Status,
        first: u64,
        last: u64,
    ) -> Result<(), tonic::Status> {
        match status.code() {
            tonic::Code::InvalidArgument if first < last => {
                // Find the bad report: one at a time from here.
                self.max_batch = 1;
            }
            tonic::Code::InvalidArgument => {
                tracing::error!(
                    seq = first,
                    message = status.message(),
                    "server rejects this report; giving it up"
                );
                self.spool
                    .give_up_oldest()
                    .map_err(|e| tonic::Status::internal(e.to_string()))?;
                self.max_batch = self.batch_limit;
            }
            // RESOURCE_EXHAUSTED is the server's rate limit (batches are kept
            // far below its size limits): wait, and keep batches large.
            _ => {}
        }
        Ok(())
    }

    async fn renew_certificate(&mut self, args: &RunArgs) {
        match crate::transport::renew_if_due(args, self.channel.clone()).await {
            Ok(true) => match crate::transport::channel(args).await {
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

/// Exponential backoff with full jitter, so a fleet that lost the server at
/// once does not come back at once.
struct Backoff {
    current: Duration,
    max: Duration,
}

impl Backoff {
    fn new(max: Duration) -> Self {
        Self {
            current: Duration::from_millis(500),
            max,
        }
    }
    fn reset(&mut self) {
        self.current = Duration::from_millis(500);
    }
    fn next(&mut self) -> Duration {
        let ceiling = self.current.min(self.max);
        self.current = (self.current * 2).min(self.max);
        let millis = ceiling.as_millis().max(1) as u64;
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_secs(4));
        let pauses: Vec<Duration> = (0..8).map(|_| b.next()).collect();
        assert!(pauses[0] <= Duration::from_millis(500));
        assert!(pauses.iter().all(|p| *p <= Duration::from_secs(4)));
        assert!(pauses[7] >= Duration::from_secs(2));
        b.reset();
        assert!(b.next() <= Duration::from_millis(500));
    }

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
