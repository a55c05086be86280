//! `onshi-agent`: runs on the オン資PC, probes the site and reports to
//! onshi-server over gRPC/TLS. It never sends patient data or a secret.

mod cli;
mod delivery;
mod enroll;
mod probe;
mod spool;
mod state;
mod transport;

use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ONSHI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,h2=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // A small runtime: the agent does little, and runs on busy clinic PCs.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => delivery::run(args).await,
            Command::Enroll(args) => enroll::run(args).await,
            Command::Probe(args) => {
                let snapshot = probe::collect(&args.probe).await;
                println!("{}", serde_json::to_string_pretty(&snapshot)?);
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
