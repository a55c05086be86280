//! Command line: `onshi-server serve | migrate | demo | desk ...`.
//! Every option has an environment fallback shown in `--help`.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

use crate::desk::cli::DeskCommand;

/// The database arguments live beside the code that uses them (`db.rs`).
pub use crate::db::DbArgs;

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
    /// Fill an empty database with a national-scale fleet (benchmarks, console at scale).
    Seed(crate::seed::SeedArgs),
    /// Run one offline / hold-down sweep now (or as at `--at`) and print what it did.
    Sweep(SweepArgs),
    /// Incidents: what an operator must act on.
    #[command(subcommand)]
    Incidents(crate::incidents::cli::IncidentsCommand),
    /// Silences / maintenance windows for incidents.
    #[command(subcommand)]
    Silence(crate::incidents::cli::SilenceCommand),
    /// Business-hours defaults per site kind (for sites without hours of their own).
    #[command(subcommand)]
    HoursDefault(HoursDefaultCommand),
    /// Configuration file and effective settings (docs/CONFIGURATION.md).
    #[command(subcommand)]
    Config(crate::config_file::ConfigCommand),
    /// Copy the internal CA (ca.pem, ca.key) out of the data directory.
    Backup(crate::ca_backup::BackupArgs),
    /// Put a backed-up CA into the data directory (before `serve`).
    Restore(crate::ca_backup::RestoreArgs),
    /// Ask the local HTTP listener for /healthz (container HEALTHCHECK).
    Healthcheck(crate::healthcheck::HealthcheckArgs),
    /// Escalation to vendors and desks: drafts, sending, calls, tickets and status.
    #[command(subcommand)]
    Escalation(crate::escalation::cli::EscalationCommand),
    /// The face-auth reader makers' desks (the maker directory).
    #[command(subcommand)]
    Maker(crate::escalation::directory_cli::MakerCommand),
    /// The receipt-system vendors' desks (the receipt-vendor directory).
    #[command(subcommand)]
    ReceiptVendor(crate::escalation::directory_cli::ReceiptVendorCommand),
    /// Agent releases: signing keys, signing (offline), publishing (docs/UPDATES.md).
    #[command(subcommand)]
    Release(crate::updates::cli::ReleaseCommand),
    /// Rolling a release out to the fleet in rings (docs/UPDATES.md).
    #[command(subcommand)]
    Rollout(crate::updates::cli::RolloutCommand),
    /// Notification channels (webhook, SMTP), their deliveries and retries.
    #[command(subcommand)]
    Channel(crate::notify::cli::ChannelCommand),
    /// Notification routing rules: which incidents go to which channels.
    #[command(subcommand)]
    Route(crate::notify::cli::RouteCommand),
}

/// Whether a site is closed on national holidays and 12/29–1/3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HolidayRule {
    Open,
    Closed,
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
        #[command(flatten)]
        site: SiteArgs,
    },
    /// Change a registered site's profile (only the options given change).
    Update {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        site: SiteArgs,
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
    /// Show a site's business hours (in Japanese), after changing them if asked.
    Hours {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        site_id: String,
        /// Weekly schedule, e.g. "mon-fri 09:00-12:30,14:00-18:00; sat 09:00-13:00".
        #[arg(long, conflicts_with = "default")]
        set: Option<String>,
        /// Back to the default hours for the site's kind.
        #[arg(long)]
        default: bool,
        /// Open or closed on national holidays and 12/29–1/3.
        #[arg(long, value_enum)]
        holidays: Option<HolidayRule>,
    },
    /// Record a date the site is closed (or open in other hours with --open), or --remove it.
    ClosedDay {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        site_id: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// Open that day in these bands instead (repeatable or comma separated, e.g. 10:00-12:00).
        #[arg(long, value_delimiter = ',', conflicts_with = "remove")]
        open: Vec<String>,
        #[arg(long, conflicts_with = "remove")]
        note: Option<String>,
        /// Remove the exception (the weekly schedule applies again).
        #[arg(long)]
        remove: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum HoursDefaultCommand {
    /// Show each site kind's default hours and how many sites use them.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Replace a site kind's default hours (audited); every replica applies it at its next sweep.
    Set {
        #[command(flatten)]
        db: DbArgs,
        /// The site kind whose default changes.
        #[arg(long, value_enum)]
        kind: crate::sites::SiteKind,
        /// Weekly schedule, e.g. "mon-fri 09:00-18:00; sat 09:00-13:00" (or --builtin).
        #[arg(long)]
        set: Option<String>,
        /// Back to the built-in default for the kind.
        #[arg(long, conflicts_with = "set")]
        builtin: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Sweep as if it were this instant (RFC 3339), e.g. to check a schedule.
    #[arg(long)]
    pub at: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// Minutes a site may be silent while open before `offline` is raised.
    #[arg(long, default_value_t = 15)]
    pub offline_after_minutes: u32,
}

/// A site's profile on the command line (`site add`, `site update`).
#[derive(Debug, Clone, Args)]
pub struct SiteArgs {
    #[arg(long)]
    pub site_id: String,
    /// Name as operators know it (e.g. 山田医院).
    #[arg(long)]
    pub name: Option<String>,
    /// 都道府県, full name (e.g. 東京都).
    #[arg(long)]
    pub prefecture: Option<String>,
    #[arg(long, value_enum)]
    pub kind: Option<crate::sites::SiteKind>,
    #[arg(long, value_enum)]
    pub reader_maker: Option<crate::sites::ReaderMaker>,
    #[arg(long, value_enum)]
    pub router_model: Option<crate::sites::RouterModel>,
    #[arg(long, value_enum)]
    pub maintenance: Option<crate::sites::Maintenance>,
    /// 「Nにおまかせ！ITサポート」 dedicated dial from the contract.
    #[arg(long)]
    pub omakase_dial: Option<String>,
    /// 医療機関等コード (10 digits).
    #[arg(long)]
    pub medical_code: Option<String>,
    #[arg(long)]
    pub address: Option<String>,
    #[arg(long)]
    pub phone: Option<String>,
    #[arg(long)]
    pub contact_person: Option<String>,
    #[arg(long)]
    pub pc_serial: Option<String>,
    #[arg(long)]
    pub router_serial: Option<String>,
    /// Name of the site's レセコン vendor.
    #[arg(long)]
    pub receipt_vendor: Option<String>,
    /// Phone / mail of the レセコン vendor.
    #[arg(long)]
    pub receipt_vendor_contact: Option<String>,
}

impl SiteArgs {
    /// Applies the options given on top of `base` (an existing profile, or a new site).
    pub fn apply(&self, mut base: crate::sites::SiteInput) -> crate::sites::SiteInput {
        base.site_id = self.site_id.clone();
        let set = |field: &mut String, value: &Option<String>| {
            if let Some(v) = value {
                *field = v.clone();
            }
        };
        set(&mut base.name, &self.name);
        set(&mut base.prefecture, &self.prefecture);
        set(&mut base.omakase_dial, &self.omakase_dial);
        set(&mut base.medical_code, &self.medical_code);
        set(&mut base.address, &self.address);
        set(&mut base.phone, &self.phone);
        set(&mut base.contact_person, &self.contact_person);
        set(&mut base.pc_serial, &self.pc_serial);
        set(&mut base.router_serial, &self.router_serial);
        set(&mut base.receipt_vendor, &self.receipt_vendor);
        set(
            &mut base.receipt_vendor_contact,
            &self.receipt_vendor_contact,
        );
        base.kind = self.kind.unwrap_or(base.kind);
        base.maintenance = self.maintenance.unwrap_or(base.maintenance);
        base.reader_maker = self.reader_maker.or(base.reader_maker);
        base.router_model = self.router_model.or(base.router_model);
        base
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
    /// Minutes a site may be silent while open before `offline` is raised.
    #[arg(long, env = "ONSHI_OFFLINE_AFTER_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub offline_after_minutes: u32,
    /// Seconds between two offline / hold-down sweeps.
    #[arg(long, env = "ONSHI_SWEEP_INTERVAL_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub sweep_interval_seconds: u32,
    /// Whether this process evaluates reports into incidents (`off` on a replica that only
    /// ingests; at least one replica must run it).
    #[arg(long, env = "ONSHI_INCIDENT_WORKER", value_enum, default_value = "on")]
    pub incident_worker: crate::incidents::engine::WorkerMode,
    /// Seconds a client has to complete the TLS handshake on the gRPC port;
    /// slower or silent connections are closed.
    #[arg(long, env = "ONSHI_TLS_HANDSHAKE_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub tls_handshake_timeout: u64,
    /// Seconds a gRPC connection may stay without a call before it is closed
    /// (an agent reconnects for its next batch).
    #[arg(long, env = "ONSHI_GRPC_IDLE_TIMEOUT", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub grpc_idle_timeout: u64,
    /// Open gRPC connections allowed at once (TLS handshakes included); more
    /// are closed at once. Default: half of the open-file limit left after
    /// 256 (the soft limit is first raised to the hard one).
    #[arg(long, env = "ONSHI_MAX_GRPC_CONNECTIONS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_grpc_connections: Option<u64>,
    #[command(flatten)]
    pub escalation_mail: crate::escalation::send::MailArgs,
    #[command(flatten)]
    pub updates: crate::updates::UpdateArgs,
    /// Whether this process routes and sends notifications (`off` on a replica that leaves
    /// them to the others; every replica may run it).
    #[arg(long, env = "ONSHI_NOTIFY_WORKER", value_enum, default_value = "on")]
    pub notify_worker: crate::incidents::engine::WorkerMode,
    /// Seconds before the first retry of a failed notification; doubled after each failure
    /// (with ±20 % jitter) up to --notify-retry-max-seconds.
    #[arg(long, env = "ONSHI_NOTIFY_RETRY_BASE_SECONDS", default_value_t = 30.0,
          value_parser = positive_seconds)]
    pub notify_retry_base_seconds: f64,
    /// Longest wait between two tries of a notification, in seconds.
    #[arg(long, env = "ONSHI_NOTIFY_RETRY_MAX_SECONDS", default_value_t = 3600.0,
          value_parser = positive_seconds)]
    pub notify_retry_max_seconds: f64,
    /// Notifications this process sends at once.
    #[arg(long, env = "ONSHI_NOTIFY_SENDERS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub notify_senders: u32,
    /// The portal's address as operators reach it (e.g. https://fleet.example.jp), linked
    /// from notification messages; none: no link.
    #[arg(long, env = "ONSHI_PORTAL_URL")]
    pub portal_url: Option<url::Url>,
    /// Seconds between two dashboard snapshots while browsers watch it (one snapshot per
    /// process, shared by every browser through /events).
    #[arg(long, env = "ONSHI_DASHBOARD_REFRESH_SECONDS", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=300))]
    pub dashboard_refresh_seconds: u32,
    #[command(flatten)]
    pub ingest: IngestArgs,
}

/// A number of seconds above zero (fractions allowed, for tests).
fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() && v <= 86_400.0 => Ok(v),
        _ => Err(format!(
            "「{s}」は 0 より大きく 86400 以下の秒数で指定してください"
        )),
    }
}

impl ServeArgs {
    /// The incident engine's settings.
    pub fn engine(&self) -> crate::incidents::engine::EngineConfig {
        let mut config = crate::incidents::engine::EngineConfig::default();
        config.offline.silence = chrono::Duration::minutes(i64::from(self.offline_after_minutes));
        config.sweep_every = std::time::Duration::from_secs(u64::from(self.sweep_interval_seconds));
        config.worker = self.incident_worker;
        config
    }

    /// The notification engine's settings.
    pub fn notify(&self) -> crate::notify::engine::NotifyConfig {
        crate::notify::engine::NotifyConfig {
            worker: self.notify_worker,
            retry: crate::notify::deliver::RetryPolicy {
                base: std::time::Duration::from_secs_f64(self.notify_retry_base_seconds),
                max: std::time::Duration::from_secs_f64(
                    self.notify_retry_max_seconds
                        .max(self.notify_retry_base_seconds),
                ),
            },
            senders: self.notify_senders as usize,
            portal_url: self.portal_url.as_ref().map(|u| u.to_string()),
        }
    }
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

/// The group-committing ingest writer (server/src/ingest/writer.rs, docs/BENCHMARKS.md).
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// Writer tasks committing report batches, each with its own database
    /// connection (a dedicated pool, so the portal cannot starve ingest).
    /// Fewer writers make larger groups (less database work per report).
    #[arg(long, env = "ONSHI_INGEST_WRITERS", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub ingest_writers: u32,
    /// Batches waiting per writer before new ones are refused with
    /// UNAVAILABLE and retry-after-seconds.
    #[arg(long, env = "ONSHI_INGEST_QUEUE_BATCHES", default_value_t = 2048,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub ingest_queue_batches: u32,
    /// MiB that batches waiting in all writers' queues may hold (their
    /// reports and ~16 KiB per call in flight) before new batches are
    /// refused (bounds the server's memory under overload).
    #[arg(long, env = "ONSHI_INGEST_QUEUE_MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub ingest_queue_mib: u32,
    /// Reports committed in one group transaction at most.
    #[arg(long, env = "ONSHI_INGEST_GROUP_REPORTS", default_value_t = 2000,
          value_parser = clap::value_parser!(u32).range(1..=20000))]
    pub ingest_group_reports: u32,
    /// Seconds an overloaded server asks agents to wait (retry-after-seconds).
    #[arg(long, env = "ONSHI_OVERLOAD_RETRY_AFTER", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub overload_retry_after: u32,
}

impl IngestArgs {
    pub fn writer(&self) -> crate::ingest::writer::WriterConfig {
        crate::ingest::writer::WriterConfig {
            writers: self.ingest_writers as usize,
            queue_batches: self.ingest_queue_batches as usize,
            queue_bytes: (self.ingest_queue_mib as usize) << 20,
            max_group_rows: self.ingest_group_reports as usize,
            retry_after_seconds: self.overload_retry_after,
        }
    }
}
