//! What the agent remembers about updates, in `state_dir/update/state.json`
//! (written atomically, like the rest of the state). A damaged file is set
//! aside and replaced by an empty state: the worst case is a download done
//! again, never a binary run unchecked (a staged binary is verified again
//! against its signed manifest before it runs).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use onshi_proto::v1 as pb;
use onshi_release::SignedManifest;
use serde::{Deserialize, Serialize};

use crate::fsutil::{Perms, write_atomically};

/// Events kept for the server at most (the oldest go first).
const MAX_PENDING: usize = 64;
/// Versions remembered as failed, refusals remembered as said.
const MAX_REMEMBERED: usize = 16;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateState {
    /// Downloaded and verified, waiting for its moment.
    #[serde(default)]
    pub staged: Option<Staged>,
    /// A trial of a staged version under way (the parent process supervises it).
    #[serde(default)]
    pub trial: Option<Trial>,
    /// Versions that failed their trial on this PC: never tried again.
    #[serde(default)]
    pub failed: Vec<String>,
    /// Offers already refused and said upstream (their digests).
    #[serde(default)]
    pub refused: Vec<String>,
    /// Events to tell the server (ReportUpdateEvents), oldest first.
    #[serde(default)]
    pub pending: Vec<Pending>,
    /// The rollout that brought the running version (0: none).
    #[serde(default)]
    pub applied_rollout: u64,
    /// The binary replaced by the last update, kept in `update/previous/`.
    #[serde(default)]
    pub previous_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Staged {
    pub version: String,
    /// The signed manifest (hex), verified again before the binary runs.
    pub manifest_hex: String,
    pub signature_hex: String,
    pub key_id: String,
    pub rollout_id: u64,
    /// File name in `update/staged/`.
    pub file: String,
}

impl Staged {
    pub fn signed(&self) -> Option<SignedManifest> {
        Some(SignedManifest {
            manifest: hex::decode(&self.manifest_hex).ok()?,
            signature: hex::decode(&self.signature_hex).ok()?,
            key_id: self.key_id.clone(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub version: String,
    /// Trials started; one interrupted by a stop or a power cut is tried
    /// again at the next start, up to `MAX_TRIALS`.
    pub attempts: u32,
    pub started_at: DateTime<Utc>,
}

/// Trials of one version before it counts as failed.
pub const MAX_TRIALS: u32 = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub event_id: u64,
    /// `onshi.v1.UpdateEventKind` number.
    pub kind: i32,
    pub version: String,
    #[serde(default)]
    pub from_version: String,
    #[serde(default)]
    pub reason: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub rollout_id: u64,
}

impl Pending {
    pub fn to_wire(&self) -> pb::UpdateEvent {
        pb::UpdateEvent {
            event_id: self.event_id,
            kind: self.kind,
            version: self.version.clone(),
            from_version: self.from_version.clone(),
            reason: self.reason.clone(),
            at: Some(prost_types::Timestamp {
                seconds: self.at.timestamp(),
                nanos: 0,
            }),
            rollout_id: self.rollout_id,
        }
    }
}

/// Cuts text to `max` bytes on a character boundary (reasons are bounded upstream).
pub fn cut(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].replace('\0', " ")
}

impl UpdateState {
    /// Queues an event for the server.
    pub fn say(
        &mut self,
        kind: pb::UpdateEventKind,
        version: &str,
        from: &str,
        reason: &str,
        rollout_id: u64,
        at: DateTime<Utc>,
    ) {
        if self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
        }
        self.pending.push(Pending {
            event_id: rand::random(),
            kind: kind as i32,
            version: cut(version, 64),
            from_version: cut(from, 64),
            reason: cut(reason, 500),
            at,
            rollout_id,
        });
    }

    pub fn remember_failed(&mut self, version: &str) {
        if !self.failed.iter().any(|v| v == version) {
            if self.failed.len() >= MAX_REMEMBERED {
                self.failed.remove(0);
            }
            self.failed.push(version.to_owned());
        }
    }

    /// True the first time a refusal is seen (then it is said upstream).
    pub fn first_refusal(&mut self, digest: &str) -> bool {
        if self.refused.iter().any(|d| d == digest) {
            return false;
        }
        if self.refused.len() >= MAX_REMEMBERED {
            self.refused.remove(0);
        }
        self.refused.push(digest.to_owned());
        true
    }
}

/// The update directory and its files.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub root: PathBuf,
}

impl Dirs {
    pub fn in_state_dir(state_dir: &Path) -> Dirs {
        Dirs {
            root: state_dir.join("update"),
        }
    }
    pub fn state(&self) -> PathBuf {
        self.root.join("state.json")
    }
    pub fn staged(&self) -> PathBuf {
        self.root.join("staged")
    }
    pub fn previous(&self) -> PathBuf {
        self.root.join("previous")
    }
    /// Written by the new version (a trial child) once a report of its was acknowledged.
    pub fn confirmed(&self) -> PathBuf {
        self.root.join("trial-confirmed")
    }

    pub fn load(&self) -> UpdateState {
        let path = self.state();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                let aside = path.with_extension("json.corrupt");
                let _ = std::fs::rename(&path, &aside);
                tracing::error!(path = %path.display(), error = %e, "update state is damaged: set aside, starting empty (a staged download is fetched again)");
                UpdateState::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => UpdateState::default(),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot read the update state; starting empty");
                UpdateState::default()
            }
        }
    }

    pub fn save(&self, state: &UpdateState) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.root)?;
        write_atomically(
            &self.state(),
            &serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?,
            Perms::Private,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_a_damaged_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = Dirs::in_state_dir(dir.path());
        assert_eq!(dirs.load(), UpdateState::default());
        let mut state = UpdateState::default();
        state.say(
            pb::UpdateEventKind::RolledBack,
            "0.2.0",
            "0.1.0",
            "exited with code 3",
            7,
            Utc::now(),
        );
        state.remember_failed("0.2.0");
        state.remember_failed("0.2.0");
        dirs.save(&state).unwrap();
        let again = dirs.load();
        assert_eq!(again, state);
        assert_eq!(again.failed, ["0.2.0"]);
        assert_eq!(
            again.pending[0].to_wire().kind,
            pb::UpdateEventKind::RolledBack as i32
        );
        std::fs::write(dirs.state(), b"{broken").unwrap();
        assert_eq!(dirs.load(), UpdateState::default());
        assert!(dirs.root.join("state.json.corrupt").exists());
    }

    #[test]
    fn queues_and_memories_are_bounded() {
        let mut state = UpdateState::default();
        for i in 0..100 {
            state.say(
                pb::UpdateEventKind::Refused,
                &format!("0.{i}.0"),
                "",
                "",
                0,
                Utc::now(),
            );
            state.remember_failed(&format!("0.{i}.0"));
        }
        assert_eq!(state.pending.len(), MAX_PENDING);
        assert_eq!(state.pending.last().unwrap().version, "0.99.0");
        assert_eq!(state.failed.len(), MAX_REMEMBERED);
        assert!(state.first_refusal("abc"));
        assert!(!state.first_refusal("abc"));
        assert_eq!(cut("あいう", 4), "あ");
        assert_eq!(cut("a\0b", 10), "a b");
    }
}
