//! `onshi-server`: see `onshi-server --help`.

use std::process::ExitCode;

use clap::Parser;
use onshi_server::cli::{Cli, Command};
use onshi_server::{commands, db, demo, desk, loadgen, serve};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: anyhow::Result<()> = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => {
                let running = serve::start(&args).await?;
                println!("grpc: {}  http: {}", running.grpc_addr, running.http_addr);
                running.run_until_signal().await?;
            }
            Command::Migrate(args) => {
                let database = db::connect(&args).await?;
                db::migrate(&database.pool).await?;
                println!("migrations applied");
                if let Some(cluster) = database.private_cluster {
                    cluster.stop().await;
                }
            }
            Command::Demo(args) => demo::run(args).await?,
            Command::Loadgen(args) => loadgen::run(args).await?,
            Command::Admin(cmd) => commands::admin(cmd).await?,
            Command::Audit(cmd) => {
                if !commands::audit(cmd).await? {
                    std::process::exit(1);
                }
            }
            Command::Site(cmd) => commands::site(cmd).await?,
            Command::Seed(args) => onshi_server::seed::run(args).await?,
            Command::Sweep(args) => commands::sweep(args).await?,
            Command::Incidents(cmd) => onshi_server::incidents::cli::incidents(cmd).await?,
            Command::Silence(cmd) => onshi_server::incidents::cli::silence(cmd).await?,
            Command::Desk(cmd) => {
                let mut out = std::io::stdout().lock();
                if let Err(e) = desk::cli::run(cmd, &mut out) {
                    eprintln!("error: {e}");
                    // Usage errors exit 2, like clap's own (issue 5 contract).
                    std::process::exit(e.exit_code());
                }
            }
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "onshi-server stopped with an error");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("ONSHI_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info,h2=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
