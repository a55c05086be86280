//! What the load generator prints: the live progress line (stderr, every second) and the
//! figures at the end (stdout; docs/BENCHMARKS.md quotes them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::LoadgenArgs;
use super::servers::{cpu_seconds, status_mib};
use super::stats::Stats;

pub fn describe(args: &LoadgenArgs) -> String {
    format!(
        "{} agents, {} replica(s), {} faulty, batch_size={}, {}, {}{}",
        args.agents,
        args.replicas,
        args.faulty_percent
            .map_or("demo mix of".to_owned(), |p| format!("{p} %")),
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
    )
}

/// Every second: acknowledged reports and their rate, the interval's ack p99, errors,
/// and the servers' resident memory.
pub async fn progress(stats: Arc<Stats>, started: Instant, pids: Vec<u32>) {
    let mut last = 0u64;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let acked = Stats::get(&stats.acked);
        let interval = stats.take_interval();
        let rss: u64 = pids.iter().map(|p| status_mib(*p, "VmRSS:")).sum();
        eprint!(
            "\r{:>5.0}s connected={} acked={acked} ({}/s) p99={:.0}ms errors={} overloaded={} server_rss={rss}MiB   ",
            started.elapsed().as_secs_f64(),
            Stats::get(&stats.connected),
            acked - last,
            interval.p99,
            Stats::get(&stats.errors),
            Stats::get(&stats.overloaded),
        );
        last = acked;
    }
}

/// CPU seconds used by the servers, this process, and the PostgreSQL backends serving the
/// database (background processes such as the WAL writer are not counted).
#[derive(Debug, Clone, Default)]
pub struct Cpu {
    servers: f64,
    loadgen: f64,
    backends: Vec<(u32, f64)>,
}

impl Cpu {
    pub async fn sample(pool: &PgPool, servers: &[u32]) -> Cpu {
        let pids: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()",
        )
        .fetch_all(pool)
        .await
        .unwrap_or_default();
        Cpu {
            servers: servers.iter().map(|p| cpu_seconds(*p)).sum(),
            loadgen: cpu_seconds(std::process::id()),
            backends: pids
                .into_iter()
                .map(|p| (p as u32, cpu_seconds(p as u32)))
                .collect(),
        }
    }

    /// Used since `before` (a backend that started meanwhile counts whole).
    pub fn since(&self, before: &Cpu) -> Cpu {
        Cpu {
            servers: self.servers - before.servers,
            loadgen: self.loadgen - before.loadgen,
            backends: self
                .backends
                .iter()
                .map(|(pid, s)| {
                    let was = before
                        .backends
                        .iter()
                        .find(|(p, _)| p == pid)
                        .map_or(0.0, |b| b.1);
                    (*pid, s - was)
                })
                .collect(),
        }
    }

    fn postgres(&self) -> f64 {
        self.backends.iter().map(|(_, s)| s).sum()
    }
}

/// Prints the run's figures; returns reports/s.
pub fn figures(
    args: &LoadgenArgs,
    stats: &Stats,
    elapsed: Duration,
    server_peak_rss: &[u64],
    cpu: &Cpu,
) -> f64 {
    let secs = elapsed.as_secs_f64();
    let stored = Stats::get(&stats.acked);
    let latency = stats.run_latency();
    println!(
        "agents={} batch_size={} rate={} burst={} replicas={} faulty_percent={}",
        args.agents,
        args.batch_size,
        args.rate.map_or("max".to_owned(), |r| format!("{r:.0}")),
        args.burst,
        args.replicas,
        args.faulty_percent
            .map_or("demo".to_owned(), |p| p.to_string()),
    );
    println!(
        "reports={stored} batches={} errors={} overloaded={} elapsed={secs:.2}s",
        Stats::get(&stats.batches),
        Stats::get(&stats.errors),
        Stats::get(&stats.overloaded),
    );
    println!(
        "ack latency: p50={:.1}ms p95={:.1}ms p99={:.1}ms max={:.1}ms",
        latency.p50, latency.p95, latency.p99, latency.max
    );
    println!(
        "server_peak_rss_mb={} (per replica: {:?}) loadgen_peak_rss_mb={}",
        server_peak_rss.iter().max().copied().unwrap_or(0),
        server_peak_rss,
        status_mib(std::process::id(), "VmHWM:"),
    );
    let total = (cpu.servers + cpu.postgres() + cpu.loadgen).max(1e-9);
    println!(
        "cpu_seconds: servers={:.1} ({:.0}%) postgres_backends={:.1} ({:.0}%) loadgen={:.1} ({:.0}%) \
         per_1000_reports: servers={:.2} postgres={:.2}",
        cpu.servers,
        100.0 * cpu.servers / total,
        cpu.postgres(),
        100.0 * cpu.postgres() / total,
        cpu.loadgen,
        100.0 * cpu.loadgen / total,
        1000.0 * cpu.servers / (stored.max(1) as f64),
        1000.0 * cpu.postgres() / (stored.max(1) as f64),
    );
    stored as f64 / secs.max(1e-9)
}
