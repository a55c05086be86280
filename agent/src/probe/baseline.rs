//! The baseline taken at the first run (and again with `onshi-agent
//! baseline` after a sanctioned change): what the accounts, the network and
//! the reader looked like when NTT East left the site. Kept in the state
//! directory with the per-agent fingerprint key; neither is ever sent.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::accounts::WindowsBaseline;
use super::ipconfig::IpConfig;
use super::reader::Maker;
use crate::fsutil::{Perms, write_atomically};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub taken_at: Option<DateTime<Utc>>,
    pub windows: Option<WindowsBaseline>,
    /// Keyed fingerprints (see accounts.rs).
    pub face_auth: Option<String>,
    pub linkage: Option<String>,
    pub ip: Option<IpConfig>,
    pub reader_maker: Option<Maker>,
}

pub struct BaselineStore {
    path: PathBuf,
    key_path: PathBuf,
}

impl BaselineStore {
    pub fn new(state_dir: &Path) -> Self {
        BaselineStore {
            path: state_dir.join("baseline.json"),
            key_path: state_dir.join("fingerprint.key"),
        }
    }

    /// The stored baseline; empty when there is none. A damaged file is set
    /// aside (`.corrupt`) and a new baseline is taken: logged, never fatal.
    pub fn load(&self) -> Baseline {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::error!(path = %self.path.display(), error = %e, "baseline file is damaged; taking a new baseline");
                let _ = std::fs::rename(&self.path, self.path.with_extension("json.corrupt"));
                Baseline::default()
            }),
            Err(_) => Baseline::default(),
        }
    }

    pub fn save(&self, b: &Baseline) -> std::io::Result<()> {
        write_atomically(&self.path, &serde_json::to_vec_pretty(b)?, Perms::Private)
    }

    /// The per-agent HMAC key; made on first use when `create`.
    pub fn key(&self, create: bool) -> Option<Vec<u8>> {
        if let Ok(k) = std::fs::read(&self.key_path) {
            if k.len() == 32 {
                return Some(k);
            }
            tracing::error!(path = %self.key_path.display(), "fingerprint key has the wrong size; making a new one");
        }
        if !create {
            return None;
        }
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        match write_atomically(&self.key_path, &key, Perms::Private) {
            Ok(()) => Some(key),
            Err(e) => {
                tracing::error!(path = %self.key_path.display(), error = %e, "cannot store the fingerprint key");
                None
            }
        }
    }
}

/// What `onshi-agent baseline` prints: the baseline without the
/// fingerprints themselves (only whether one was recorded).
pub fn summary(b: &Baseline) -> serde_json::Value {
    serde_json::json!({
        "taken_at": b.taken_at,
        "windows_account": b.windows.as_ref().map(|w| serde_json::json!({
            "name": w.name, "sid": w.sid, "enabled": w.enabled, "password_last_set": w.password_last_set,
        })),
        "face_auth_recorded": b.face_auth.is_some(),
        "linkage_recorded": b.linkage.is_some(),
        "ip_config": b.ip,
        "reader_maker": b.reader_maker,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_key_and_damaged_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = BaselineStore::new(dir.path());
        assert_eq!(store.load(), Baseline::default());
        assert!(store.key(false).is_none());
        let key = store.key(true).unwrap();
        assert_eq!(store.key(false).unwrap(), key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("fingerprint.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let b = Baseline {
            reader_maker: Some(Maker::Canon),
            ..Default::default()
        };
        store.save(&b).unwrap();
        assert_eq!(store.load(), b);
        std::fs::write(dir.path().join("baseline.json"), b"{broken").unwrap();
        assert_eq!(store.load(), Baseline::default());
        assert!(dir.path().join("baseline.json.corrupt").exists());
    }
}
