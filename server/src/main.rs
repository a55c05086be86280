//! `onshi-server`: see `onshi-server --help`.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use onshi_server::cli::{Cli, Command};
use onshi_server::{
    ca_backup, commands, config_check, config_file, db, demo, desk, healthcheck, loadgen, logging,
    serve,
};

fn main() -> ExitCode {
    // The configuration file only sets environment variables that are not
    // set yet, so clap sees flag > environment > file > default. It runs
    // first: no other thread exists yet (config_file::apply sets env vars).
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let applied = match config_file::apply(&Cli::command(), &args) {
        Ok(applied) => applied,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(&args);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Inside the runtime: the optional OTLP exporter's channel needs it.
    let logging = {
        let _runtime = runtime.enter();
        logging::init(&cli.log)
    };
    if let Err(e) = logging {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    if let Some(file) = &applied.file {
        tracing::info!(file = %file.display(), keys = applied.from_file.len(), "configuration file applied");
    }
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
            Command::HoursDefault(cmd) => {
                use onshi_server::cli::HoursDefaultCommand;
                use onshi_server::sites::hours_cli;
                match cmd {
                    HoursDefaultCommand::List { db } => hours_cli::defaults_list(&db).await?,
                    HoursDefaultCommand::Set {
                        db,
                        kind,
                        set,
                        builtin,
                    } => hours_cli::defaults_set(&db, kind, set, builtin).await?,
                }
            }
            Command::Config(config_file::ConfigCommand::Check) => {
                let report = config_check::check(&Cli::command(), &applied);
                print!("{}", report.text);
                if !report.problems.is_empty() {
                    for problem in &report.problems {
                        eprintln!("error: {problem}");
                    }
                    std::process::exit(1);
                }
                println!("# configuration OK");
            }
            Command::Backup(args) => ca_backup::backup(&args).await?,
            Command::Restore(args) => ca_backup::restore(&args).await?,
            Command::Healthcheck(args) => healthcheck::run(&args).await?,
            Command::Escalation(cmd) => onshi_server::escalation::cli::run(cmd).await?,
            Command::Maker(cmd) => onshi_server::escalation::directory_cli::maker(cmd).await?,
            Command::ReceiptVendor(cmd) => {
                onshi_server::escalation::directory_cli::receipt_vendor(cmd).await?
            }
            Command::Release(cmd) => onshi_server::updates::cli::release(cmd).await?,
            Command::Rollout(cmd) => onshi_server::updates::cli::rollout(cmd).await?,
            Command::Channel(cmd) => {
                if !onshi_server::notify::cli::channel(cmd).await? {
                    std::process::exit(1);
                }
            }
            Command::Route(cmd) => onshi_server::notify::cli::route(cmd).await?,
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
