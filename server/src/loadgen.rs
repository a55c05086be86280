//! `onshi-server loadgen`: measures ingest against a real server and a real
//! database: N enrolled agents (real client certificates, one HTTP/2
//! connection each) send batches concurrently over TLS; we report throughput
//! and latency percentiles. Figures go to docs/benchmarks.md.

use std::time::{Duration, Instant};

use onshi_proto::v1 as pb;
use onshi_proto::v1::agent_service_client::AgentServiceClient;
use tonic::transport::Channel;

use crate::cli::ServeArgs;
use crate::demo::{self, DemoSite};
use crate::error::Error;
use crate::serve;

#[derive(Debug, Clone, clap::Args)]
pub struct LoadgenArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Concurrent agents.
    #[arg(long, default_value_t = 200)]
    pub agents: u32,
    /// Batches each agent sends.
    #[arg(long, default_value_t = 25)]
    pub batches: u32,
    /// Reports per batch (1 = live reporting; larger = backlog delivery).
    #[arg(long, default_value_t = 1)]
    pub batch_size: u32,
}

pub struct Outcome {
    pub reports: u64,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
    pub errors: u64,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub async fn run(args: LoadgenArgs) -> Result<(), Error> {
    // Measure the server, not the limiter: load tests lift the per-agent cap.
    let mut serve_args = args.serve.clone();
    serve_args.agent_batches_per_minute = u32::MAX / 2;
    let running = serve::start(&serve_args).await?;
    let sites = demo::fleet(args.agents);
    demo::register_sites(&running.pool, &sites).await?;
    let run_id = format!("{:08x}", rand::random::<u32>());

    let mut clients = Vec::new();
    for site in &sites {
        let agent_id = format!("load-{run_id}-{}", site.site_id);
        let (endpoint, _) = demo::in_process_agent(&running, &agent_id, &site.site_id).await?;
        // Every connection (TLS handshake) is open before the clock starts.
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| Error::Other(e.into()))?;
        clients.push((AgentServiceClient::new(channel), site.clone(), agent_id));
    }
    eprintln!(
        "loadgen: {} agents × {} batches × {} reports, connections open; sending…",
        args.agents, args.batches, args.batch_size
    );

    let started = Instant::now();
    let mut tasks = Vec::new();
    for (client, site, agent_id) in clients {
        tasks.push(tokio::spawn(agent_load(
            client,
            site,
            agent_id,
            args.batches,
            args.batch_size,
        )));
    }
    let mut outcome = Outcome {
        reports: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        errors: 0,
    };
    for task in tasks {
        let (reports, latencies, errors) = task.await.map_err(|e| Error::Other(e.into()))?;
        outcome.reports += reports;
        outcome.errors += errors;
        outcome.latencies.extend(latencies);
    }
    outcome.elapsed = started.elapsed();
    outcome.latencies.sort();
    let secs = outcome.elapsed.as_secs_f64();
    println!(
        "agents={} batches/agent={} batch_size={}",
        args.agents, args.batches, args.batch_size
    );
    println!(
        "reports={} errors={} elapsed={:.2}s throughput={:.0} reports/s ({:.0} batches/s)",
        outcome.reports,
        outcome.errors,
        secs,
        outcome.reports as f64 / secs,
        outcome.latencies.len() as f64 / secs
    );
    println!(
        "batch latency: p50={:.1}ms p90={:.1}ms p99={:.1}ms max={:.1}ms",
        percentile(&outcome.latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&outcome.latencies, 0.90).as_secs_f64() * 1e3,
        percentile(&outcome.latencies, 0.99).as_secs_f64() * 1e3,
        percentile(&outcome.latencies, 1.0).as_secs_f64() * 1e3,
    );
    running.stop().await
}

async fn agent_load(
    mut client: AgentServiceClient<Channel>,
    site: DemoSite,
    agent_id: String,
    batches: u32,
    batch_size: u32,
) -> (u64, Vec<Duration>, u64) {
    let mut seq = 1u64;
    let mut latencies = Vec::with_capacity(batches as usize);
    let mut stored = 0u64;
    let mut errors = 0u64;
    for _ in 0..batches {
        let reports: Vec<pb::Report> = (0..batch_size)
            .map(|i| demo::demo_report(&site, &agent_id, seq + u64::from(i)))
            .collect();
        let request = pb::SubmitReportsRequest {
            agent_id: agent_id.clone(),
            reports,
            abandoned_through: 0,
        };
        let t = Instant::now();
        match client.submit_reports(request).await {
            Ok(ack) => {
                latencies.push(t.elapsed());
                stored += u64::from(ack.into_inner().stored);
                seq += u64::from(batch_size);
            }
            Err(_) => errors += 1,
        }
    }
    (stored, latencies, errors)
}
