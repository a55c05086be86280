//! What an agent may do with a verified manifest: the update rule, pure.

use std::cmp::Ordering;

use crate::{Manifest, ReleaseError, Target};

/// What taking a release would be for the running agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A newer version.
    Upgrade,
    /// An older version, signed as a rollback.
    Rollback,
    /// The version already running: nothing to do.
    Current,
}

/// The rule every agent applies to a verified manifest before downloading:
/// the right target, and a newer version unless it is signed as a rollback.
/// Version order is semantic-version precedence (build metadata ignored).
pub fn check_update(manifest: &Manifest, running: &str, own: Target) -> Result<Step, ReleaseError> {
    if manifest.target != own {
        return Err(ReleaseError::WrongTarget {
            offered: manifest.target.to_string(),
            running: own.to_string(),
        });
    }
    let running_version = semver::Version::parse(running).map_err(|e| {
        ReleaseError::Malformed(format!("running version {running:?} is not semantic: {e}"))
    })?;
    match manifest.semver().cmp_precedence(&running_version) {
        Ordering::Greater => Ok(Step::Upgrade),
        Ordering::Equal => Ok(Step::Current),
        Ordering::Less if manifest.rollback => Ok(Step::Rollback),
        Ordering::Less => Err(ReleaseError::Downgrade {
            offered: manifest.version.clone(),
            running: running.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(version: &str, target: Target, rollback: bool) -> Manifest {
        Manifest {
            format: 1,
            version: version.into(),
            target,
            sha256: "0".repeat(64),
            size: 1,
            min_server_version: String::new(),
            notes: String::new(),
            rollback,
            signed_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn newer_is_taken_same_is_current_older_only_as_rollback() {
        let linux = Target::LinuxX86_64;
        let check = |v: &str, rollback: bool, running: &str| {
            check_update(&manifest(v, linux, rollback), running, linux)
        };
        assert_eq!(check("0.2.0", false, "0.1.9"), Ok(Step::Upgrade));
        assert_eq!(
            check("0.10.0", false, "0.9.0"),
            Ok(Step::Upgrade),
            "numeric, not text"
        );
        assert_eq!(check("1.0.0", false, "1.0.0-rc.1"), Ok(Step::Upgrade));
        assert_eq!(check("0.2.0", true, "0.1.0"), Ok(Step::Upgrade));
        assert_eq!(check("0.2.0", false, "0.2.0"), Ok(Step::Current));
        assert_eq!(check("0.2.0+build.7", false, "0.2.0"), Ok(Step::Current));
        assert_eq!(check("0.1.0", true, "0.2.0"), Ok(Step::Rollback));
        assert!(matches!(
            check("0.1.0", false, "0.2.0"),
            Err(ReleaseError::Downgrade { .. })
        ));
        assert!(matches!(
            check("0.1.0", false, "garbage"),
            Err(ReleaseError::Malformed(_))
        ));
    }

    #[test]
    fn another_targets_release_is_refused_whatever_its_version() {
        let m = manifest("9.0.0", Target::WindowsX86_64, false);
        let err = check_update(&m, "0.1.0", Target::LinuxX86_64).unwrap_err();
        assert_eq!(
            err.to_string(),
            "release is for windows-x86_64, this is linux-x86_64"
        );
    }
}
