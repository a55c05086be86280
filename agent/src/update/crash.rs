//! Crash restarts: `state_dir/agent.running` exists while an agent runs and
//! is removed when it stops cleanly. Found at start, it means the previous
//! process ended without a clean stop; if the PC did not restart since that
//! process began (its start is after the boot), the service manager
//! restarted a crashed or killed agent: a crash restart, said upstream for
//! the version that crashed (a signal for the rollout monitor). A power cut
//! or shutdown is not one: the boot is newer than the marker.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fsutil::{Perms, remove_file, write_atomically};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Running {
    pub version: String,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
}

/// Whether the marker left behind says "crashed and restarted". Pure.
pub fn crashed(previous: &Running, boot_time: Option<DateTime<Utc>>) -> bool {
    boot_time.is_some_and(|boot| previous.started_at > boot)
}

pub struct Marker {
    path: PathBuf,
}

impl Marker {
    pub fn path_in(state_dir: &Path) -> PathBuf {
        state_dir.join("agent.running")
    }

    /// The marker of the agent with this state directory.
    pub fn at(state_dir: &Path) -> Marker {
        Marker {
            path: Marker::path_in(state_dir),
        }
    }

    /// Reads the previous marker (if any) and writes this process's.
    pub fn start(state_dir: &Path, version: &str, now: DateTime<Utc>) -> (Marker, Option<Running>) {
        let path = Marker::path_in(state_dir);
        let previous = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Running>(&b).ok());
        let marker = Marker { path };
        marker.write(version, now);
        (marker, previous)
    }

    /// Records `version` as the one running (after a swap).
    pub fn write(&self, version: &str, now: DateTime<Utc>) {
        let running = Running {
            version: version.to_owned(),
            pid: std::process::id(),
            started_at: now,
        };
        let bytes = serde_json::to_vec(&running).unwrap_or_default();
        if let Err(e) = write_atomically(&self.path, &bytes, Perms::Default) {
            tracing::warn!(error = %e, "cannot write the running marker; a crash restart would go unnoticed");
        }
    }

    /// A clean stop.
    pub fn clear(&self) {
        if let Err(e) = remove_file(&self.path) {
            tracing::warn!(error = %e, "cannot remove the running marker");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_newer_than_the_boot_is_a_crash_restart() {
        let boot = DateTime::from_timestamp(1_000, 0).unwrap();
        let previous = |secs| Running {
            version: "0.2.0".into(),
            pid: 1,
            started_at: DateTime::from_timestamp(secs, 0).unwrap(),
        };
        assert!(crashed(&previous(2_000), Some(boot)));
        assert!(
            !crashed(&previous(500), Some(boot)),
            "before the boot: a power cut or shutdown"
        );
        assert!(
            !crashed(&previous(2_000), None),
            "boot unknown: not counted"
        );
    }

    #[test]
    fn the_marker_is_written_read_back_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let (marker, previous) = Marker::start(dir.path(), "0.1.0", now);
        assert_eq!(previous, None);
        let (_, previous) = Marker::start(dir.path(), "0.1.0", now);
        assert_eq!(previous.unwrap().version, "0.1.0");
        marker.clear();
        assert!(!Marker::path_in(dir.path()).exists());
    }
}
