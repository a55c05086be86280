//! Probes: each raw input comes from a collector (run a command or read a
//! file, with its own timeout; see `collectors`, `source`) and is turned
//! into plain data by a pure parser (one module per feature). `Prober`
//! assembles a `Snapshot` — what `onshi-agent probe` prints — and keeps the
//! baseline; `report::to_report` turns a snapshot into the wire report.

pub mod accounts;
pub mod baseline;
pub mod cert;
mod collectors;
pub mod host;
pub mod ipconfig;
pub mod native;
pub mod network;
mod ps;
pub mod reader;
pub mod report;
pub mod shares;
mod slow;
pub mod source;
#[cfg(windows)]
mod win32;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::ProbeFileConfig;
use accounts::AccountStatus;
use baseline::{Baseline, BaselineStore};
use source::{Collector, FetchError, Files, Raw, Source};

#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub collected_at: DateTime<Utc>,
    /// "live" or "replay:DIR".
    pub source: String,
    pub host: host::HostInfo,
    /// None where the reader cannot be observed (Linux).
    pub reader: Option<reader::ReaderInfo>,
    pub certificate: Option<cert::CertInfo>,
    pub accounts: Vec<AccountStatus>,
    pub network: NetworkInfo,
    /// Collectors that failed or timed out (not those this OS lacks).
    pub errors: Vec<ProbeError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkInfo {
    pub targets: Vec<network::TargetResult>,
    pub ip_config: Option<ipconfig::IpConfigInfo>,
    pub shares: Vec<shares::ShareStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeError {
    pub probe: String,
    pub error: String,
}

/// Everything a prober needs, resolved from flags and the config file.
#[derive(Debug, Clone)]
pub struct Settings {
    pub targets: Vec<(String, String)>,
    pub cert_file: Option<PathBuf>,
    /// Network targets and file reads.
    pub timeout: Duration,
    /// OS commands (PowerShell starts slowly on a busy PC).
    pub command_timeout: Duration,
    pub source: Source,
    /// Baseline and fingerprint key live here; None: no baseline at all.
    pub state_dir: Option<PathBuf>,
    /// `probe --record DIR`: keep every raw Windows answer there.
    pub record: Option<PathBuf>,
    pub config: ProbeFileConfig,
}

/// Results of the slow probes, reused until `slow_every` has passed.
#[derive(Debug, Clone, Default)]
struct Slow {
    os: Option<host::OsFacts>,
    disk: Option<(u64, u64)>,
    screen_lock: Option<host::ScreenLock>,
    apps_updated_at: Option<DateTime<Utc>>,
    certificate: Option<cert::CertInfo>,
    accounts: Vec<AccountStatus>,
    ip_config: Option<ipconfig::IpConfigInfo>,
    shares: Vec<shares::ShareStatus>,
    services: Option<Vec<reader::Service>>,
    errors: Vec<ProbeError>,
}

pub struct Prober {
    s: Settings,
    store: Option<BaselineStore>,
    baseline: Baseline,
    /// Take a baseline for parts that have none (the agent service);
    /// `onshi-agent probe` only reads it.
    learn: bool,
    key: Option<Vec<u8>>,
    slow: Option<(Instant, Slow)>,
    reader: Option<(Instant, Option<reader::ReaderInfo>, Vec<ProbeError>)>,
}

impl Prober {
    pub fn new(s: Settings, learn: bool) -> Self {
        let store = s.state_dir.as_deref().map(BaselineStore::new);
        let baseline = store.as_ref().map(BaselineStore::load).unwrap_or_default();
        let key = store.as_ref().and_then(|st| st.key(learn));
        Prober {
            s,
            store,
            baseline,
            learn,
            key,
            slow: None,
            reader: None,
        }
    }

    /// Forgets the stored baseline; the next `collect` takes a new one.
    pub fn reset_baseline(&mut self) {
        self.baseline = Baseline::default();
        self.learn = true;
        self.slow = None;
        self.reader = None;
        if self.key.is_none() {
            self.key = self.store.as_ref().and_then(|st| st.key(true));
        }
    }

    pub fn baseline(&self) -> &Baseline {
        &self.baseline
    }

    pub async fn collect(&mut self) -> Snapshot {
        let now = Utc::now();
        let due = match &self.slow {
            Some((at, _)) => at.elapsed().as_secs_f64() >= self.s.config.slow_every,
            None => true,
        };
        if due {
            let before = self.baseline.clone();
            let slow = self.collect_slow(now).await;
            if self.learn && self.baseline != before {
                self.save_baseline(now);
            }
            self.slow = Some((Instant::now(), slow));
        }
        let slow = self
            .slow
            .as_ref()
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        let mut errors = slow.errors.clone();

        let mut host = host::HostInfo::new();
        if let Some(os) = &slow.os {
            host.hostname = os.hostname.clone();
            host.os = os.os.clone();
        }
        host.set_boot(slow.os.as_ref().and_then(|o| o.boot_time), now);
        host.disk_free_bytes = slow.disk.map(|d| d.0);
        host.disk_total_bytes = slow.disk.map(|d| d.1).filter(|t| *t > 0);
        host.screen_lock = slow.screen_lock.clone();
        host.apps_updated_at = slow.apps_updated_at;

        let reader_due = match &self.reader {
            Some((at, _, _)) => at.elapsed().as_secs_f64() >= self.s.config.reader_every,
            None => true,
        };
        if reader_due {
            let mut e = Vec::new();
            let info = self.collect_reader(&slow, &mut e).await;
            self.reader = Some((Instant::now(), info, e));
        }
        let (reader, reader_errors) = self
            .reader
            .as_ref()
            .map(|(_, r, e)| (r.clone(), e.clone()))
            .unwrap_or_default();
        errors.extend(reader_errors);
        let targets = self.targets(&slow);
        let targets = network::probe_all(&targets, self.s.timeout).await;
        Snapshot {
            collected_at: now,
            source: self.s.source.describe(),
            host,
            reader,
            certificate: slow.certificate.clone(),
            accounts: slow.accounts.clone(),
            network: NetworkInfo {
                targets,
                ip_config: slow.ip_config.clone(),
                shares: slow.shares.clone(),
            },
            errors,
        }
    }

    fn save_baseline(&mut self, now: DateTime<Utc>) {
        self.baseline.taken_at.get_or_insert(now);
        if let Some(store) = &self.store
            && let Err(e) = store.save(&self.baseline)
        {
            tracing::error!(error = %e, "cannot store the baseline");
        }
    }

    async fn fetch(&self, c: &Collector, errors: &mut Vec<ProbeError>) -> Option<Raw> {
        let timeout = if c.windows.is_some() {
            self.s.command_timeout
        } else {
            self.s.timeout
        };
        match self.s.source.fetch(c, timeout).await {
            Ok(raw) => {
                self.record(c, &raw);
                Some(raw)
            }
            Err(FetchError::Unavailable) => None,
            Err(e) => {
                tracing::warn!(probe = c.name, error = %e, "probe failed");
                errors.push(ProbeError {
                    probe: c.name.to_owned(),
                    error: e.to_string(),
                });
                None
            }
        }
    }

    /// `probe --record`: the raw answer under its fixture name. Failing to
    /// write is said, never fatal: the snapshot still prints.
    fn record(&self, c: &Collector, raw: &Raw) {
        if let (Some(dir), Raw::Windows(text)) = (&self.s.record, raw) {
            let path = dir.join(c.fixture);
            if let Err(e) = std::fs::write(&path, text) {
                tracing::warn!(path = %path.display(), error = %e, "cannot record the probe output");
            }
        }
    }

    /// Runs a Windows collector and its parser; a parse failure is an error
    /// of that probe, never of the snapshot.
    async fn windows<T>(
        &self,
        c: Collector,
        errors: &mut Vec<ProbeError>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        match self.fetch(&c, errors).await? {
            Raw::Windows(text) => match parse(&text) {
                Ok(v) => Some(v),
                Err(e) => {
                    errors.push(ProbeError {
                        probe: c.name.to_owned(),
                        error: e,
                    });
                    None
                }
            },
            Raw::Unix(_) => None,
        }
    }

    async fn unix_text(&self, c: Collector, errors: &mut Vec<ProbeError>) -> Option<String> {
        match self.fetch(&c, errors).await? {
            Raw::Unix(t) => Some(t),
            Raw::Windows(_) => None,
        }
    }

    async fn collect_reader(
        &mut self,
        slow: &Slow,
        e: &mut Vec<ProbeError>,
    ) -> Option<reader::ReaderInfo> {
        let devices = self
            .windows(collectors::pnp(), e, reader::parse_pnp)
            .await?;
        let processes = self
            .windows(collectors::tasklist(), e, |t| Ok(reader::parse_tasklist(t)))
            .await;
        let files = self.s.source.files();
        let rules = self
            .s
            .config
            .reader
            .makers
            .clone()
            .unwrap_or_else(reader::default_rules);
        let info = reader::evaluate(
            &rules,
            self.s.config.reader.maker,
            self.baseline.reader_maker,
            &reader::Observed {
                devices: &devices,
                processes: processes.as_deref(),
                services: slow.services.as_deref(),
                clear_screen_installed: clear_screen_installed(&files),
            },
        );
        if self.learn && self.baseline.reader_maker.is_none() && info.maker != reader::Maker::None {
            self.baseline.reader_maker = Some(info.maker);
            self.save_baseline(Utc::now());
        }
        Some(info)
    }

    /// Configured targets, plus the default gateway as "router" where
    /// enabled (never in a replay: its addresses are someone else's).
    fn targets(&self, slow: &Slow) -> Vec<network::Target> {
        let mut out: Vec<network::Target> = self
            .s
            .targets
            .iter()
            .map(|(name, address)| network::Target {
                name: name.clone(),
                address: address.clone(),
                refused_is_up: false,
            })
            .collect();
        let net = &self.s.config.network;
        let gateway = slow
            .ip_config
            .as_ref()
            .map(|c| c.current.gateway.clone())
            .unwrap_or_default();
        if net.probe_gateway.unwrap_or(cfg!(windows))
            && !self.s.source.is_replay()
            && !gateway.is_empty()
            && !out.iter().any(|t| t.name == "router")
        {
            out.insert(
                0,
                network::Target {
                    name: "router".into(),
                    address: format!("{gateway}:{}", net.gateway_port),
                    refused_is_up: true,
                },
            );
        }
        out
    }
}

/// Guide 1-5-3: ClearScreen lives in C:\FaceAuthReader\ClearScreen.
fn clear_screen_installed(files: &Files) -> bool {
    files
        .stat(r"C:\FaceAuthReader\ClearScreen")
        .is_some_and(|f| f.is_dir)
}

#[cfg(test)]
mod tests;
