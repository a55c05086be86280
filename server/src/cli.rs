//! Command line: `onshi-server serve | migrate | demo | desk ...`.
//! Every option has an environment fallback shown in `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::desk::cli::DeskCommand;

#[derive(Debug, Parser)]
#[command(
    name = "onshi-server",
    version,
    about = "Onshi Fleet server (オン資端末 フリート監視・保守窓口)"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: crate::config_file::ConfigArgs,
    #[command(flatten)]
    pub log: crate::logging::LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run gRPC ingest and the portal until SIGTERM / Ctrl-C.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(DbArgs),
    /// Start the server with a simulated fleet of agents (demo).
    Demo(DemoArgs),
    /// Measure ingest: concurrent enrolled agents over real TLS (benchmark).
    Loadgen(crate::loadgen::LoadgenArgs),
    /// Maintenance-desk routing and the business calendar.
    #[command(subcommand)]
    Desk(DeskCommand),
    /// Operator accounts (first administrator).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Audit log tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Sites and agent enrolment tokens.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Configuration file and effective settings (docs/CONFIGURATION.md).
    #[command(subcommand)]
    Config(crate::config_file::ConfigCommand),
    /// Copy the internal CA (ca.pem, ca.key) out of the data directory.
    Backup(crate::ca_backup::BackupArgs),
    /// Put a backed-up CA into the data directory (before `serve`).
    Restore(crate::ca_backup::RestoreArgs),
    /// Ask the local HTTP listener for /healthz (container HEALTHCHECK).
    Healthcheck(crate::healthcheck::HealthcheckArgs),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an operator. Prints a one-time password unless --password-stdin.
    Create {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        username: String,
        #[arg(long, value_enum)]
        role: crate::auth::Role,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit log's hash chain; exit 1 if any row was altered.
    Verify {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Register a site.
    Add {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        site_id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        prefecture: String,
        #[arg(long, default_value = "clinic", value_parser = ["clinic", "pharmacy", "home_nursing"])]
        kind: String,
        #[arg(long, value_parser = ["fujitsu", "panasonic", "atlus", "almex", "canon"])]
        reader_maker: Option<String>,
        #[arg(long, value_parser = ["AT-AR1050V", "NVR700", "RTX830"])]
        router_model: Option<String>,
        #[arg(long, default_value = "none", value_parser = ["none", "omakase"])]
        maintenance: String,
    },
    /// Issue a one-time enrolment token for a site (printed once).
    Token {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        site_id: String,
        /// Hours the token stays valid.
        #[arg(long, default_value_t = 24)]
        ttl_hours: i64,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// PostgreSQL URL. Unset: use 127.0.0.1:5432, or start a private cluster
    /// under --data-dir if PostgreSQL is installed but not running.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Directory for the server's own files (private PostgreSQL cluster, TLS
    /// certificates). Default: the user's data directory.
    #[arg(long, env = "ONSHI_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

impl DbArgs {
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            dirs::data_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join("onshi-fleet")
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// gRPC listen address for agents (TLS).
    #[arg(long, env = "ONSHI_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,
    /// HTTP listen address for the portal, /healthz, /readyz, /metrics.
    #[arg(long, env = "ONSHI_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Extra DNS names / IPs for the server's TLS certificate (repeatable).
    #[arg(long = "tls-san", env = "ONSHI_TLS_SAN", value_delimiter = ',')]
    pub tls_sans: Vec<String>,
    /// Days of report history to keep; older daily partitions are dropped.
    #[arg(long, env = "ONSHI_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u32,
    /// The portal is reached over HTTPS through a TLS-terminating proxy:
    /// session cookies get `Secure`, responses carry HSTS.
    #[arg(long, env = "ONSHI_BEHIND_TLS")]
    pub behind_tls: bool,
    /// Report batches one agent may send per minute (burst of the same size).
    #[arg(long, env = "ONSHI_AGENT_BATCHES_PER_MINUTE", default_value_t = 30)]
    pub agent_batches_per_minute: u32,
    /// Largest gRPC message accepted, in bytes.
    #[arg(long, env = "ONSHI_MAX_MESSAGE_BYTES", default_value_t = 1024 * 1024)]
    pub max_message_bytes: usize,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Number of simulated sites.
    #[arg(long, default_value_t = 200)]
    pub sites: u32,
    /// Seconds between reports of each simulated agent.
    #[arg(long, default_value_t = 15)]
    pub interval: u64,
}
