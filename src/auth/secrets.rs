//! Opaque secrets (refresh and CSRF tokens): 256 random bits, base64url, stored only as SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A new random token of 256 bits.
pub fn generate() -> String {
    let mut buf = [0u8; 32];
    // The system RNG failing is not a condition a request can recover from.
    aws_lc_rs::rand::fill(&mut buf).expect("system randomness unavailable");
    URL_SAFE_NO_PAD.encode(buf)
}

/// The stored form of a token. SHA-256 suffices: the token has 256 bits of entropy, so there is
/// nothing to brute-force, and lookups stay an index hit.
pub fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time string comparison.
pub fn equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_unique_and_hash_stably() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "32 bytes in unpadded base64url");
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert!(equal(&a, &a.clone()) && !equal(&a, &b));
    }
}
