//! Agent releases (docs/UPDATES.md): the manifest that describes one agent
//! binary, its Ed25519 signature, the keys that may sign it and the rules an
//! agent applies before it runs anything it downloaded. Shared by
//! `onshi-server` (sign offline, check at publish) and `onshi-agent` (check
//! again, trusting only its own keys: the server is not a trust root).
//!
//! Pure: no clock (the caller passes `now`), no network, no files except
//! what a caller hands in as bytes.

mod error;
pub mod keys;
pub mod manifest;
pub mod rules;
mod target;

pub use error::ReleaseError;
pub use keys::{PublicKey, SecretKey, TrustedKeys};
pub use manifest::{Manifest, ManifestInput, SignedManifest, sha256_hex};
pub use rules::{Step, check_update};
pub use target::{HEADER_BYTES, Target};
