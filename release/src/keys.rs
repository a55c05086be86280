//! Release signing keys. The secret key lives with whoever signs releases,
//! offline, never on the server; agents and the server carry public keys.
//!
//! Files are the standard PEM forms for Ed25519 (RFC 8410): PKCS#8 for the
//! secret key, SubjectPublicKeyInfo for the public one (`openssl pkey` reads
//! both). A key is named by its id: the first 8 bytes of the SHA-256 of its
//! 32 public bytes, in hex.

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::ReleaseError;

/// The public keys built into every agent and server (docs/UPDATES.md, "Keys").
/// Two slots so the signing key can be rotated: ship a build that trusts
/// both the old and the new key, sign with the new one once that build is
/// everywhere, then empty the old slot.
pub const BUILT_IN: [Option<&str>; 2] = [Some(include_str!("../keys/release-1.pub.pem")), None];

/// A public key that verifies release manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: String,
}

impl PublicKey {
    pub fn from_pem(pem: &str) -> Result<PublicKey, ReleaseError> {
        let key = VerifyingKey::from_public_key_pem(pem.trim())
            .map_err(|e| ReleaseError::Key(format!("not an Ed25519 public key PEM: {e}")))?;
        Ok(PublicKey::new(key))
    }

    fn new(key: VerifyingKey) -> PublicKey {
        let digest = Sha256::digest(key.as_bytes());
        PublicKey {
            id: hex::encode(&digest[..8]),
            key,
        }
    }

    pub fn to_pem(&self) -> String {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .expect("an Ed25519 public key always encodes")
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Strict verification (RFC 8032 §5.1.7 plus no small-order keys or
    /// malleable signatures): the form that cannot be fooled by a crafted key.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        self.key
            .verify_strict(message, &Signature::from_bytes(&bytes))
            .is_ok()
    }
}

/// The secret half; only `onshi-server release keygen` and `release sign`
/// ever hold one. The bytes are wiped when it is dropped.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> SecretKey {
        use rand::TryRngCore;
        let mut seed = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut seed)
            .expect("the operating system's random source works");
        let key = SigningKey::from_bytes(&seed);
        seed.fill(0);
        SecretKey(key)
    }

    pub fn from_pem(pem: &str) -> Result<SecretKey, ReleaseError> {
        SigningKey::from_pkcs8_pem(pem.trim())
            .map(SecretKey)
            .map_err(|e| ReleaseError::Key(format!("not an Ed25519 PKCS#8 private key PEM: {e}")))
    }

    /// PKCS#8 PEM; the returned string is wiped when dropped.
    pub fn to_pem(&self) -> ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing<String> {
        self.0
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an Ed25519 key always encodes")
    }

    pub fn public(&self) -> PublicKey {
        PublicKey::new(self.0.verifying_key())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.0.sign(message).to_bytes().to_vec()
    }
}

/// The keys a verifier accepts.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys(Vec<PublicKey>);

impl TrustedKeys {
    /// The keys built into this program ([`BUILT_IN`]).
    pub fn built_in() -> TrustedKeys {
        let keys = BUILT_IN
            .into_iter()
            .flatten()
            .map(|pem| PublicKey::from_pem(pem).expect("built-in release keys are valid PEM"))
            .collect();
        TrustedKeys(keys)
    }

    pub fn none() -> TrustedKeys {
        TrustedKeys(Vec::new())
    }

    /// Adds a key (a duplicate is kept once).
    pub fn add(&mut self, key: PublicKey) {
        if !self.0.contains(&key) {
            self.0.push(key);
        }
    }

    pub fn find(&self, id: &str) -> Option<&PublicKey> {
        self.0.iter().find(|k| k.id == id)
    }

    pub fn ids(&self) -> Vec<&str> {
        self.0.iter().map(|k| k.id.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_pem_and_keep_their_id() {
        let secret = SecretKey::generate();
        let public = secret.public();
        assert_eq!(public.id().len(), 16);
        let again = SecretKey::from_pem(&secret.to_pem()).unwrap();
        assert_eq!(again.public(), public);
        let parsed = PublicKey::from_pem(&public.to_pem()).unwrap();
        assert_eq!(parsed, public);
        assert!(public.to_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
        assert!(secret.to_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_ne!(SecretKey::generate().public().id(), public.id());
    }

    #[test]
    fn a_signature_verifies_only_its_message_and_key() {
        let secret = SecretKey::generate();
        let public = secret.public();
        let sig = secret.sign(b"hello");
        assert!(public.verify(b"hello", &sig));
        assert!(!public.verify(b"hellO", &sig));
        assert!(!SecretKey::generate().public().verify(b"hello", &sig));
        assert!(!public.verify(b"hello", &sig[..63]));
        let mut flipped = sig.clone();
        flipped[10] ^= 1;
        assert!(!public.verify(b"hello", &flipped));
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(PublicKey::from_pem("not a key").is_err());
        assert!(
            SecretKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
        let secret = SecretKey::generate();
        // A secret key is not a public key and the other way round.
        assert!(PublicKey::from_pem(&secret.to_pem()).is_err());
        assert!(SecretKey::from_pem(&secret.public().to_pem()).is_err());
    }

    #[test]
    fn built_in_keys_load_and_are_found_by_id() {
        let keys = TrustedKeys::built_in();
        assert!(!keys.ids().is_empty());
        let id = keys.ids()[0].to_owned();
        assert!(keys.find(&id).is_some());
        assert!(keys.find("0000000000000000").is_none());
        let mut more = TrustedKeys::none();
        let extra = SecretKey::generate().public();
        more.add(extra.clone());
        more.add(extra);
        assert_eq!(more.ids().len(), 1);
    }
}
