//! Collect every interval, deliver in order, retry with backoff.
//!
//! Reports wait in an in-memory queue until the server's ack covers their
//! seq. (The durable on-disk spool replaces this queue in the agent issue;
//! the seq is already persisted so it never repeats after a restart.)

use std::collections::VecDeque;
use std::time::Duration;

use onshi_proto::v1 as pb;
use onshi_proto::v1::agent_service_client::AgentServiceClient;
use rand::Rng;
use tonic::transport::Channel;

use crate::cli::RunArgs;
use crate::probe;
use crate::state::StateFile;

/// Most reports sent in one call.
const BATCH: usize = 100;
/// Reports kept while the server is unreachable (a week at 60 s).
const QUEUE_LIMIT: usize = 10_080;

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let state_file = StateFile::new(&args.state_dir)?;
    let mut state = state_file.load_or_init(|| default_agent_id())?;
    if let Some(id) = &args.agent_id {
        state.agent_id = id.clone();
    }
    let channel = crate::transport::channel(&args).await?;
    let mut client = AgentServiceClient::new(channel);
    let mut queue: VecDeque<pb::Report> = VecDeque::new();
    let mut dropped = 0u64;
    // Highest seq given up without delivery (see SubmitReportsRequest).
    // Reports queued by an earlier process died with it (the queue is in
    // memory until the durable spool lands), so every earlier seq is given up.
    let mut abandoned_through = state.next_seq - 1;
    let interval = Duration::from_secs_f64(args.interval.max(0.05));
    let mut attempts = 0u32;
    let mut backoff = Backoff::new(Duration::from_secs_f64(args.max_backoff.max(0.1)));
    tracing::info!(agent_id = %state.agent_id, server = %args.server, "agent started");

    loop {
        let snapshot = probe::collect(&args.probe).await;
        let mut report =
            probe::to_report(&snapshot, &state.agent_id, &args.site_id, state.next_seq);
        report.agent = Some(pb::AgentHealth {
            spool_dropped: dropped,
            spool_corrupt: 0,
            spool_backlog: queue.len() as u64,
        });
        // Counted "since the last report": this report carries them.
        dropped = 0;
        // Persist the seq before the report can leave the process.
        state.next_seq += 1;
        state_file.save(&state)?;
        if queue.len() >= QUEUE_LIMIT {
            if let Some(old) = queue.pop_front() {
                abandoned_through = old.seq;
                dropped += 1;
            }
        }
        queue.push_back(report);

        loop {
            match deliver(&mut client, &state.agent_id, abandoned_through, &mut queue).await {
                Ok(()) => {
                    backoff.reset();
                    if args.once {
                        return Ok(());
                    }
                    break;
                }
                Err(status) => {
                    attempts += 1;
                    let pause = backoff.next();
                    tracing::warn!(code = ?status.code(), message = status.message(), retry_in = ?pause, queued = queue.len(), "delivery failed; reports kept for retry");
                    if args.once && attempts >= args.max_attempts {
                        anyhow::bail!(
                            "server did not acknowledge the report: {:?}: {}",
                            status.code(),
                            status.message()
                        );
                    }
                    if !args.once && is_permanent(&status) {
                        // A rejected report would block the queue forever;
                        // drop it, count it, and report the loss upstream.
                        if let Some(bad) = queue.pop_front() {
                            tracing::error!(seq = bad.seq, "server rejected report; dropping it");
                            abandoned_through = bad.seq;
                            dropped += 1;
                        }
                    }
                    tokio::time::sleep(pause).await;
                    if !args.once && queue.is_empty() {
                        break;
                    }
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// Sends queued reports in batches until the queue is empty.
async fn deliver(
    client: &mut AgentServiceClient<Channel>,
    agent_id: &str,
    abandoned_through: u64,
    queue: &mut VecDeque<pb::Report>,
) -> Result<(), tonic::Status> {
    while !queue.is_empty() {
        let reports: Vec<pb::Report> = queue.iter().take(BATCH).cloned().collect();
        let request = pb::SubmitReportsRequest {
            agent_id: agent_id.to_owned(),
            reports,
            abandoned_through,
        };
        let ack = client.submit_reports(request).await?.into_inner();
        let before = queue.len();
        queue.retain(|r| r.seq > ack.acked_seq);
        tracing::debug!(
            acked = ack.acked_seq,
            removed = before - queue.len(),
            "batch acknowledged"
        );
        if before == queue.len() {
            // The server holds a gap below our oldest report (e.g. reports
            // lost before this version); nothing more to gain by resending.
            return Err(tonic::Status::failed_precondition(format!(
                "server acknowledged up to {} but our oldest report is {}",
                ack.acked_seq,
                queue.front().map(|r| r.seq).unwrap_or(0)
            )));
        }
    }
    Ok(())
}

fn is_permanent(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::InvalidArgument | tonic::Code::ResourceExhausted
    )
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
