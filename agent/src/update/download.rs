//! Staging a release: download it over the agent's mTLS channel into
//! `update/staged/NAME.partial`, resuming from what is already there after an
//! interruption (the server went away, a timeout, a restart), then verify
//! size, SHA-256 and executable header against the signed manifest before it
//! becomes `update/staged/NAME`. Nothing of it runs before that.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

use onshi_proto::v1 as pb;
use onshi_proto::v1::update_service_client::UpdateServiceClient;
use onshi_release::{HEADER_BYTES, ReleaseError, Target};
use sha2::{Digest, Sha256};
use tonic::transport::Channel;

use super::policy::{Offered, room_for};
use super::state::Dirs;

/// A stream that sends nothing for this long is given up (and resumed later).
const STALL: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The server refused or is busy (`retry-after-seconds` honoured).
    #[error("server: {:?}: {}", .0.code(), .0.message())]
    Server(tonic::Status),
    /// Cut off part way; what arrived is kept and the download resumes.
    #[error("interrupted at {have} of {size} bytes ({why}); will resume")]
    Interrupted { have: u64, size: u64, why: String },
    #[error(
        "disk too full to stage the release: {needed} bytes needed (with a reserve), {free} free"
    )]
    DiskFull { needed: u64, free: u64 },
    /// The bytes do not match the signed manifest: thrown away.
    #[error("{0}")]
    Refused(ReleaseError),
    #[error("local disk: {0}")]
    Io(#[from] io::Error),
}

/// The staged file's name for a version on this target.
pub fn file_name(version: &str, target: Target) -> String {
    match target {
        Target::WindowsX86_64 => format!("onshi-agent-{version}.exe"),
        Target::LinuxX86_64 => format!("onshi-agent-{version}"),
    }
}

/// Size and SHA-256 (hex) of a file.
pub fn file_digest(path: &Path) -> io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Checks a file against a manifest: size, SHA-256, executable header.
pub fn verify_file(path: &Path, manifest: &onshi_release::Manifest) -> Result<(), DownloadError> {
    let (size, sha) = file_digest(path)?;
    manifest
        .check_digest(size, &sha)
        .map_err(DownloadError::Refused)?;
    let mut head = vec![0u8; HEADER_BYTES];
    let n = File::open(path)?.read(&mut head)?;
    manifest
        .target
        .check_executable(&head[..n])
        .map_err(DownloadError::Refused)
}

/// Downloads and verifies `offered`; returns the staged file's name.
pub async fn fetch(
    channel: Channel,
    dirs: Dirs,
    offered: Offered,
) -> Result<String, DownloadError> {
    let m = &offered.manifest;
    let dir = dirs.staged();
    std::fs::create_dir_all(&dir)?;
    let name = file_name(&m.version, m.target);
    let partial = dir.join(format!("{name}.partial"));
    let mut have = std::fs::metadata(&partial).map(|md| md.len()).unwrap_or(0);
    if have > m.size {
        std::fs::remove_file(&partial)?;
        have = 0;
    }
    room_for(m.size - have, crate::fsutil::free_space(&dir))
        .map_err(|(needed, free)| DownloadError::DiskFull { needed, free })?;
    if have > 0 {
        tracing::info!(version = %m.version, have, size = m.size, "resuming the release download");
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&partial)?;
    let request = pb::DownloadReleaseRequest {
        version: m.version.clone(),
        target: m.target.to_string(),
        offset: have,
    };
    let mut stream = UpdateServiceClient::new(channel)
        .download_release(request)
        .await
        .map_err(DownloadError::Server)?
        .into_inner();
    let interrupted = |have: u64, why: String| DownloadError::Interrupted {
        have,
        size: m.size,
        why,
    };
    loop {
        let chunk = match tokio::time::timeout(STALL, stream.message()).await {
            Err(_) => {
                file.sync_all()?;
                return Err(interrupted(
                    have,
                    format!("no data for {} s", STALL.as_secs()),
                ));
            }
            Ok(Err(status)) => {
                file.sync_all()?;
                return Err(interrupted(have, status.message().to_owned()));
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => chunk,
        };
        let len = chunk.data.len() as u64;
        if chunk.total_size != m.size || have + len > m.size {
            drop(file);
            let _ = std::fs::remove_file(&partial);
            return Err(DownloadError::Refused(ReleaseError::SizeMismatch {
                expected: m.size,
                got: chunk.total_size.max(have + len),
            }));
        }
        if chunk.offset != have {
            file.sync_all()?;
            return Err(interrupted(
                have,
                format!("chunk at {} out of order", chunk.offset),
            ));
        }
        file.write_all(&chunk.data)?;
        have += len;
    }
    file.sync_all()?;
    drop(file);
    if have < m.size {
        return Err(interrupted(have, "the stream ended early".into()));
    }
    if let Err(e) = verify_file(&partial, m) {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    #[cfg(unix)]
    std::fs::set_permissions(
        &partial,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    let staged = dir.join(&name);
    std::fs::rename(&partial, &staged)?;
    crate::fsutil::sync_dir(&staged);
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_of(bytes: &[u8]) -> onshi_release::Manifest {
        onshi_release::Manifest::for_binary(
            bytes,
            onshi_release::ManifestInput {
                version: "0.2.0".into(),
                target: Target::LinuxX86_64,
                min_server_version: String::new(),
                notes: String::new(),
                rollback: false,
            },
            chrono::Utc::now(),
        )
        .unwrap()
    }

    #[test]
    fn a_staged_file_must_match_its_manifest_exactly() {
        let mut elf = vec![0u8; 300];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf[18..20].copy_from_slice(&0x3Eu16.to_le_bytes());
        let manifest = manifest_of(&elf);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, &elf).unwrap();
        verify_file(&path, &manifest).unwrap();
        std::fs::write(&path, &elf[..299]).unwrap();
        assert!(matches!(
            verify_file(&path, &manifest),
            Err(DownloadError::Refused(ReleaseError::SizeMismatch { .. }))
        ));
        let mut altered = elf.clone();
        altered[200] = 1;
        std::fs::write(&path, &altered).unwrap();
        assert!(matches!(
            verify_file(&path, &manifest),
            Err(DownloadError::Refused(ReleaseError::HashMismatch { .. }))
        ));
        assert_eq!(
            file_name("0.2.0", Target::WindowsX86_64),
            "onshi-agent-0.2.0.exe"
        );
    }
}
