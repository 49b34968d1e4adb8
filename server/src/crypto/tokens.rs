//! One-time link tokens: 256 random bits shown once; only their SHA-256 is stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh token and the hash to store for it.
pub fn generate() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    (token, hash)
}

/// The token's SHA-256 in lower-case hex.
pub fn hash(token: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(token.as_bytes());
    let mut text = String::with_capacity(64);
    for b in digest {
        text.push(HEX[usize::from(b >> 4)] as char);
        text.push(HEX[usize::from(b & 0xf)] as char);
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let (a, ha) = super::generate();
        let (b, _) = super::generate();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(super::hash(&a), ha);
        assert_ne!(ha, a);
    }

    #[test]
    fn hash_is_sha256_in_lower_case_hex() {
        assert_eq!(
            super::hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
