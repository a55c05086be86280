//! The release manifest and its signature.
//!
//! The signature covers the manifest's exact bytes (a JSON document), with a
//! context prefix so that no other Ed25519 signature by the same key can pass
//! for a manifest. The bytes are kept and sent as signed; nothing is
//! re-serialised before verification, so a newer signer may add fields that
//! older verifiers ignore. A change of meaning bumps `format`, which older
//! verifiers refuse.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::keys::{SecretKey, TrustedKeys};
use crate::{ReleaseError, Target};

/// The manifest format this code writes and understands.
pub const FORMAT: u32 = 1;
/// Prepended to the manifest bytes before signing and verifying.
pub const SIGNATURE_CONTEXT: &[u8] = b"onshi-release-manifest-v1\n";
/// Longest release notes accepted (bytes).
pub const MAX_NOTES: usize = 4000;
/// Largest manifest accepted (bytes): notes plus a few fields.
pub const MAX_MANIFEST: usize = 8192;

/// What a signed release says about its binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// Semantic version the binary reports (e.g. `0.2.0`).
    pub version: String,
    pub target: Target,
    /// SHA-256 of the binary, lowercase hex.
    pub sha256: String,
    /// Size of the binary in bytes.
    pub size: u64,
    /// Oldest onshi-server this agent works with ("" = any).
    #[serde(default)]
    pub min_server_version: String,
    #[serde(default)]
    pub notes: String,
    /// Signed as a rollback: agents on a newer version may take it.
    #[serde(default)]
    pub rollback: bool,
    pub signed_at: DateTime<Utc>,
}

/// What the signer gives; the hash and size come from the binary.
#[derive(Debug, Clone)]
pub struct ManifestInput {
    pub version: String,
    pub target: Target,
    pub min_server_version: String,
    pub notes: String,
    pub rollback: bool,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn semver(what: &str, v: &str) -> Result<semver::Version, ReleaseError> {
    semver::Version::parse(v).map_err(|e| {
        ReleaseError::Malformed(format!(
            "{what} {v:?} is not a semantic version like 1.2.3: {e}"
        ))
    })
}

impl Manifest {
    /// The manifest of `binary`, checked as a verifier would check it.
    pub fn for_binary(
        binary: &[u8],
        input: ManifestInput,
        now: DateTime<Utc>,
    ) -> Result<Manifest, ReleaseError> {
        input.target.check_executable(binary)?;
        let manifest = Manifest {
            format: FORMAT,
            version: input.version,
            target: input.target,
            sha256: sha256_hex(binary),
            size: binary.len() as u64,
            min_server_version: input.min_server_version,
            notes: input.notes,
            rollback: input.rollback,
            signed_at: now,
        };
        manifest.validate()?;
        Ok(manifest)
    }

    /// The bytes that are signed and shipped.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a manifest always serialises");
        bytes.push(b'\n');
        bytes
    }

    /// Parses and checks signed bytes (after the signature has verified).
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ReleaseError> {
        if bytes.len() > MAX_MANIFEST {
            return Err(ReleaseError::Malformed(format!(
                "{} bytes, more than {MAX_MANIFEST}",
                bytes.len()
            )));
        }
        // The format first: a newer format may not parse as this one.
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        let format: Format = serde_json::from_slice(bytes)
            .map_err(|e| ReleaseError::Malformed(format!("not a manifest: {e}")))?;
        if format.format != FORMAT {
            return Err(ReleaseError::UnsupportedFormat(format.format));
        }
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| ReleaseError::Malformed(format!("not a manifest: {e}")))?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<(), ReleaseError> {
        semver("version", &self.version)?;
        if !self.min_server_version.is_empty() {
            semver("min_server_version", &self.min_server_version)?;
        }
        let hex_ok = self.sha256.len() == 64
            && self
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Err(ReleaseError::Malformed(
                "sha256 must be 64 lowercase hex digits".into(),
            ));
        }
        if self.size == 0 {
            return Err(ReleaseError::Malformed("size is 0".into()));
        }
        if self.notes.len() > MAX_NOTES || self.notes.contains('\0') {
            return Err(ReleaseError::Malformed(format!(
                "notes must be at most {MAX_NOTES} bytes without NUL"
            )));
        }
        Ok(())
    }

    pub fn semver(&self) -> semver::Version {
        semver::Version::parse(&self.version).expect("validated when parsed")
    }

    /// Checks a downloaded binary's size and SHA-256 against the manifest.
    pub fn check_digest(&self, size: u64, sha256: &str) -> Result<(), ReleaseError> {
        if size != self.size {
            return Err(ReleaseError::SizeMismatch {
                expected: self.size,
                got: size,
            });
        }
        if sha256 != self.sha256 {
            return Err(ReleaseError::HashMismatch {
                expected: self.sha256.clone(),
                got: sha256.to_owned(),
            });
        }
        Ok(())
    }

    /// [`Manifest::check_digest`] and the executable header, for a binary in memory.
    pub fn check_binary(&self, binary: &[u8]) -> Result<(), ReleaseError> {
        self.check_digest(binary.len() as u64, &sha256_hex(binary))?;
        self.target.check_executable(binary)
    }
}

/// A manifest as signed: its bytes, the signature and the signing key's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedManifest {
    pub manifest: Vec<u8>,
    pub key_id: String,
    pub signature: Vec<u8>,
}

/// The `.sig` file written next to a manifest.
#[derive(Serialize, Deserialize)]
struct SignatureFile {
    format: u32,
    key_id: String,
    /// Ed25519 signature of SIGNATURE_CONTEXT || manifest bytes, hex.
    signature: String,
}

fn signed_message(manifest: &[u8]) -> Vec<u8> {
    [SIGNATURE_CONTEXT, manifest].concat()
}

impl SignedManifest {
    pub fn sign(manifest: &Manifest, key: &SecretKey) -> SignedManifest {
        let bytes = manifest.to_bytes();
        SignedManifest {
            signature: key.sign(&signed_message(&bytes)),
            key_id: key.public().id().to_owned(),
            manifest: bytes,
        }
    }

    /// Verifies the signature with a trusted key, then parses the manifest.
    /// Nothing in the manifest is looked at before the signature checks.
    pub fn verify(&self, keys: &TrustedKeys) -> Result<Manifest, ReleaseError> {
        let key = keys
            .find(&self.key_id)
            .ok_or_else(|| ReleaseError::UnknownKey {
                key_id: self.key_id.chars().take(32).collect(),
                trusted: keys.ids().join(", "),
            })?;
        if !key.verify(&signed_message(&self.manifest), &self.signature) {
            return Err(ReleaseError::BadSignature {
                key_id: key.id().to_owned(),
            });
        }
        Manifest::parse(&self.manifest)
    }

    /// The signature file's text (JSON).
    pub fn signature_text(&self) -> String {
        let file = SignatureFile {
            format: FORMAT,
            key_id: self.key_id.clone(),
            signature: hex::encode(&self.signature),
        };
        serde_json::to_string_pretty(&file).expect("serialises") + "\n"
    }

    /// A manifest's bytes with the signature file's text.
    pub fn from_files(
        manifest: Vec<u8>,
        signature_text: &str,
    ) -> Result<SignedManifest, ReleaseError> {
        let file: SignatureFile = serde_json::from_str(signature_text)
            .map_err(|e| ReleaseError::Malformed(format!("signature file: {e}")))?;
        if file.format != FORMAT {
            return Err(ReleaseError::UnsupportedFormat(file.format));
        }
        let signature = hex::decode(file.signature.trim())
            .map_err(|e| ReleaseError::Malformed(format!("signature is not hex: {e}")))?;
        Ok(SignedManifest {
            manifest,
            key_id: file.key_id,
            signature,
        })
    }
}

#[cfg(test)]
mod tests;
