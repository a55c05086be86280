//! Agent updates (docs/UPDATES.md), the PC's side: take the offer in the
//! server's answer only after verifying its signed manifest with this
//! agent's own keys; download it over the same mTLS channel when the
//! server's spread says so, resumably; verify it; swap it in only at the
//! right moment (start-up, the site closed, or forced), as a supervised
//! trial that rolls itself back (`trial`); and tell the server what became
//! of it (`ReportUpdateEvents`). The rules are pure (`policy`).

pub mod crash;
pub mod download;
mod keys;
pub mod platform;
pub mod policy;
mod stage;
pub mod state;
pub mod trial;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use onshi_proto::v1 as pb;
use onshi_proto::v1::UpdateEventKind as Kind;
use onshi_proto::v1::update_service_client::UpdateServiceClient;
use onshi_release::{Target, TrustedKeys};
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use download::DownloadError;
pub use keys::trusted_keys;
use policy::{Offered, Verdict, judge, swap_moment};
use state::{Dirs, UpdateState};
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
