//! `onshi-server loadgen`: measures ingest against real servers and a real database. It
//! starts `--replicas` `onshi-server serve` processes (with the `serve` options it was
//! given) on one database, enrols N agents (real client certificates, one HTTP/2 connection
//! each over mTLS, spread over the replicas), sends, and reports throughput (acknowledged =
//! committed reports), ack latency percentiles, the servers' peak memory, where the CPU went
//! (servers, PostgreSQL backends, itself) and the ratio to a bare `COPY` of the same history
//! rows. SIGTERM / Ctrl-C stops it after the batches in flight, with the figures. A progress
//! line goes to stderr every second. Figures go to docs/BENCHMARKS.md. The LAST stdout line
//! is `reports_per_sec=<N>`.

use std::sync::Arc;
use std::time::Instant;

use clap::{Args as _, CommandFactory};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::cli::ServeArgs;
use crate::demo;
use crate::error::Error;
use crate::tls::Pki;

mod agents;
mod copy_baseline;
mod report;
pub mod servers;
mod stats;

use servers::ServerProcess;
use stats::Stats;

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
    /// Server processes (replicas) on the same database; agents are spread over them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub replicas: u32,
    /// Share of sites whose reports carry a finding (reader off, certificate expiring, …),
    /// each then evaluated into incidents. Default: the demo fleet's mix (about 40 %).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub faulty_percent: Option<u32>,
}

/// Gives `percent` of the sites a finding and the others none (spread evenly).
fn with_faults(mut sites: Vec<demo::DemoSite>, percent: Option<u32>) -> Vec<demo::DemoSite> {
    use demo::Fault;
    let Some(percent) = percent else {
        return sites;
    };
    let kinds = [
        Fault::ReaderOff,
        Fault::CertExpiring,
        Fault::AccountChanged,
        Fault::NoReboot,
        Fault::RouterUnreachable,
    ];
    for (i, site) in sites.iter_mut().enumerate() {
        site.fault = if (i * 37) % 100 < percent as usize {
            kinds[i % kinds.len()]
        } else {
            Fault::None
        };
    }
    sites
}

/// The load generator's own flags (the rest of its command line goes to `serve`).
fn own_flags() -> Vec<(String, bool)> {
    let serve: Vec<String> = ServeArgs::augment_args(clap::Command::new("serve"))
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect();
    crate::cli::Cli::command()
        .find_subcommand("loadgen")
        .map(|c| {
            c.get_arguments()
                .filter(|a| !serve.contains(&a.get_id().to_string()))
                .filter_map(|a| {
                    Some((
                        format!("--{}", a.get_long()?),
                        a.get_action().takes_values(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Everything started before the clock: the database, the servers, the enrolled agents.
struct Setup {
    pool: sqlx::PgPool,
    replicas: Vec<ServerProcess>,
    agents: Vec<agents::SimAgent>,
    channels: Vec<Option<tonic::transport::Channel>>,
    run_id: String,
}

async fn setup(args: &LoadgenArgs) -> Result<Setup, Error> {
    let open_files = crate::ingest::listener::raise_open_file_limit();
    if open_files < u64::from(args.agents) + 256 {
        eprintln!(
            "loadgen: the open-file limit ({open_files}) is below agents + 256; raise it for the benchmark (`ulimit -n`)"
        );
    }
    if args.serve.db.database_url.is_none() {
        return Err(Error::InvalidArgument(
            "loadgen needs DATABASE_URL (or --database-url): its servers run as separate processes on that database".into(),
        ));
    }
    let data_dir = args.serve.db.data_dir();
    std::fs::create_dir_all(&data_dir)?;
    let database = crate::db::connect(&args.serve.db).await?;
    crate::db::migrate(&database.pool).await?;
    let pool = database.pool;
    let sites = with_faults(demo::fleet(args.agents), args.faulty_percent);
    demo::register_sites(&pool, &sites).await?;

    let argv: Vec<String> = std::env::args()
        .skip_while(|a| a != "loadgen")
        .skip(1)
        .collect();
    let serve_args = servers::serve_args(&argv, &own_flags());
    let mut replicas = Vec::new();
    for i in 0..args.replicas {
        // The first creates the CA in the shared data directory; the others load it.
        let log = data_dir.join(format!("loadgen-server-{i}.log"));
        replicas.push(ServerProcess::start(&serve_args, &log)?);
    }
    let pki = Arc::new(Pki::load(&data_dir.join("pki"))?);
    let run_id = format!("{:08x}", rand::random::<u32>());
    let addrs: Vec<String> = replicas.iter().map(|r| r.grpc_addr.clone()).collect();
    let agents = agents::enrol(&pool, pki, sites, &run_id, &addrs).await?;
    let channels = if args.burst {
        vec![None; agents.len()]
    } else {
        agents::connect_all(&agents)
            .await?
            .into_iter()
            .map(Some)
            .collect()
    };
    Ok(Setup {
        pool,
        replicas,
        agents,
        channels,
        run_id,
    })
}

pub async fn run(args: LoadgenArgs) -> Result<(), Error> {
    let Setup {
        pool,
        replicas,
        agents: sim,
        channels,
        run_id,
    } = setup(&args).await?;
    eprintln!(
        "loadgen: {}; sending… (SIGTERM or Ctrl-C stops after the batches in flight)",
        report::describe(&args)
    );

    let (stop_tx, stop) = watch::channel(false);
    let stats = Arc::new(Stats::default());
    let plan = Arc::new(args.clone());
    let pids: Vec<u32> = replicas.iter().map(ServerProcess::pid).collect();
    let cpu_before = report::Cpu::sample(&pool, &pids).await;
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (agent, channel) in sim.into_iter().zip(channels) {
        tasks.spawn(agents::run(
            agent,
            channel,
            plan.clone(),
            stats.clone(),
            stop.clone(),
        ));
    }
    let ticker = tokio::spawn(report::progress(stats.clone(), started, pids.clone()));
    let signals = tokio::spawn(async move {
        crate::serve::Signals::install().wait().await;
        eprintln!("\nloadgen: stopping after the batches in flight…");
        let _ = stop_tx.send(true);
    });
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| Error::Other(e.into()))?;
    }
    let elapsed = started.elapsed();
    ticker.abort();
    signals.abort();
    eprintln!();
    let cpu = report::Cpu::sample(&pool, &pids).await.since(&cpu_before);
    let rss: Vec<u64> = pids
        .iter()
        .map(|p| servers::status_mib(*p, "VmHWM:"))
        .collect();
    let reports_per_sec = report::figures(&args, &stats, elapsed, &rss, &cpu);
    match copy_baseline::measure(&pool, &format!("load-{run_id}-%")).await {
        Ok(copy) => println!(
            "bare_copy_rows_per_sec={:.0} ({} rows) ratio_to_copy={:.2}",
            copy.rows_per_sec,
            copy.rows,
            reports_per_sec / copy.rows_per_sec.max(1.0)
        ),
        Err(e) => eprintln!("loadgen: bare COPY comparison failed: {e}"),
    }
    println!("reports_per_sec={reports_per_sec:.0}");
    for r in replicas {
        r.stop();
    }
    pool.close().await;
    Ok(())
}
