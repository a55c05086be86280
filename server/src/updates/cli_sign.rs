//! `release keygen` and `release sign`: where the signing key is, offline,
//! without a database. Files are created new, never overwritten; the secret
//! key file is owner-only.

use std::path::Path;

use chrono::Utc;
use onshi_release::{Manifest, ManifestInput, SecretKey, SignedManifest};

use super::cli::SignArgs;
use crate::error::Error;

pub(super) fn read_text(path: &Path, what: &str) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::InvalidArgument(format!("cannot read the {what} {}: {e}", path.display()))
    })
}

pub(super) fn read_bytes(path: &Path, what: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| {
        Error::InvalidArgument(format!("cannot read the {what} {}: {e}", path.display()))
    })
}

/// Writes a new file; an existing one is an error, never replaced.
pub(super) fn create_new(path: &Path, bytes: &[u8], private: bool) -> Result<(), Error> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    let _ = private;
    let mut file = options.open(path).map_err(|e| {
        Error::InvalidArgument(format!(
            "cannot create {}: {e} (never overwritten)",
            path.display()
        ))
    })?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

pub(super) fn keygen(out: &Path, name: &str) -> Result<(), Error> {
    std::fs::create_dir_all(out)?;
    let key = SecretKey::generate();
    let public = key.public();
    let secret_path = out.join(format!("{name}.key"));
    let public_path = out.join(format!("{name}.pub.pem"));
    create_new(&secret_path, key.to_pem().as_bytes(), true)?;
    create_new(&public_path, public.to_pem().as_bytes(), false)?;
    println!("key id: {}", public.id());
    println!(
        "secret key: {} (keep it offline; never on the server)",
        secret_path.display()
    );
    println!(
        "public key: {} (build it into the agent: release/keys/, docs/UPDATES.md)",
        public_path.display()
    );
    Ok(())
}

pub(super) fn sign(args: &SignArgs) -> Result<(), Error> {
    let key = SecretKey::from_pem(&read_text(&args.key, "secret key")?)
        .map_err(|e| Error::InvalidArgument(format!("{}: {e}", args.key.display())))?;
    let binary = read_bytes(&args.binary, "binary")?;
    let manifest = Manifest::for_binary(
        &binary,
        ManifestInput {
            version: args.version.clone(),
            target: args.target,
            min_server_version: args.min_server_version.clone(),
            notes: args.notes.clone(),
            rollback: args.rollback,
        },
        Utc::now(),
    )
    .map_err(|e| Error::InvalidArgument(format!("cannot sign {}: {e}", args.binary.display())))?;
    let signed = SignedManifest::sign(&manifest, &key);
    let dir = match &args.out {
        Some(d) => d.clone(),
        None => args.binary.parent().map(Path::to_owned).unwrap_or_default(),
    };
    std::fs::create_dir_all(&dir)?;
    let stem = format!(
        "onshi-agent-{}-{}{}",
        manifest.version,
        manifest.target,
        if manifest.rollback { "-rollback" } else { "" }
    );
    let manifest_path = dir.join(format!("{stem}.manifest.json"));
    let signature_path = dir.join(format!("{stem}.manifest.sig"));
    create_new(&manifest_path, &signed.manifest, false)?;
    create_new(&signature_path, signed.signature_text().as_bytes(), false)?;
    println!("manifest: {}", manifest_path.display());
    println!("signature: {}", signature_path.display());
    println!(
        "version {} for {}, {} bytes, sha256 {}, key {}",
        manifest.version, manifest.target, manifest.size, manifest.sha256, signed.key_id
    );
    Ok(())
}
