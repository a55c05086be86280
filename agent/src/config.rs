//! The agent's TOML configuration file (`--config`, default per OS) and how
//! it combines with the command line: a flag or its environment variable
//! wins, then the file, then the built-in default. Every key and default is
//! documented in docs/agent.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::Deserialize;

use crate::cli::{ProbeConfig, RunArgs};
use crate::probe::reader::{Maker, MakerRule};
use crate::probe::source::{Source, WindowsCollectors};

/// Where the agent looks when `--config` is not given. A missing file there
/// is fine (defaults apply); a missing file named with `--config` is not.
pub fn default_path() -> PathBuf {
    if cfg!(windows) {
        program_data().join("OnshiAgent").join("agent.toml")
    } else {
        PathBuf::from("/etc/onshi-agent/agent.toml")
    }
}

/// Default state directory: `C:\ProgramData\OnshiAgent\state` on Windows.
pub fn default_state_dir() -> PathBuf {
    if cfg!(windows) {
        program_data().join("OnshiAgent").join("state")
    } else {
        PathBuf::from("/var/lib/onshi-agent")
    }
}

fn program_data() -> PathBuf {
    std::env::var_os("ProgramData")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub server: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub tls_name: Option<String>,
    pub site_id: Option<String>,
    pub agent_id: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub interval: Option<f64>,
    pub max_backoff: Option<f64>,
    pub probe_timeout: Option<f64>,
    pub cert_file: Option<PathBuf>,
    /// name = "host:port"; added to `--target`s (a flag wins on the same name).
    pub targets: BTreeMap<String, String>,
    pub log_file: Option<PathBuf>,
    pub spool: SpoolConfig,
    pub probes: ProbeFileConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolConfig {
    /// Upper bound of the spool on disk (bytes).
    pub max_bytes: u64,
    /// Size at which a segment file is closed (bytes).
    pub segment_bytes: u64,
    /// Most reports per SubmitReports call.
    pub batch_reports: usize,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        // 32 MiB: about three weeks of 60 s reports of ~1.5 KB, and far more
        // once unchanged reports are dropped first.
        Self {
            max_bytes: 32 << 20,
            segment_bytes: 1 << 20,
            batch_reports: 100,
        }
    }
}

/// Everything the probes need besides the command line.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeFileConfig {
    /// Seconds between runs of the slow probes (certificate, accounts, shares,
    /// IP configuration, screen lock, apps, OS facts); the reader and network
    /// targets run every interval.
    pub slow_every: f64,
    /// Seconds between runs of the reader probe (`Get-PnpDevice`, one
    /// PowerShell start: the agent's main CPU cost on Windows). 0: every
    /// interval.
    pub reader_every: f64,
    /// Seconds an OS command (PowerShell, reg, tasklist) or a Win32
    /// collector may take; network targets and file reads use
    /// `probe_timeout`.
    pub command_timeout: f64,
    /// "native" (Win32 API, the default) or "commands" (the recorded
    /// PowerShell/reg/tasklist commands, to compare on a PC where an answer
    /// looks wrong; costs about 100× the CPU).
    pub windows_collectors: WindowsCollectors,
    pub reader: ReaderConfig,
    pub certificate: CertificateConfig,
    pub accounts: AccountsConfig,
    pub network: NetworkConfig,
    pub apps: AppsConfig,
}

impl Default for ProbeFileConfig {
    fn default() -> Self {
        Self {
            slow_every: 900.0,
            reader_every: 0.0,
            command_timeout: 30.0,
            windows_collectors: WindowsCollectors::Native,
            reader: ReaderConfig::default(),
            certificate: CertificateConfig::default(),
            accounts: AccountsConfig::default(),
            network: NetworkConfig::default(),
            apps: AppsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReaderConfig {
    /// The maker installed at this site ("none" when the site has no reader).
    /// Unset: detected from devices and software, then kept in the baseline.
    pub maker: Option<Maker>,
    /// Replaces the built-in matching table when given.
    pub makers: Option<Vec<MakerRule>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CertificateConfig {
    /// Certificate stores to search (PowerShell `Cert:\` paths).
    pub stores: Vec<String>,
    /// A store certificate is the オン資 one when its subject, issuer or
    /// friendly name contains one of these (case-insensitive).
    pub matches: Vec<String>,
    /// Folders where the certificate file was placed at installation.
    pub desktop_dirs: Vec<String>,
    /// File extensions of that file (its contents are never read).
    pub desktop_extensions: Vec<String>,
    /// Set by support once the customer showed a backup (guide 1-7-2).
    pub backup_confirmed: bool,
}

impl Default for CertificateConfig {
    fn default() -> Self {
        Self {
            stores: vec![r"LocalMachine\My".into(), r"CurrentUser\My".into()],
            // The オン資 client certificate is issued by the online-billing
            // network's common CA, through Cybertrust's managed PKI (the
            // terminal setup installs its MPKI client).
            matches: vec![
                "オンライン請求ネットワーク関連システム共通認証局".into(),
                "Cybertrust".into(),
                "OQS".into(),
            ],
            desktop_dirs: vec![r"C:\Users\Public\Desktop".into()],
            desktop_extensions: vec!["p12".into(), "pfx".into()],
            backup_confirmed: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// The Windows account NTT East created. Unset: the only enabled local
    /// account that is not built in (the most recently used if several).
    pub windows_user: Option<String>,
    /// Files (or folders: their files) where the reader software keeps the
    /// 顔認証 account. Fingerprinted with a keyed HMAC, never read out.
    pub face_auth_files: Vec<String>,
    /// Same for the linkage application's 連携 account.
    pub linkage_files: Vec<String>,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            windows_user: None,
            face_auth_files: vec![
                r"C:\FaceAuthReader\config".into(),
                r"C:\OQS\OQSFaceApp\config".into(),
            ],
            linkage_files: vec![r"C:\OQS\OQSComApp\config".into()],
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Shares the receipt computer uses (guide 1-4-2).
    pub shares: Vec<String>,
    /// Home-visit nursing station: also expect the `Onseikyu` share.
    pub home_visit_nursing: bool,
    /// Probe the default gateway (the オン資 router) as target "router".
    /// Default: on Windows only.
    pub probe_gateway: Option<bool>,
    /// TCP port used for the router probe; "connection refused" still
    /// proves the router is up.
    pub gateway_port: u16,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            shares: vec!["face".into(), "req".into(), "res".into()],
            home_visit_nursing: false,
            probe_gateway: None,
            gateway_port: 80,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppsConfig {
    /// Install folders of the auto-updating オン資 apps; the newest
    /// modification time in them is "apps updated at".
    pub paths: Vec<String>,
}

impl Default for AppsConfig {
    fn default() -> Self {
        Self {
            paths: vec![
                r"C:\OQS\OQSComApp".into(),
                r"C:\OQS\OQSDistroApp".into(),
                r"C:\OQS\OQSFaceApp".into(),
            ],
        }
    }
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

pub fn parse(text: &str) -> anyhow::Result<FileConfig> {
    Ok(toml::from_str(text.trim_start_matches('\u{feff}'))?)
}

/// True when the user gave `id` on the command line or through its
/// environment variable (so it beats the config file).
pub fn given(m: &ArgMatches, id: &str) -> bool {
    matches!(
        m.value_source(id),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

/// Fills `value` from the file when the command line did not give it.
pub fn merge<T>(m: &ArgMatches, id: &str, value: &mut T, from_file: Option<T>) {
    if !given(m, id)
        && let Some(v) = from_file
    {
        *value = v;
    }
}

/// Adds the file's targets to the command line's; a flag wins on a name.
pub fn merge_targets(cli: &mut Vec<(String, String)>, file: &BTreeMap<String, String>) {
    for (name, addr) in file {
        if !cli.iter().any(|(n, _)| n == name) {
            cli.push((name.clone(), addr.clone()));
        }
    }
}

/// Completes `run` arguments from the file where the command line left
/// them open, and checks that the required ones are there.
pub fn resolve_run(args: &mut RunArgs, m: &ArgMatches, f: &FileConfig) -> anyhow::Result<()> {
    merge(m, "server", &mut args.server, f.server.clone());
    merge(m, "ca_cert", &mut args.ca_cert, f.ca_cert.clone().map(Some));
    merge(
        m,
        "tls_name",
        &mut args.tls_name,
        f.tls_name.clone().map(Some),
    );
    merge(m, "site_id", &mut args.site_id, f.site_id.clone());
    merge(
        m,
        "agent_id",
        &mut args.agent_id,
        f.agent_id.clone().map(Some),
    );
    merge(m, "state_dir", &mut args.state_dir, f.state_dir.clone());
    merge(m, "interval", &mut args.interval, f.interval);
    merge(m, "max_backoff", &mut args.max_backoff, f.max_backoff);
    resolve_probe(&mut args.probe, m, f);
    if args.server.is_empty() {
        anyhow::bail!(
            "no server: give --server URL or set `server` in the config file ({})",
            default_path().display()
        );
    }
    if args.site_id.is_empty() {
        anyhow::bail!(
            "no site: give --site-id ID or set `site_id` in the config file ({})",
            default_path().display()
        );
    }
    if !(args.interval.is_finite() && args.interval > 0.0) {
        anyhow::bail!(
            "interval must be a positive number of seconds, got {}",
            args.interval
        );
    }
    Ok(())
}

pub fn resolve_probe(p: &mut ProbeConfig, m: &ArgMatches, f: &FileConfig) {
    merge(
        m,
        "cert_file",
        &mut p.cert_file,
        f.cert_file.clone().map(Some),
    );
    merge(m, "probe_timeout", &mut p.probe_timeout, f.probe_timeout);
    merge_targets(&mut p.targets, &f.targets);
}

/// The state directory of `probe` and `baseline`: the flag, the file, the
/// default.
pub fn state_dir(flag: Option<PathBuf>, f: &FileConfig) -> PathBuf {
    flag.or_else(|| f.state_dir.clone())
        .unwrap_or_else(default_state_dir)
}

pub fn probe_settings(
    p: &ProbeConfig,
    state_dir: Option<PathBuf>,
    f: &FileConfig,
) -> crate::probe::Settings {
    let secs = |s: f64, lo: f64, hi: f64| {
        std::time::Duration::from_secs_f64(if s.is_finite() { s.clamp(lo, hi) } else { lo })
    };
    crate::probe::Settings {
        targets: p.targets.clone(),
        cert_file: p.cert_file.clone(),
        timeout: secs(p.probe_timeout, 0.1, 60.0),
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
mod tests {
    use super::*;

    #[test]
    fn documented_example_parses() {
        let text = include_str!("../../deploy/agent.example.toml");
        let c = parse(text).unwrap();
        assert_eq!(c.site_id.as_deref(), Some("clinic-0001"));
        assert_eq!(c.spool.max_bytes, 32 << 20);
        assert_eq!(c.probes.network.shares, ["face", "req", "res"]);
        assert_eq!(c.probes.reader.maker, Some(Maker::Panasonic));
    }

    #[test]
    fn empty_file_gives_defaults_and_typos_are_errors() {
        let c = parse("").unwrap();
        assert_eq!(c.spool.batch_reports, 100);
        assert_eq!(c.probes.slow_every, 900.0);
        let err = parse("intervall = 5").unwrap_err();
        assert!(format!("{err:#}").contains("intervall"), "{err:#}");
        let err = parse("[probes.reader]\nmaker = \"sony\"").unwrap_err();
        assert!(format!("{err:#}").contains("sony"), "{err:#}");
    }

    #[test]
    fn missing_default_file_is_fine_but_missing_explicit_file_is_not() {
        assert!(load(Some(Path::new("/nonexistent/agent.toml"))).is_err());
    }

    #[test]
    fn file_targets_join_flag_targets() {
        let mut cli = vec![("router".to_owned(), "10.0.0.1:80".to_owned())];
        let file = BTreeMap::from([
            ("router".to_owned(), "10.9.9.9:80".to_owned()),
            ("vpn".to_owned(), "10.0.0.2:443".to_owned()),
        ]);
        merge_targets(&mut cli, &file);
        assert_eq!(
            cli,
            [
                ("router".into(), "10.0.0.1:80".into()),
                ("vpn".into(), "10.0.0.2:443".into())
            ]
        );
    }
}
