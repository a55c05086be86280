//! The agent's small persistent state: its id and the next seq to use.
//! Written atomically (temp file, fsync, rename) so a crash never leaves a
//! half-written file and a seq is never reused after a restart.
//!
//! The file is a convenience, not the only record: the agent id is also in
//! the client certificate and the highest seq in the spool and on the
//! server. A corrupt file (a disk error, someone editing it) is therefore
//! set aside and rebuilt from those, never a reason to stop reporting.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::fsutil::{Perms, write_atomically};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentState {
    pub agent_id: String,
    /// The next seq to assign; seqs below it were already given to reports.
    pub next_seq: u64,
}

pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot create state directory {} (set --state-dir to a writable directory)",
                dir.display()
            )
        })?;
        Ok(Self {
            path: dir.join("agent-state.json"),
        })
    }

    /// Loads the state, creating it with `default_id` on first run. A
    /// corrupt file is renamed to `agent-state.json.corrupt-<time>` and
    /// replaced by a fresh state with `default_id` and seq 1; the caller
    /// raises the seq from the spool and the server's ack.
    pub fn load_or_init(&self, default_id: impl FnOnce() -> String) -> anyhow::Result<AgentState> {
        match std::fs::read(&self.path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(state) => Ok(state),
                Err(e) => {
                    let aside = self.path.with_extension(format!(
                        "json.corrupt-{}",
                        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
                    ));
                    std::fs::rename(&self.path, &aside).with_context(|| {
                        format!(
                            "state file {} is corrupt and cannot be moved aside; remove it",
                            self.path.display()
                        )
                    })?;
                    tracing::error!(
                        path = %self.path.display(),
                        kept_as = %aside.display(),
                        error = %e,
                        "state file is corrupt: set aside and rebuilt (agent id from the certificate, seq from the spool and the server)"
                    );
                    let state = AgentState {
                        agent_id: default_id(),
                        next_seq: 1,
                    };
                    self.save(&state)?;
                    Ok(state)
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let state = AgentState {
                    agent_id: default_id(),
                    next_seq: 1,
                };
                self.save(&state)?;
                Ok(state)
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", self.path.display())),
        }
    }

    pub fn save(&self, state: &AgentState) -> anyhow::Result<()> {
        write_atomically(&self.path, &serde_json::to_vec(state)?, Perms::Default)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// Files of an enrolled agent inside the state directory.
pub struct Identity {
    pub key: PathBuf,
    pub cert: PathBuf,
    pub ca: PathBuf,
}

impl Identity {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            key: dir.join("client.key"),
            cert: dir.join("client.pem"),
            ca: dir.join("ca.pem"),
        }
    }
    pub fn exists(&self) -> bool {
        self.key.exists() && self.cert.exists() && self.ca.exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_reload_and_keeps_seq() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path()).unwrap();
        let mut s = file.load_or_init(|| "pc-1".into()).unwrap();
        assert_eq!(
            s,
            AgentState {
                agent_id: "pc-1".into(),
                next_seq: 1
            }
        );
        s.next_seq = 42;
        file.save(&s).unwrap();
        let again = StateFile::new(dir.path())
            .unwrap()
            .load_or_init(|| "other".into())
            .unwrap();
        assert_eq!(again.next_seq, 42);
        assert_eq!(again.agent_id, "pc-1");
    }

    #[test]
    fn corrupt_state_is_set_aside_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("agent-state.json"), b"{not json").unwrap();
        let file = StateFile::new(dir.path()).unwrap();
        let state = file.load_or_init(|| "from-cert".into()).unwrap();
        assert_eq!(
            state,
            AgentState {
                agent_id: "from-cert".into(),
                next_seq: 1
            }
        );
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("agent-state.json.corrupt-")),
            "{names:?}"
        );
        // The rebuilt file loads normally.
        assert_eq!(file.load_or_init(|| "other".into()).unwrap(), state);
    }
}
