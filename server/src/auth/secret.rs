//! Random bearer secrets (session cookies, API and enrolment tokens) and
//! their stored form. Only SHA-256 digests are stored: the secrets are 256
//! random bits, so a fast hash is enough (unlike passwords).

use rand::RngCore;
use sha2::{Digest, Sha256};

/// 32 random bytes, hex encoded (256 bits ≥ the 128 the policy requires).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hash_stably() {
        let a = new_token();
        let b = new_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
    }
}
