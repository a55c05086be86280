//! Command line of `onshi-agent`. Options that the config file can also
//! set are `Option`s here: `config::resolve` decides (flag or environment,
//! then file, then default). Nothing below `main` reads these types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "onshi-agent",
    version,
    about = "Onshi Fleet agent for the オン資PC"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// TOML config file (docs/agent.md); flags and their environment
    /// variables override it. Default: /etc/onshi-agent/agent.toml, on
    /// Windows C:\ProgramData\OnshiAgent\agent.toml (used if present).
    #[arg(long, global = true, env = "ONSHI_CONFIG")]
    pub config: Option<PathBuf>,
    /// Append logs to this file (rotated at 1 MiB, one old file kept)
    /// instead of stderr; for the Windows task, which has no console.
    #[arg(long, global = true, env = "ONSHI_LOG_FILE")]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe every interval and deliver reports to the server.
    Run(RunArgs),
    /// Enrol this PC with a one-time token (makes its key and certificate).
    Enroll(EnrollArgs),
    /// Print one snapshot of the probes as JSON (first command on site).
    Probe(ProbeArgs),
    /// Take a new baseline (accounts, network, reader) after a change made
    /// by procedure; the agent then stops reporting it as a change.
    Baseline(BaselineArgs),
    /// Windows: register the agent as a start-up task running as SYSTEM,
    /// restarted on failure, and start it.
    Install(crate::service::InstallArgs),
    /// Windows: stop and remove the start-up task.
    Uninstall,
}

#[derive(Debug, Clone, Args)]
pub struct ProbeConfig {
    /// Network target to probe, NAME=HOST:PORT (repeatable), e.g. router=10.51.1.1:443.
    #[arg(long = "target", env = "ONSHI_TARGETS", value_delimiter = ',', value_parser = parse_target)]
    pub targets: Vec<(String, String)>,
    /// PEM or DER file of the オン資 client certificate to watch for expiry.
    #[arg(long, env = "ONSHI_CERT_FILE")]
    pub cert_file: Option<PathBuf>,
    /// Seconds before a single probe gives up (default 3).
    #[arg(long)]
    pub probe_timeout: Option<f64>,
    /// Replay recorded Windows outputs from this directory instead of
    /// probing this PC (see agent/tests/fixtures/windows/).
    #[arg(long, env = "ONSHI_PROBE_SOURCE")]
    pub probe_source: Option<PathBuf>,
    /// Windows: ask through the Win32 API (native, default) or by running
    /// the recorded PowerShell/reg/tasklist commands (commands), to compare
    /// the two when an answer looks wrong. Overrides
    /// `probes.windows_collectors` of the config file.
    #[arg(long, value_enum)]
    pub windows_collectors: Option<crate::probe::source::WindowsCollectors>,
}

#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub probe: ProbeConfig,
    /// Output format (json only for now).
    #[arg(long, default_value = "json", value_parser = ["json"])]
    pub format: String,
    /// State directory whose baseline the snapshot is compared with (read
    /// only). Default: the agent's.
    #[arg(long, env = "ONSHI_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Also write every raw answer (PowerShell JSON, reg and tasklist text)
    /// into this directory under its fixture name: a replay directory for
    /// `--probe-source` and agent/tests/fixtures/windows/ (add files.json by
    /// hand, see docs/agent.md).
    #[arg(long)]
    pub record: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub probe: ProbeConfig,
    /// The agent's state directory (default: the agent's).
    #[arg(long, env = "ONSHI_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// The state directory's help text, shared by every subcommand.
const STATE_DIR_HELP: &str = "Directory for the agent's identity, state, spool and baseline \
(or `state_dir` in the config file). Default: %ProgramData%\\OnshiAgent\\state on Windows; \
elsewhere $STATE_DIRECTORY (set by systemd's StateDirectory=), else /var/lib/onshi-agent. \
`enroll` and `run` use the same default.";

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Server gRPC URL, e.g. https://onshi.example.jp:50051 (or `server` in
    /// the config file).
    #[arg(long, env = "ONSHI_SERVER")]
    pub server: Option<String>,
    /// CA certificate (PEM) that signed the server's certificate (default:
    /// the one stored by `enroll` in --state-dir).
    #[arg(long, env = "ONSHI_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// TLS name to verify in the server certificate (default: the URL's host).
    #[arg(long, env = "ONSHI_TLS_NAME")]
    pub tls_name: Option<String>,
    /// Site this PC belongs to (or `site_id` in the config file).
    #[arg(long, env = "ONSHI_SITE_ID")]
    pub site_id: Option<String>,
    /// Agent id; default: generated once and kept in --state-dir.
    #[arg(long, env = "ONSHI_AGENT_ID")]
    pub agent_id: Option<String>,
    #[arg(long, env = "ONSHI_STATE_DIR", long_help = STATE_DIR_HELP)]
    pub state_dir: Option<PathBuf>,
    /// Seconds between reports (default 60).
    #[arg(long, env = "ONSHI_INTERVAL")]
    pub interval: Option<f64>,
    /// Collect and deliver one report, then exit (0 when acknowledged).
    #[arg(long)]
    pub once: bool,
    /// With --once: delivery attempts before giving up.
    #[arg(long, default_value_t = 5)]
    pub max_attempts: u32,
    /// Longest pause between retries, in seconds (default 60; docs/RELIABILITY.md).
    #[arg(long)]
    pub max_backoff: Option<f64>,
    #[command(flatten)]
    pub probe: ProbeConfig,
}

#[derive(Debug, Clone, Args)]
pub struct EnrollArgs {
    /// Server gRPC URL, e.g. https://onshi.example.jp:50051 (or `server` in
    /// the config file).
    #[arg(long, env = "ONSHI_SERVER")]
    pub server: Option<String>,
    /// One-time enrolment token from the portal (サイト登録 → 登録トークン発行).
    #[arg(long, env = "ONSHI_ENROL_TOKEN")]
    pub token: String,
    /// SHA-256 fingerprint (hex) of the server's CA certificate; the token is
    /// sent only to a server whose chain contains that CA.
    #[arg(long, env = "ONSHI_CA_FINGERPRINT")]
    pub ca_fingerprint: Option<String>,
    /// Or: the CA certificate (PEM) itself.
    #[arg(long, env = "ONSHI_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// TLS name to verify in the server certificate (default: the URL's host).
    #[arg(long, env = "ONSHI_TLS_NAME")]
    pub tls_name: Option<String>,
    #[arg(long, env = "ONSHI_STATE_DIR", long_help = STATE_DIR_HELP)]
    pub state_dir: Option<PathBuf>,
}

fn parse_target(s: &str) -> Result<(String, String), String> {
    let (name, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("target {s:?} must be NAME=HOST:PORT, e.g. router=10.51.1.1:443"))?;
    if name.is_empty() || !addr.contains(':') {
        return Err(format!(
            "target {s:?} must be NAME=HOST:PORT, e.g. router=10.51.1.1:443"
        ));
    }
    Ok((name.to_owned(), addr.to_owned()))
}
