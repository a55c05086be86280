//! The release keys this agent trusts: the built-in ones, plus extra key
//! files named in its configuration (a test key, the next key during a
//! rotation) that only an administrator can change.

use std::path::{Path, PathBuf};

use onshi_release::{PublicKey, TrustedKeys};

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

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn an_extra_key_counts_only_when_no_one_else_can_change_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = onshi_release::SecretKey::generate().public();
        let path = dir.path().join("extra.pub.pem");
        std::fs::write(&path, key.to_pem()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            trusted_keys(std::slice::from_ref(&path))
                .find(key.id())
                .is_some()
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(
            trusted_keys(std::slice::from_ref(&path))
                .find(key.id())
                .is_none(),
            "world-writable"
        );
        assert!(
            trusted_keys(&[dir.path().join("missing.pem")])
                .find(key.id())
                .is_none()
        );
        assert!(
            !trusted_keys(&[]).ids().is_empty(),
            "the built-in keys stay"
        );
    }
}
