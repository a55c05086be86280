//! The agent's TOML configuration file: every key and default is
//! documented in docs/agent.md and deploy/agent.example.toml.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::probe::reader::{Maker, MakerRule};
use crate::probe::source::WindowsCollectors;

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
    pub update: UpdateFileConfig,
}

/// `[update]`: agent updates (docs/UPDATES.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateFileConfig {
    /// Take the updates the server offers.
    pub enabled: bool,
    /// Release public keys (PEM files) trusted besides the built-in ones: a
    /// test key, or the next key during a rotation. Each file must be owned
    /// by root (or the agent's user) and not writable by others.
    pub trusted_keys: Vec<PathBuf>,
    /// Seconds the new version has to deliver its first report before the
    /// previous one is kept instead.
    pub trial_timeout: f64,
    /// Minutes after the PC starts during which a swap is allowed even in
    /// business hours (the clinic is not using the PC yet).
    pub startup_minutes: f64,
}

impl Default for UpdateFileConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            trusted_keys: Vec::new(),
            trial_timeout: 600.0,
            startup_minutes: 15.0,
        }
    }
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

/// Parses the file's text (a UTF-8 byte order mark, as Notepad writes, is
/// allowed).
pub fn parse(text: &str) -> anyhow::Result<FileConfig> {
    Ok(toml::from_str(text.trim_start_matches('\u{feff}'))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_parses() {
        let text = include_str!("../../../deploy/agent.example.toml");
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
}
