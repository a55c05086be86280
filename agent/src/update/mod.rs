//! Agent updates (docs/UPDATES.md), the PC's side: take the offer in the
//! server's answer only after verifying its signed manifest with this
//! agent's own keys; download it over the same mTLS channel when the
//! server's spread says so, resumably; verify it; swap it in only at the
//! right moment (start-up, the site closed, or forced), as a supervised
//! trial that rolls itself back (`trial`); and tell the server what became
//! of it (`ReportUpdateEvents`). The rules are pure (`policy`).

pub mod crash;
pub mod download;
pub mod platform;
pub mod policy;
pub mod state;
pub mod trial;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use onshi_proto::v1 as pb;
use onshi_proto::v1::UpdateEventKind as Kind;
use onshi_proto::v1::update_service_client::UpdateServiceClient;
use onshi_release::{PublicKey, Target, TrustedKeys};
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use download::DownloadError;
use policy::{Offered, Verdict, judge, retry_delay, swap_moment};
use state::{Dirs, Staged, UpdateState};
pub use trial::SwapPlan;

/// The `[update]` settings (docs/agent.md).
#[derive(Debug, Clone)]
pub struct UpdateSettings {
    pub enabled: bool,
    /// Public key files trusted besides the built-in keys (a test key, or
    /// the next key during a rotation); each must be protected (below).
    pub extra_keys: Vec<PathBuf>,
    pub trial_timeout: Duration,
    pub startup_grace: chrono::Duration,
}

impl Default for UpdateSettings {
    fn default() -> Self {
        UpdateSettings {
            enabled: true,
            extra_keys: Vec::new(),
            trial_timeout: Duration::from_secs(600),
            startup_grace: chrono::Duration::minutes(15),
        }
    }
}

/// A download running in the background, with the offer it is for.
type DownloadTask = (Box<Offered>, JoinHandle<Result<String, DownloadError>>);

enum Role {
    /// Takes offers, downloads, swaps.
    Normal,
    /// A new version on trial, started by the old one: it only proves it
    /// can deliver, then takes over once the parent has swapped.
    Trial {
        version: String,
        confirmed: bool,
    },
    Off,
}

pub struct Updater {
    dirs: Dirs,
    state_dir: PathBuf,
    settings: UpdateSettings,
    keys: TrustedKeys,
    target: Option<Target>,
    running: &'static str,
    state: UpdateState,
    role: Role,
    service: bool,
    offer: Option<Box<Offered>>,
    task: Option<DownloadTask>,
    next_download: std::time::Instant,
    failures: u32,
    resumes: u32,
}

/// The trusted keys: built in, plus protected extra files.
pub fn trusted_keys(extra: &[PathBuf]) -> TrustedKeys {
    let mut keys = TrustedKeys::built_in();
    for path in extra {
        match protected_key(path) {
            Ok(key) => {
                tracing::warn!(key_id = key.id(), path = %path.display(), "trusting an extra release key from the configuration");
                keys.add(key);
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "extra release key ignored")
            }
        }
    }
    keys
}

/// A key file only an administrator can change: on Unix owned by root or
/// this agent's user and writable by no one else (on Windows the state and
/// configuration folder's ACL, set by install.ps1, protects it).
fn protected_key(path: &Path) -> anyhow::Result<PublicKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::metadata(path)?;
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        if md.mode() & 0o022 != 0 || (md.uid() != 0 && md.uid() != me) {
            anyhow::bail!(
                "the key file must be owned by root or the agent's user and not writable by group or others (chmod 644)"
            );
        }
    }
    Ok(PublicKey::from_pem(&std::fs::read_to_string(path)?)?)
}

impl Updater {
    pub fn open(state_dir: &Path, settings: &UpdateSettings, service: bool) -> Updater {
        let target = Target::current();
        let role = match std::env::var(trial::TRIAL_ENV) {
            Ok(version) if !version.is_empty() => Role::Trial {
                version,
                confirmed: false,
            },
            _ if !settings.enabled || target.is_none() => Role::Off,
            _ => Role::Normal,
        };
        let dirs = Dirs::in_state_dir(state_dir);
        let mut updater = Updater {
            keys: trusted_keys(&settings.extra_keys),
            state: UpdateState::default(),
            dirs,
            state_dir: state_dir.to_owned(),
            settings: settings.clone(),
            target,
            running: crate::version::get(),
            role,
            service,
            offer: None,
            task: None,
            next_download: std::time::Instant::now(),
            failures: 0,
            resumes: 0,
        };
        if matches!(updater.role, Role::Normal) {
            updater.state = updater.dirs.load();
            updater.recover();
        }
        updater
    }

    /// After a start: a trial the previous process did not finish (stopped,
    /// power cut) is tried again, or given up after `MAX_TRIALS`; files no
    /// longer referenced are removed.
    fn recover(&mut self) {
        if let Some(t) = self.state.trial.take() {
            if trial::retry_interrupted(&t) {
                tracing::warn!(version = %t.version, attempts = t.attempts, "a trial was interrupted; trying again at the next allowed moment");
                self.state.trial = Some(t);
            } else {
                let why = format!(
                    "the trial was interrupted {} times (the agent stopped during it)",
                    t.attempts
                );
                self.state.remember_failed(&t.version);
                self.state.staged = None;
                self.state.say(
                    Kind::RolledBack,
                    &t.version,
                    self.running,
                    &why,
                    0,
                    Utc::now(),
                );
            }
            self.save();
        }
        if let Some(s) = &self.state.staged
            && s.version == self.running
        {
            self.state.staged = None;
            self.save();
        }
        let keep = self.state.staged.as_ref().map(|s| s.file.clone());
        if let Ok(entries) = std::fs::read_dir(self.dirs.staged()) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if Some(&name) != keep.as_ref() && !name.ends_with(".partial") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    fn save(&self) {
        if let Err(e) = self.dirs.save(&self.state) {
            tracing::error!(error = %e, "cannot save the update state");
        }
    }

    /// What the agent tells the server in each batch (service mode only).
    pub fn capability(&self) -> Option<pb::UpdateCapability> {
        if !self.service || !matches!(self.role, Role::Normal) {
            return None;
        }
        Some(pb::UpdateCapability {
            target: self.target?.to_string(),
            version: self.running.to_owned(),
            staged_version: self
                .state
                .staged
                .as_ref()
                .map(|s| s.version.clone())
                .unwrap_or_default(),
        })
    }

    /// Takes the offer of one answer (or its absence: a paused rollout
    /// stops downloads and swaps).
    pub fn on_answer(&mut self, offer: Option<pb::UpdateOffer>) {
        if !matches!(self.role, Role::Normal) {
            return;
        }
        let target = self.target.expect("Normal has a target");
        match judge(
            offer.as_ref(),
            &self.keys,
            self.running,
            target,
            &self.state.failed,
        ) {
            Verdict::NoOffer | Verdict::Current | Verdict::FailedBefore(_) => self.offer = None,
            Verdict::Refused {
                digest,
                version,
                error,
            } => {
                self.offer = None;
                if self.state.first_refusal(&digest) {
                    tracing::error!(%version, error = %error, "update offer refused; nothing downloaded or run");
                    let rollout = offer.map_or(0, |o| o.rollout_id);
                    self.state.say(
                        Kind::Refused,
                        &version,
                        self.running,
                        &error.to_string(),
                        rollout,
                        Utc::now(),
                    );
                    self.save();
                }
            }
            Verdict::Take(offered) => {
                if let Some(s) = &self.state.staged
                    && s.version != offered.manifest.version
                {
                    let _ = std::fs::remove_file(self.dirs.staged().join(&s.file));
                    self.state.staged = None;
                    self.save();
                }
                if self.offer.as_ref().map(|o| &o.manifest) != Some(&offered.manifest) {
                    tracing::info!(version = %offered.manifest.version, rollout = offered.rollout_id, download_after = %offered.download_after, "update offered");
                }
                self.offer = Some(offered);
            }
        }
    }

    /// After a delivery the server acknowledged: confirm a trial, move the
    /// download on, tell the server what happened, and say whether a swap is due.
    pub async fn after_delivery(
        &mut self,
        channel: &Channel,
        agent_id: &str,
        boot_time: Option<DateTime<Utc>>,
    ) -> Option<SwapPlan> {
        if let Role::Trial { version, confirmed } = &mut self.role {
            if !*confirmed {
                let path = self.dirs.confirmed();
                match crate::fsutil::write_atomically(
                    &path,
                    version.as_bytes(),
                    crate::fsutil::Perms::Default,
                ) {
                    Ok(()) => {
                        tracing::info!(%version, "trial: a report was acknowledged; the previous agent swaps the binaries");
                        *confirmed = true;
                    }
                    Err(e) => tracing::error!(error = %e, "trial: cannot confirm"),
                }
            } else if self.dirs.load().trial.is_none() {
                tracing::info!(%version, "trial over: this version is installed");
                self.role = Role::Normal;
                self.state = self.dirs.load();
            }
            return None;
        }
        if !matches!(self.role, Role::Normal) {
            return None;
        }
        self.poll_download().await;
        self.start_download(channel);
        self.send_events(channel, agent_id).await;
        self.due(boot_time, Utc::now())
    }

    fn start_download(&mut self, channel: &Channel) {
        let Some(offer) = &self.offer else { return };
        let staged = self
            .state
            .staged
            .as_ref()
            .is_some_and(|s| s.version == offer.manifest.version);
        if staged || self.task.is_some() || !self.service {
            return;
        }
        if Utc::now() < offer.download_after || std::time::Instant::now() < self.next_download {
            return;
        }
        let task = tokio::spawn(download::fetch(
            channel.clone(),
            self.dirs.clone(),
            (**offer).clone(),
        ));
        self.task = Some((offer.clone(), task));
    }

    async fn poll_download(&mut self) {
        if !self.task.as_ref().is_some_and(|(_, t)| t.is_finished()) {
            return;
        }
        let (offer, task) = self.task.take().expect("checked above");
        let result = task
            .await
            .unwrap_or_else(|e| Err(DownloadError::Io(std::io::Error::other(e))));
        self.downloaded(&offer, result);
    }

    fn downloaded(&mut self, offer: &Offered, result: Result<String, DownloadError>) {
        let m = &offer.manifest;
        let now = Utc::now();
        let pause = match result {
            Ok(file) => {
                let reason = format!(
                    "{} bytes verified after {} resumption(s)",
                    m.size, self.resumes
                );
                tracing::info!(version = %m.version, "update downloaded and verified; waiting for the moment to swap");
                self.state.staged = Some(Staged {
                    version: m.version.clone(),
                    manifest_hex: hex::encode(&offer.signed.manifest),
                    signature_hex: hex::encode(&offer.signed.signature),
                    key_id: offer.signed.key_id.clone(),
                    rollout_id: offer.rollout_id,
                    file,
                });
                self.state.say(
                    Kind::Staged,
                    &m.version,
                    self.running,
                    &reason,
                    offer.rollout_id,
                    now,
                );
                self.save();
                self.failures = 0;
                self.resumes = 0;
                return;
            }
            Err(DownloadError::Server(status)) => {
                tracing::warn!(version = %m.version, code = ?status.code(), message = status.message(), "release download refused by the server; trying later");
                crate::delivery::retry_after(&status).unwrap_or_else(|| retry_delay(self.failures))
            }
            Err(e @ DownloadError::Interrupted { .. }) => {
                tracing::warn!(version = %m.version, error = %e, "release download interrupted");
                self.resumes += 1;
                retry_delay(self.failures.min(2))
            }
            Err(e @ DownloadError::DiskFull { .. }) => {
                tracing::error!(version = %m.version, error = %e, "release not staged: free disk space on the state directory's drive");
                if self
                    .state
                    .first_refusal(&format!("disk-full:{}", m.version))
                {
                    self.state.say(
                        Kind::Refused,
                        &m.version,
                        self.running,
                        &e.to_string(),
                        offer.rollout_id,
                        now,
                    );
                    self.save();
                }
                Duration::from_secs(3600)
            }
            Err(DownloadError::Refused(e)) => {
                tracing::error!(version = %m.version, error = %e, "downloaded release does not match its signed manifest; discarded");
                self.state.say(
                    Kind::Refused,
                    &m.version,
                    self.running,
                    &e.to_string(),
                    offer.rollout_id,
                    now,
                );
                if self.failures >= 2 {
                    self.state.remember_failed(&m.version);
                }
                self.save();
                retry_delay(self.failures)
            }
            Err(e @ DownloadError::Io(_)) => {
                tracing::error!(version = %m.version, error = %e, "release download failed on the local disk; trying later");
                retry_delay(self.failures)
            }
        };
        self.failures += 1;
        self.next_download = std::time::Instant::now() + pause;
    }

    /// Sends the events the server has not acknowledged yet.
    async fn send_events(&mut self, channel: &Channel, agent_id: &str) {
        if self.state.pending.is_empty() {
            return;
        }
        let sent: Vec<u64> = self.state.pending.iter().map(|p| p.event_id).collect();
        let request = pb::UpdateEventsRequest {
            agent_id: agent_id.to_owned(),
            events: self.state.pending.iter().map(|p| p.to_wire()).collect(),
        };
        match UpdateServiceClient::new(channel.clone())
            .report_update_events(request)
            .await
        {
            Ok(_) => {
                self.state.pending.retain(|p| !sent.contains(&p.event_id));
                self.save();
            }
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                tracing::error!(
                    message = status.message(),
                    "the server refuses these update events; dropped"
                );
                self.state.pending.retain(|p| !sent.contains(&p.event_id));
                self.save();
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = status.message(), "update events not delivered; trying again after the next report")
            }
        }
    }

    /// A swap plan when the staged release is still offered and the moment is right.
    fn due(&self, boot_time: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<SwapPlan> {
        let offer = self.offer.as_ref()?;
        let staged = self.state.staged.as_ref()?;
        if staged.version != offer.manifest.version || !self.service {
            return None;
        }
        let moment = swap_moment(
            now,
            boot_time,
            offer.window,
            offer.force,
            self.settings.startup_grace,
        )?;
        Some(SwapPlan {
            staged: staged.clone(),
            moment,
            running: self.running.to_owned(),
            dirs: self.dirs.clone(),
            keys: self.keys.clone(),
            timeout: self.settings.trial_timeout,
            state_dir: self.state_dir.clone(),
        })
    }

    /// Is this process a new version on trial (started by the previous one)?
    pub fn is_trial(&self) -> bool {
        matches!(self.role, Role::Trial { .. })
    }

    /// Notes a crash restart found at start (`crash`), for the server.
    pub fn say_crash_restart(&mut self, previous: &crash::Running) {
        if !matches!(self.role, Role::Normal) {
            return;
        }
        let reason = format!(
            "the agent process (pid {}, started {}) ended without a clean stop and was restarted",
            previous.pid,
            previous.started_at.to_rfc3339()
        );
        tracing::warn!(version = %previous.version, "crash restart: {reason}");
        let rollout = self.state.applied_rollout;
        self.state.say(
            Kind::CrashRestart,
            &previous.version,
            "",
            &reason,
            rollout,
            Utc::now(),
        );
        self.save();
    }
}
