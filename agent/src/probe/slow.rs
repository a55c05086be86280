//! The slow probes (every `slow_every`): host facts, accounts and their
//! baseline, screen lock, certificate, IP configuration, shares.

use chrono::{DateTime, Utc};

use super::accounts::{self, AccountKind, AccountStatus};
use super::source::{Files, Raw};
use super::{
    ProbeError, Prober, Slow, cert, clear_screen_installed, collectors, host, ipconfig, reader,
    shares,
};

impl Prober {
    pub(super) async fn collect_slow(&mut self, now: DateTime<Utc>) -> Slow {
        let mut e = Vec::new();
        let files = self.s.source.files();
        let mut slow = Slow::default();
        let linux = !cfg!(windows) && !self.s.source.is_replay();

        // Host.
        slow.os = match self
            .windows(collectors::os(), &mut e, host::parse_win32_os)
            .await
        {
            Some(os) => Some(os),
            None if linux => Some(self.linux_os(&mut e).await),
            None => None,
        };
        slow.disk = match self
            .windows(collectors::disk(), &mut e, host::parse_logical_disk)
            .await
        {
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
        slow.services = self
            .windows(collectors::services(), &mut e, reader::parse_services)
            .await;

        // Accounts first: the screen saver and the desktop belong to the
        // Windows account.
        let users = self
            .windows(
                collectors::local_users(),
                &mut e,
                accounts::parse_local_users,
            )
            .await;
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
            slow.accounts.push(accounts::compare_windows(
                self.baseline.windows.as_ref(),
                account,
            ));
        }
        let (sid, user_name) = (
            account.map(|a| a.sid.clone()),
            account.map(|a| a.name.clone()),
        );
        for (kind, paths) in [
            (
                AccountKind::FaceAuth,
                self.s.config.accounts.face_auth_files.clone(),
            ),
            (
                AccountKind::Linkage,
                self.s.config.accounts.linkage_files.clone(),
            ),
        ] {
            if let Some(status) = self.fingerprint_account(kind, &files, &paths) {
                slow.accounts.push(status);
            }
        }

        let clear_screen = clear_screen_installed(&files);
        let user = self
            .windows(collectors::screen_saver(sid.as_deref()), &mut e, |t| {
                Ok(host::parse_reg_query(t))
            })
            .await;
        if user.is_some() {
            // A missing policy key is the normal case, not an error.
            let policy_key = collectors::screen_saver_policy(sid.as_deref());
            let policy = match self
                .s
                .source
                .fetch(&policy_key, self.s.command_timeout)
                .await
            {
                Ok(raw) => {
                    self.record(&policy_key, &raw);
                    match raw {
                        Raw::Windows(t) => Some(host::parse_reg_query(&t)),
                        Raw::Unix(_) => None,
                    }
                }
                Err(_) => None,
            };
            slow.screen_lock = Some(host::screen_lock(
                user.as_ref(),
                policy.as_ref(),
                clear_screen,
            ));
        }

        slow.certificate = self
            .certificate(now, &files, user_name.as_deref(), &mut e)
            .await;

        // Network.
        let ip = match self
            .windows(
                collectors::ip_configuration(),
                &mut e,
                ipconfig::parse_windows,
            )
            .await
        {
            Some(ip) => Some(ip),
            None if linux => {
                let addr = self
                    .unix_text(collectors::linux_ip_addr(), &mut e)
                    .await
                    .unwrap_or_default();
                let route = self
                    .unix_text(collectors::linux_file("route", "/proc/net/route"), &mut e)
                    .await
                    .unwrap_or_default();
                let resolv = self
                    .unix_text(collectors::linux_file("resolv", "/etc/resolv.conf"), &mut e)
                    .await
                    .unwrap_or_default();
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
        if let Some(list) = self
            .windows(collectors::smb_shares(), &mut e, shares::parse_smb_shares)
            .await
        {
            let mut expected = self.s.config.network.shares.clone();
            if self.s.config.network.home_visit_nursing
                && !expected.iter().any(|s| s.eq_ignore_ascii_case("Onseikyu"))
            {
                expected.push("Onseikyu".into());
            }
            slow.shares = shares::check(&expected, &list, &files);
        }
        slow.errors = e;
        slow
    }

    async fn linux_os(&self, e: &mut Vec<ProbeError>) -> host::OsFacts {
        let hostname = self
            .unix_text(
                collectors::linux_file("hostname", "/proc/sys/kernel/hostname"),
                e,
            )
            .await;
        let release = self
            .unix_text(collectors::linux_file("os-release", "/etc/os-release"), e)
            .await;
        let stat = self
            .unix_text(collectors::linux_file("boot", "/proc/stat"), e)
            .await;
        host::OsFacts {
            hostname: hostname.unwrap_or_default().trim().to_owned(),
            os: release
                .as_deref()
                .and_then(host::parse_os_release)
                .unwrap_or_else(|| std::env::consts::OS.to_owned()),
            boot_time: stat.as_deref().and_then(host::parse_proc_stat_btime),
        }
    }

    fn fingerprint_account(
        &mut self,
        kind: AccountKind,
        files: &Files,
        paths: &[String],
    ) -> Option<AccountStatus> {
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
        (now.is_some() || slot.is_some())
            .then(|| accounts::compare_fingerprint(kind, slot.as_deref(), now.as_deref()))
    }

    async fn certificate(
        &self,
        now: DateTime<Utc>,
        files: &Files,
        user: Option<&str>,
        e: &mut Vec<ProbeError>,
    ) -> Option<cert::CertInfo> {
        let cfg = &self.s.config.certificate;
        let store = self
            .windows(collectors::certificates(&cfg.stores), e, cert::parse_store)
            .await;
        // The store when it has the certificate (or there is no file to
        // fall back on), else the configured file.
        let from_store = store
            .as_ref()
            .filter(|c| cert::pick(c, &cfg.matches).is_some() || self.s.cert_file.is_none());
        let mut info = if let Some(certs) = from_store {
            cert::from_store(certs, &cfg.matches, now)
        } else {
            let path = self.s.cert_file.as_ref()?;
            let read = match tokio::time::timeout(self.s.timeout, tokio::fs::read(path)).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err(format!(
                    "no answer within {} ms",
                    self.s.timeout.as_millis()
                )),
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
            let entries: Vec<String> = dirs
                .iter()
                .flat_map(|d| files.list(d))
                .map(|(p, _)| p)
                .collect();
            info.desktop_files = cert::desktop_files(&entries, &cfg.desktop_extensions);
            info.desktop_file_present = Some(!info.desktop_files.is_empty());
        }
        info.backup_confirmed = cfg.backup_confirmed;
        Some(info)
    }
}
