//! The agent's configuration: the TOML file (`--config`, default per OS;
//! its keys in [`file`]) and how it combines with the command line. A flag
//! or its environment variable wins, then the file, then the built-in
//! default; [`resolve`] does that once, into plain structs that the rest of
//! the agent takes (it never sees the clap types).

mod file;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::cli::{EnrollArgs, ProbeConfig, RunArgs};
use crate::probe::source::Source;
use crate::transport::ServerConfig;
pub use file::*;

/// Seconds between reports when neither flag nor file says.
pub const DEFAULT_INTERVAL: f64 = 60.0;
/// Longest pause between delivery retries: chosen from the time to drain
/// after a 3-minute outage (docs/RELIABILITY.md).
pub const DEFAULT_MAX_BACKOFF: f64 = 60.0;
const DEFAULT_PROBE_TIMEOUT: f64 = 3.0;

/// Where the agent looks when `--config` is not given. A missing file there
/// is fine (defaults apply); a missing file named with `--config` is not.
pub fn default_path() -> PathBuf {
    if cfg!(windows) {
        program_data().join("OnshiAgent").join("agent.toml")
    } else {
        PathBuf::from("/etc/onshi-agent/agent.toml")
    }
}

/// The one default state directory of `enroll`, `run`, `probe` and
/// `baseline`: `%ProgramData%\OnshiAgent\state` on Windows; elsewhere the
/// directory systemd made for the unit (`StateDirectory=` sets
/// `$STATE_DIRECTORY`), else `/var/lib/onshi-agent`.
pub fn default_state_dir() -> PathBuf {
    if cfg!(windows) {
        return program_data().join("OnshiAgent").join("state");
    }
    std::env::var_os("STATE_DIRECTORY")
        .and_then(|dirs| std::env::split_paths(&dirs).next())
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("/var/lib/onshi-agent"))
}

fn program_data() -> PathBuf {
    std::env::var_os("ProgramData")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
}

/// Reads the configuration: `explicit` (from `--config`) must exist; the
/// default path may be absent.
pub fn load(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
    let (path, required) = match explicit {
        Some(p) => (p.to_owned(), true),
        None => (default_path(), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(FileConfig::default());
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read config file {}", path.display()));
        }
    };
    parse(&text).with_context(|| format!("config file {} is invalid", path.display()))
}

/// Everything `onshi-agent run` needs, decided once.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub server: ServerConfig,
    pub site_id: String,
    /// Overrides the stored agent id.
    pub agent_id: Option<String>,
    pub state_dir: PathBuf,
    pub interval: Duration,
    pub mode: Mode,
    pub max_backoff: Duration,
    pub spool: SpoolConfig,
    pub probe: crate::probe::Settings,
    pub update: crate::update::UpdateSettings,
}

/// How long `run` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Until SIGTERM / Ctrl-C.
    Service,
    /// One report delivered, then exit; gives up after `max_attempts`.
    Once { max_attempts: u32 },
}

/// Everything `onshi-agent enroll` needs.
#[derive(Debug, Clone)]
pub struct EnrollConfig {
    pub server: String,
    pub token: String,
    pub ca_fingerprint: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub tls_name: Option<String>,
    pub state_dir: PathBuf,
}

/// A non-empty string from the flag, else from the file.
fn text(flag: &Option<String>, file: &Option<String>) -> Option<String> {
    flag.clone()
        .filter(|s| !s.is_empty())
        .or_else(|| file.clone().filter(|s| !s.is_empty()))
}

/// The flag, the file, the default: `run`'s arguments decided once.
pub fn resolve(args: &RunArgs, f: &FileConfig) -> anyhow::Result<RunConfig> {
    let server = text(&args.server, &f.server).with_context(|| {
        format!(
            "no server: give --server URL or set `server` in the config file ({})",
            default_path().display()
        )
    })?;
    let site_id = text(&args.site_id, &f.site_id).with_context(|| {
        format!(
            "no site: give --site-id ID or set `site_id` in the config file ({})",
            default_path().display()
        )
    })?;
    let interval = args.interval.or(f.interval).unwrap_or(DEFAULT_INTERVAL);
    if !(interval.is_finite() && interval > 0.0) {
        anyhow::bail!("interval must be a positive number of seconds, got {interval}");
    }
    let max_backoff = args
        .max_backoff
        .or(f.max_backoff)
        .unwrap_or(DEFAULT_MAX_BACKOFF);
    if !(max_backoff.is_finite() && max_backoff > 0.0) {
        anyhow::bail!("max-backoff must be a positive number of seconds, got {max_backoff}");
    }
    let state_dir = state_dir(args.state_dir.clone(), f);
    Ok(RunConfig {
        server: ServerConfig {
            url: server,
            ca_cert: args.ca_cert.clone().or_else(|| f.ca_cert.clone()),
            tls_name: text(&args.tls_name, &f.tls_name),
            state_dir: state_dir.clone(),
        },
        site_id,
        agent_id: text(&args.agent_id, &f.agent_id),
        interval: Duration::from_secs_f64(interval.max(0.05)),
        mode: if args.once {
            Mode::Once {
                max_attempts: args.max_attempts.max(1),
            }
        } else {
            Mode::Service
        },
        max_backoff: Duration::from_secs_f64(max_backoff.clamp(0.1, 3600.0)),
        spool: f.spool.clone(),
        probe: probe_settings(&args.probe, Some(state_dir.clone()), f),
        update: update_settings(&f.update)?,
        state_dir,
    })
}

/// `[update]` checked once.
fn update_settings(u: &UpdateFileConfig) -> anyhow::Result<crate::update::UpdateSettings> {
    if !(u.trial_timeout.is_finite() && (5.0..=86_400.0).contains(&u.trial_timeout)) {
        anyhow::bail!(
            "[update] trial_timeout must be 5 to 86400 seconds, got {}",
            u.trial_timeout
        );
    }
    if !(u.startup_minutes.is_finite() && (0.0..=240.0).contains(&u.startup_minutes)) {
        anyhow::bail!(
            "[update] startup_minutes must be 0 to 240, got {}",
            u.startup_minutes
        );
    }
    Ok(crate::update::UpdateSettings {
        enabled: u.enabled,
        extra_keys: u.trusted_keys.clone(),
        trial_timeout: Duration::from_secs_f64(u.trial_timeout),
        startup_grace: chrono::Duration::seconds((u.startup_minutes * 60.0) as i64),
    })
}

/// `enroll`'s arguments: the state directory and server as `run` finds them.
pub fn resolve_enroll(args: &EnrollArgs, f: &FileConfig) -> anyhow::Result<EnrollConfig> {
    let server = text(&args.server, &f.server)
        .context("no server: give --server URL or set `server` in the config file")?;
    Ok(EnrollConfig {
        server,
        token: args.token.trim().to_owned(),
        ca_fingerprint: args.ca_fingerprint.clone(),
        ca_cert: args.ca_cert.clone(),
        tls_name: text(&args.tls_name, &f.tls_name),
        state_dir: state_dir(args.state_dir.clone(), f),
    })
}

/// The state directory: the flag, the file, the default.
pub fn state_dir(flag: Option<PathBuf>, f: &FileConfig) -> PathBuf {
    flag.or_else(|| f.state_dir.clone())
        .unwrap_or_else(default_state_dir)
}

/// Adds the file's targets to the command line's; a flag wins on a name.
fn merge_targets(
    cli: &[(String, String)],
    file: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut out = cli.to_vec();
    for (name, addr) in file {
        if !cli.iter().any(|(n, _)| n == name) {
            out.push((name.clone(), addr.clone()));
        }
    }
    out
}

/// The probes' settings from their flags and the file.
pub fn probe_settings(
    p: &ProbeConfig,
    state_dir: Option<PathBuf>,
    f: &FileConfig,
) -> crate::probe::Settings {
    let secs = |s: f64, lo: f64, hi: f64| {
        Duration::from_secs_f64(if s.is_finite() { s.clamp(lo, hi) } else { lo })
    };
    let probe_timeout = p
        .probe_timeout
        .or(f.probe_timeout)
        .unwrap_or(DEFAULT_PROBE_TIMEOUT);
    crate::probe::Settings {
        targets: merge_targets(&p.targets, &f.targets),
        cert_file: p.cert_file.clone().or_else(|| f.cert_file.clone()),
        timeout: secs(probe_timeout, 0.1, 60.0),
        command_timeout: secs(f.probes.command_timeout, 1.0, 300.0),
        source: p
            .probe_source
            .clone()
            .map(Source::Replay)
            .unwrap_or(Source::Live(
                p.windows_collectors.unwrap_or(f.probes.windows_collectors),
            )),
        state_dir,
        record: None,
        config: f.probes.clone(),
    }
}

#[cfg(test)]
mod tests;
