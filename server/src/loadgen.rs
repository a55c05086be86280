//! `onshi-server loadgen`: measures ingest against a real server and a real
//! database: N enrolled agents (real client certificates, one HTTP/2
//! connection each) send batches concurrently over TLS; we report throughput
//! (acknowledged = committed reports), ack latency percentiles and the ratio
//! to a bare `COPY` of the same history rows. Figures go to
//! docs/BENCHMARKS.md. The LAST stdout line is `reports_per_sec=<N>`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use onshi_proto::v1 as pb;
use onshi_proto::v1::agent_service_client::AgentServiceClient;
use tokio::task::JoinSet;
use tonic::transport::Channel;

use crate::cli::ServeArgs;
use crate::demo::{self, DemoSite};
use crate::error::Error;
use crate::serve;

mod copy_baseline;

/// Attempts per batch before an agent of the load generator gives up.
const MAX_ATTEMPTS: u32 = 30;

#[derive(Debug, Clone, clap::Args)]
pub struct LoadgenArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Concurrent agents.
    #[arg(long, default_value_t = 200)]
    pub agents: u32,
    /// Batches each agent sends (ignored when --duration is given).
    #[arg(long, default_value_t = 25)]
    pub batches: u32,
    /// Reports per batch (1 = live reporting; larger = backlog delivery).
    #[arg(long, default_value_t = 1)]
    pub batch_size: u32,
    /// Target reports/s over all agents; without it every agent sends its
    /// next batch as soon as the previous one is acknowledged.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Send for this many seconds instead of a fixed number of batches.
    #[arg(long)]
    pub duration: Option<u64>,
    /// The 8:30 burst: agents connect at random moments within
    /// --burst-seconds and start sending at once, instead of all connecting
    /// before the clock starts.
    #[arg(long)]
    pub burst: bool,
    #[arg(long, default_value_t = 60)]
    pub burst_seconds: u64,
}

/// Shared counters for the live progress line.
#[derive(Default)]
struct Progress {
    acked: AtomicU64,
    errors: AtomicU64,
    overloaded: AtomicU64,
    connected: AtomicU64,
}

struct AgentResult {
    stored: u64,
    latencies: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub async fn run(args: LoadgenArgs) -> Result<(), Error> {
    // Measure the server, not the limiter: load tests lift the per-agent cap.
    let mut serve_args = args.serve.clone();
    serve_args.agent_batches_per_minute = u32::MAX / 2;
    let running = Arc::new(serve::start(&serve_args).await?);
    let sites = demo::fleet(args.agents);
    demo::register_sites(&running.pool, &sites).await?;
    let run_id = format!("{:08x}", rand::random::<u32>());
    let progress = Arc::new(Progress::default());
    let plan = Arc::new(args.clone());

    // Enrolment (certificate issuance) is set-up, not load: it happens
    // before the clock starts, a few agents at a time.
    let mut endpoints = Vec::with_capacity(sites.len());
    for chunk in sites.chunks(32) {
        let mut set = JoinSet::new();
        for site in chunk.iter().cloned() {
            let running = running.clone();
            let agent_id = format!("load-{run_id}-{}", site.site_id);
            set.spawn(async move {
                demo::in_process_agent(&running, &agent_id, &site.site_id)
                    .await
                    .map(|(endpoint, _)| (endpoint, site, agent_id))
            });
        }
        while let Some(joined) = set.join_next().await {
            endpoints.push(joined.map_err(|e| Error::Other(e.into()))??);
        }
    }
    let mut clients = Vec::with_capacity(endpoints.len());
    if !args.burst {
        // Every connection (TLS handshake) is open before the clock starts.
        for (endpoint, site, agent_id) in endpoints {
            let channel = endpoint
                .connect()
                .await
                .map_err(|e| Error::Other(e.into()))?;
            clients.push((Some(channel), endpoint, site, agent_id));
        }
    } else {
        clients.extend(endpoints.into_iter().map(|(e, s, a)| (None, e, s, a)));
    }
    eprintln!(
        "loadgen: {} agents, batch_size={}, {}, {}{}; sending…",
        args.agents,
        args.batch_size,
        args.duration
            .map_or(format!("{} batches each", args.batches), |d| format!(
                "{d} s"
            )),
        args.rate
            .map_or("as fast as acks allow".to_owned(), |r| format!(
                "target {r:.0} reports/s"
            )),
        if args.burst { ", burst connect" } else { "" },
    );

    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (channel, endpoint, site, agent_id) in clients {
        tasks.spawn(agent_load(
            channel,
            endpoint,
            site,
            agent_id,
            plan.clone(),
            progress.clone(),
        ));
    }
    let ticker = tokio::spawn(progress_line(progress.clone(), started));
    let mut stored = 0u64;
    let mut latencies = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let result = joined.map_err(|e| Error::Other(e.into()))?;
        stored += result.stored;
        latencies.extend(result.latencies);
    }
    let elapsed = started.elapsed();
    ticker.abort();
    eprintln!();
    latencies.sort();
    let secs = elapsed.as_secs_f64();
    let reports_per_sec = stored as f64 / secs;
    println!(
        "agents={} batch_size={} rate={} burst={}",
        args.agents,
        args.batch_size,
        args.rate.map_or("max".to_owned(), |r| format!("{r:.0}")),
        args.burst
    );
    println!(
        "reports={stored} batches={} errors={} overloaded={} elapsed={secs:.2}s",
        latencies.len(),
        progress.errors.load(Ordering::Relaxed),
        progress.overloaded.load(Ordering::Relaxed),
    );
    println!(
        "ack latency: p50={:.1}ms p95={:.1}ms p99={:.1}ms max={:.1}ms",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.95)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 1.0)),
    );
    println!(
        "peak_rss_mb={} (this process: server + load generator)",
        peak_rss_mb()
    );
    match copy_baseline::measure(&running.pool, &format!("load-{run_id}-%")).await {
        Ok(copy) => println!(
            "bare_copy_rows_per_sec={:.0} ({} rows) ratio_to_copy={:.2}",
            copy.rows_per_sec,
            copy.rows,
            reports_per_sec / copy.rows_per_sec.max(1.0)
        ),
        Err(e) => eprintln!("loadgen: bare COPY comparison failed: {e}"),
    }
    println!("reports_per_sec={reports_per_sec:.0}");
    match Arc::try_unwrap(running) {
        Ok(running) => running.stop().await,
        Err(_) => Ok(()),
    }
}

async fn progress_line(progress: Arc<Progress>, started: Instant) {
    let mut last = 0u64;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let acked = progress.acked.load(Ordering::Relaxed);
        eprint!(
            "\r{:>5.0}s connected={} acked={acked} ({}/s) errors={} overloaded={}   ",
            started.elapsed().as_secs_f64(),
            progress.connected.load(Ordering::Relaxed),
            acked - last,
            progress.errors.load(Ordering::Relaxed),
            progress.overloaded.load(Ordering::Relaxed),
        );
        last = acked;
    }
}

/// One agent: connects (now, or at a random moment of the burst window),
/// then sends batches, each retried until acknowledged, so every seq is
/// eventually stored exactly once.
async fn agent_load(
    channel: Option<Channel>,
    endpoint: tonic::transport::Endpoint,
    site: DemoSite,
    agent_id: String,
    plan: Arc<LoadgenArgs>,
    progress: Arc<Progress>,
) -> AgentResult {
    let mut result = AgentResult {
        stored: 0,
        latencies: Vec::new(),
    };
    let deadline = plan
        .duration
        .map(|d| Instant::now() + Duration::from_secs(d));
    let channel = match channel {
        Some(c) => c,
        None => {
            let window = plan.burst_seconds.max(1) * 1000;
            tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % window)).await;
            loop {
                match endpoint.connect().await {
                    Ok(c) => break c,
                    Err(_) => {
                        progress.errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        }
    };
    progress.connected.fetch_add(1, Ordering::Relaxed);
    let mut client = AgentServiceClient::new(channel);
    // Each agent's share of --rate, started at a random phase so the
    // fleet's sends spread over the interval.
    let mut pace = plan.rate.map(|rate| {
        let per_agent = rate / f64::from(plan.agents.max(1)) / f64::from(plan.batch_size.max(1));
        let period = Duration::from_secs_f64(1.0 / per_agent.max(1e-3));
        let phase = period.mul_f64(rand::random::<f64>());
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
    let mut seq = 1u64;
    let mut sent_batches = 0u32;
    loop {
        let more = match deadline {
            Some(d) => Instant::now() < d,
            None => sent_batches < plan.batches,
        };
        if !more {
            break;
        }
        if let Some(pace) = pace.as_mut() {
            pace.tick().await;
        }
        let reports: Vec<pb::Report> = (0..plan.batch_size)
            .map(|i| demo::demo_report(&site, &agent_id, seq + u64::from(i)))
            .collect();
        let request = pb::SubmitReportsRequest {
            agent_id: agent_id.clone(),
            reports,
            abandoned_through: 0,
            update: None,
        };
        // A started batch is retried until acknowledged, also past the
        // deadline: every report the server stored is then also counted.
        let mut attempts = 0;
        loop {
            let t = Instant::now();
            match client.submit_reports(request.clone()).await {
                Ok(ack) => {
                    result.latencies.push(t.elapsed());
                    let stored = u64::from(ack.into_inner().stored);
                    result.stored += stored;
                    progress.acked.fetch_add(stored, Ordering::Relaxed);
                    break;
                }
                Err(status) => {
                    attempts += 1;
                    if attempts >= MAX_ATTEMPTS {
                        eprintln!(
                            "loadgen: {agent_id}: giving up after {attempts} attempts: {status}"
                        );
                        return result;
                    }
                    // Same seq again after the server's wait (as the agent does).
                    let wait = if status.code() == tonic::Code::Unavailable {
                        progress.overloaded.fetch_add(1, Ordering::Relaxed);
                        retry_after(&status).unwrap_or(1)
                    } else {
                        progress.errors.fetch_add(1, Ordering::Relaxed);
                        1
                    };
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
            }
        }
        seq += u64::from(plan.batch_size);
        sent_batches += 1;
    }
    result
}

fn retry_after(status: &tonic::Status) -> Option<u64> {
    status
        .metadata()
        .get("retry-after-seconds")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Peak resident set of this process in MiB (Linux `VmHWM`), 0 elsewhere.
fn peak_rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}
