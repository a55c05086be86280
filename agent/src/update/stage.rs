//! Staging, the agent's side of the download: start it when the server's
//! spread allows, collect its result, and decide what a failure means (resume
//! soon, wait as the server said, back off, tell the server, give up).

use std::time::Duration;

use chrono::Utc;
use onshi_proto::v1::UpdateEventKind as Kind;
use tonic::transport::Channel;

use super::Updater;
use super::download::{self, DownloadError};
use super::policy::{Offered, retry_delay};
use super::state::Staged;

impl Updater {
    pub(super) fn start_download(&mut self, channel: &Channel) {
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

    pub(super) async fn poll_download(&mut self) {
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
        match result {
            Ok(file) => self.staged(offer, file),
            Err(e) => {
                let pause = self.failed(offer, e);
                self.failures += 1;
                self.next_download = std::time::Instant::now() + pause;
            }
        }
    }

    fn staged(&mut self, offer: &Offered, file: String) {
        let m = &offer.manifest;
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
        let running = self.running;
        self.state.say(
            Kind::Staged,
            &m.version,
            running,
            &reason,
            offer.rollout_id,
            Utc::now(),
        );
        self.save();
        self.failures = 0;
        self.resumes = 0;
    }

    /// What a failed download means; the pause before the next attempt.
    fn failed(&mut self, offer: &Offered, error: DownloadError) -> Duration {
        let m = &offer.manifest;
        let running = self.running;
        let now = Utc::now();
        match error {
            DownloadError::Server(status) => {
                tracing::warn!(version = %m.version, code = ?status.code(), message = status.message(), "release download refused by the server; trying later");
                crate::delivery::retry_after(&status).unwrap_or_else(|| retry_delay(self.failures))
            }
            e @ DownloadError::Interrupted { .. } => {
                tracing::warn!(version = %m.version, error = %e, "release download interrupted");
                self.resumes += 1;
                retry_delay(self.failures.min(2))
            }
            e @ DownloadError::DiskFull { .. } => {
                tracing::error!(version = %m.version, error = %e, "release not staged: free disk space on the state directory's drive");
                if self
                    .state
                    .first_refusal(&format!("disk-full:{}", m.version))
                {
                    self.state.say(
                        Kind::Refused,
                        &m.version,
                        running,
                        &e.to_string(),
                        offer.rollout_id,
                        now,
                    );
                    self.save();
                }
                Duration::from_secs(3600)
            }
            DownloadError::Refused(e) => {
                tracing::error!(version = %m.version, error = %e, "downloaded release does not match its signed manifest; discarded");
                self.state.say(
                    Kind::Refused,
                    &m.version,
                    running,
                    &e.to_string(),
                    offer.rollout_id,
                    now,
                );
                // The third bad download of a version is its last.
                if self.failures >= 2 {
                    self.state.remember_failed(&m.version);
                }
                self.save();
                retry_delay(self.failures)
            }
            e @ DownloadError::Io(_) => {
                tracing::error!(version = %m.version, error = %e, "release download failed on the local disk; trying later");
                retry_delay(self.failures)
            }
        }
    }
}
