//! `onshi-agent`: runs on the オン資PC, probes the site and reports to
//! onshi-server over gRPC/TLS. It never sends patient data or a secret.

use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches};
use onshi_agent::cli::{Cli, Command};
use onshi_agent::{config, delivery, enroll, logfile, probe, service};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

fn main() -> ExitCode {
    // `--version` says the binary's version stamp (agent updates restamp it).
    let matches = Cli::command()
        .version(onshi_agent::version::get())
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let file = match config::load(cli.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let log_file = cli.log_file.clone().or_else(|| file.log_file.clone());
    let (writer, ansi) = match log_file.as_deref().map(logfile::LogFile::open) {
        Some(Ok(f)) => (BoxMakeWriter::new(std::sync::Mutex::new(f)), false),
        Some(Err(e)) => {
            eprintln!("error: cannot open the log file: {e}");
            return ExitCode::FAILURE;
        }
        None => (
            BoxMakeWriter::new(std::io::stderr),
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ONSHI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,h2=warn")),
        )
        .with_writer(writer)
        .with_ansi(ansi)
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
            Command::Run(args) => delivery::run(config::resolve(&args, &file)?).await,
            Command::Enroll(args) => enroll::run(config::resolve_enroll(&args, &file)?).await,
            Command::Probe(args) => {
                let state_dir = config::state_dir(args.state_dir.clone(), &file);
                let mut settings = config::probe_settings(&args.probe, Some(state_dir), &file);
                if let Some(dir) = &args.record {
                    std::fs::create_dir_all(dir).with_context(|| {
                        format!("cannot create the recording directory {}", dir.display())
                    })?;
                }
                settings.record = args.record.clone();
                let snapshot = probe::Prober::new(settings, false).collect().await;
                println!("{}", serde_json::to_string_pretty(&snapshot)?);
                Ok(())
            }
            Command::Baseline(args) => {
                let state_dir = config::state_dir(args.state_dir.clone(), &file);
                std::fs::create_dir_all(&state_dir)?;
                let settings = config::probe_settings(&args.probe, Some(state_dir), &file);
                let mut prober = probe::Prober::new(settings, true);
                prober.reset_baseline();
                prober.collect().await;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&probe::baseline::summary(prober.baseline()))?
                );
                Ok(())
            }
            Command::Install(args) => service::install(&args, cli.config.as_deref()),
            Command::Uninstall => service::uninstall(),
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
