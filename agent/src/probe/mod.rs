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
pub mod network;
mod ps;
pub mod reader;
pub mod report;
pub mod shares;
pub mod source;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::ProbeFileConfig;
use accounts::{AccountKind, AccountStatus};
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
}

impl Prober {
    pub fn new(s: Settings, learn: bool) -> Self {
        let store = s.state_dir.as_deref().map(BaselineStore::new);
        let baseline = store.as_ref().map(BaselineStore::load).unwrap_or_default();
        let key = store.as_ref().and_then(|st| st.key(learn));
        Prober { s, store, baseline, learn, key, slow: None }
    }

    /// Forgets the stored baseline; the next `collect` takes a new one.
    pub fn reset_baseline(&mut self) {
        self.baseline = Baseline::default();
        self.learn = true;
        self.slow = None;
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
        let slow = self.slow.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
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

        let reader = self.collect_reader(&slow, &mut errors).await;
        let targets = self.targets(&slow);
        let targets = network::probe_all(&targets, self.s.timeout).await;
        Snapshot {
            collected_at: now,
            source: self.s.source.describe(),
            host,
            reader,
            certificate: slow.certificate.clone(),
            accounts: slow.accounts.clone(),
            network: NetworkInfo { targets, ip_config: slow.ip_config.clone(), shares: slow.shares.clone() },
            errors,
        }
    }

    fn save_baseline(&mut self, now: DateTime<Utc>) {
        self.baseline.taken_at.get_or_insert(now);
        if let Some(store) = &self.store {
            if let Err(e) = store.save(&self.baseline) {
                tracing::error!(error = %e, "cannot store the baseline");
            }
        }
    }

    async fn fetch(&self, c: &Collector, errors: &mut Vec<ProbeError>) -> Option<Raw> {
        let timeout = if c.windows.is_some() { self.s.command_timeout } else { self.s.timeout };
        match self.s.source.fetch(c, timeout).await {
            Ok(raw) => Some(raw),
            Err(FetchError::Unavailable) => None,
            Err(e) => {
                tracing::warn!(probe = c.name, error = %e, "probe failed");
                errors.push(ProbeError { probe: c.name.to_owned(), error: e.to_string() });
                None
            }
        }
    }

    /// Runs a Windows collector and its parser; a parse failure is an error
    /// of that probe, never of the snapshot.
    async fn windows<T>(&self, c: Collector, errors: &mut Vec<ProbeError>, parse: impl Fn(&str) -> Result<T, String>) -> Option<T> {
        match self.fetch(&c, errors).await? {
            Raw::Windows(text) => match parse(&text) {
                Ok(v) => Some(v),
                Err(e) => {
                    errors.push(ProbeError { probe: c.name.to_owned(), error: e });
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

    async fn collect_slow(&mut self, now: DateTime<Utc>) -> Slow {
        let mut e = Vec::new();
        let files = self.s.source.files();
        let mut slow = Slow::default();
        let linux = !cfg!(windows) && !self.s.source.is_replay();

        // Host.
        slow.os = match self.windows(collectors::os(), &mut e, host::parse_win32_os).await {
            Some(os) => Some(os),
            None if linux => Some(self.linux_os(&mut e).await),
            None => None,
        };
        slow.disk = match self.windows(collectors::disk(), &mut e, host::parse_logical_disk).await {
            Some(d) => Some(d),
            None if linux => self
                .s
                .state_dir
                .as_deref()
                .and_then(host::disk_space)
                .or_else(|| host::disk_space("/".as_ref())),
            None => None,
        };
        slow.apps_updated_at = host::apps_updated_at(&files, &self.s.config.apps.paths);
        slow.services = self.windows(collectors::services(), &mut e, reader::parse_services).await;

        // Accounts first: the screen saver and the desktop belong to the
        // Windows account.
        let users = self.windows(collectors::local_users(), &mut e, accounts::parse_local_users).await;
        let account = users.as_deref().and_then(|u| {
            accounts::pick_windows_account(
                u,
                self.s.config.accounts.windows_user.as_deref(),
                self.baseline.windows.as_ref().map(|b| b.sid.as_str()),
            )
        });
        if let Some(users) = &users {
            if self.learn && self.baseline.windows.is_none() {
                self.baseline.windows = account.map(accounts::WindowsBaseline::from);
            }
            let _ = users;
            slow.accounts.push(accounts::compare_windows(self.baseline.windows.as_ref(), account));
        }
        let (sid, user_name) = (account.map(|a| a.sid.clone()), account.map(|a| a.name.clone()));
        for (kind, paths) in [
            (AccountKind::FaceAuth, self.s.config.accounts.face_auth_files.clone()),
            (AccountKind::Linkage, self.s.config.accounts.linkage_files.clone()),
        ] {
            if let Some(status) = self.fingerprint_account(kind, &files, &paths) {
                slow.accounts.push(status);
            }
        }

        let clear_screen = clear_screen_installed(&files);
        let user = self.windows(collectors::screen_saver(sid.as_deref()), &mut e, |t| Ok(host::parse_reg_query(t))).await;
        if user.is_some() {
            // A missing policy key is the normal case, not an error.
            let policy = match self.s.source.fetch(&collectors::screen_saver_policy(sid.as_deref()), self.s.command_timeout).await {
                Ok(Raw::Windows(t)) => Some(host::parse_reg_query(&t)),
                _ => None,
            };
            slow.screen_lock = Some(host::screen_lock(user.as_ref(), policy.as_ref(), clear_screen));
        }

        slow.certificate = self.certificate(now, &files, user_name.as_deref(), &mut e).await;

        // Network.
        let ip = match self.windows(collectors::ip_configuration(), &mut e, ipconfig::parse_windows).await {
            Some(ip) => Some(ip),
            None if linux => {
                let addr = self.unix_text(collectors::linux_ip_addr(), &mut e).await.unwrap_or_default();
                let route = self.unix_text(collectors::linux_file("route", "/proc/net/route"), &mut e).await.unwrap_or_default();
                let resolv = self.unix_text(collectors::linux_file("resolv", "/etc/resolv.conf"), &mut e).await.unwrap_or_default();
                Some(ipconfig::parse_linux(&addr, &route, &resolv))
            }
            None => None,
        };
        if let Some(ip) = ip {
            if self.learn && self.baseline.ip.is_none() {
                self.baseline.ip = Some(ip.clone());
            }
            slow.ip_config = Some(ipconfig::compare(self.baseline.ip.as_ref(), ip));
        }
        if let Some(list) = self.windows(collectors::smb_shares(), &mut e, shares::parse_smb_shares).await {
            let mut expected = self.s.config.network.shares.clone();
            if self.s.config.network.home_visit_nursing && !expected.iter().any(|s| s.eq_ignore_ascii_case("Onseikyu")) {
                expected.push("Onseikyu".into());
            }
            slow.shares = shares::check(&expected, &list, &files);
        }
        slow.errors = e;
        slow
    }

    async fn linux_os(&self, e: &mut Vec<ProbeError>) -> host::OsFacts {
        let hostname = self.unix_text(collectors::linux_file("hostname", "/proc/sys/kernel/hostname"), e).await;
        let release = self.unix_text(collectors::linux_file("os-release", "/etc/os-release"), e).await;
        let stat = self.unix_text(collectors::linux_file("boot", "/proc/stat"), e).await;
        host::OsFacts {
            hostname: hostname.unwrap_or_default().trim().to_owned(),
            os: release.as_deref().and_then(host::parse_os_release).unwrap_or_else(|| std::env::consts::OS.to_owned()),
            boot_time: stat.as_deref().and_then(host::parse_proc_stat_btime),
        }
    }

    fn fingerprint_account(&mut self, kind: AccountKind, files: &Files, paths: &[String]) -> Option<AccountStatus> {
        let Some(key) = self.key.as_deref() else {
            // No key yet (`probe` before the agent ever ran): show that the
            // account files are there, with nothing to compare them to.
            let present = accounts::fingerprint(&[0; 32], files, paths).is_some();
            return present.then(|| accounts::compare_fingerprint(kind, None, None));
        };
        let now = accounts::fingerprint(key, files, paths);
        let slot = match kind {
            AccountKind::FaceAuth => &mut self.baseline.face_auth,
            _ => &mut self.baseline.linkage,
        };
        if self.learn && slot.is_none() {
            slot.clone_from(&now);
        }
        (now.is_some() || slot.is_some()).then(|| accounts::compare_fingerprint(kind, slot.as_deref(), now.as_deref()))
    }

    async fn certificate(
        &self,
        now: DateTime<Utc>,
        files: &Files,
        user: Option<&str>,
        e: &mut Vec<ProbeError>,
    ) -> Option<cert::CertInfo> {
        let cfg = &self.s.config.certificate;
        let store = self.windows(collectors::certificates(&cfg.stores), e, cert::parse_store).await;
        // The store when it has the certificate (or there is no file to
        // fall back on), else the configured file.
        let from_store = store.as_ref().filter(|c| cert::pick(c, &cfg.matches).is_some() || self.s.cert_file.is_none());
        let mut info = if let Some(certs) = from_store {
            cert::from_store(certs, &cfg.matches, now)
        } else {
            let path = self.s.cert_file.as_ref()?;
            let read = match tokio::time::timeout(self.s.timeout, tokio::fs::read(path)).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer within {} ms", self.s.timeout.as_millis())),
            };
            let mut c = cert::from_file(&path.display().to_string(), read, now);
            c.desktop_file_present = Some(c.present);
            c
        };
        if store.is_some() {
            let mut dirs = cfg.desktop_dirs.clone();
            if let Some(u) = user {
                dirs.push(format!(r"C:\Users\{u}\Desktop"));
            }
            let entries: Vec<String> = dirs.iter().flat_map(|d| files.list(d)).map(|(p, _)| p).collect();
            info.desktop_files = cert::desktop_files(&entries, &cfg.desktop_extensions);
            info.desktop_file_present = Some(!info.desktop_files.is_empty());
        }
        info.backup_confirmed = cfg.backup_confirmed;
        Some(info)
    }

    async fn collect_reader(&mut self, slow: &Slow, e: &mut Vec<ProbeError>) -> Option<reader::ReaderInfo> {
        let devices = self.windows(collectors::pnp(), e, reader::parse_pnp).await?;
        let processes = self.windows(collectors::tasklist(), e, |t| Ok(reader::parse_tasklist(t))).await;
        let files = self.s.source.files();
        let rules = self.s.config.reader.makers.clone().unwrap_or_else(reader::default_rules);
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
            .map(|(name, address)| network::Target { name: name.clone(), address: address.clone(), refused_is_up: false })
            .collect();
        let net = &self.s.config.network;
        let gateway = slow.ip_config.as_ref().map(|c| c.current.gateway.clone()).unwrap_or_default();
        if net.probe_gateway.unwrap_or(cfg!(windows))
            && !self.s.source.is_replay()
            && !gateway.is_empty()
            && !out.iter().any(|t| t.name == "router")
        {
            out.insert(
                0,
                network::Target { name: "router".into(), address: format!("{gateway}:{}", net.gateway_port), refused_is_up: true },
            );
        }
        out
    }
}

/// Guide 1-5-3: ClearScreen lives in C:\FaceAuthReader\ClearScreen.
fn clear_screen_installed(files: &Files) -> bool {
    files.stat(r"C:\FaceAuthReader\ClearScreen").is_some_and(|f| f.is_dir)
}

#[cfg(test)]
mod tests;
