//! Authenticated encryption of secrets at rest (XChaCha20-Poly1305 from RustCrypto).
//!
//! A sealed value is `v1.` followed by base64url(nonce ‖ ciphertext ‖ tag). The associated data
//! names what the secret belongs to (for example a connection id), so a sealed value copied
//! onto another record does not open.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use std::path::Path;

const PREFIX: &str = "v1.";
const NONCE_LEN: usize = 24;

/// The master key. Its `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct SealingKey(XChaCha20Poly1305);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(…)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealingError {
    #[error("the master key must be base64 of exactly 32 bytes")]
    BadKey,
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("the sealed value does not open with this key (wrong key or tampered data)")]
    Unauthentic,
    #[error("the secret is too large to seal")]
    TooLarge,
    #[error("cannot read or create the master key file: {0}")]
    KeyFile(String),
}

impl SealingKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        SealingKey(XChaCha20Poly1305::new(bytes.into()))
    }

    pub fn from_base64(text: &str) -> Result<Self, SealingError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SealingError::BadKey)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| SealingError::BadKey)?;
        Ok(Self::from_bytes(&bytes))
    }

    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self::from_bytes(&bytes)
    }

    /// Reads the key file, creating it (mode 0600) with a fresh key when missing.
    pub fn load_or_create_file(path: &Path) -> Result<Self, SealingError> {
        let io = |e: std::io::Error| SealingError::KeyFile(format!("{}: {e}", path.display()));
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_base64(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(io)?;
                std::io::Write::write_all(&mut file, STANDARD.encode(bytes).as_bytes())
                    .map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok(Self::from_bytes(&bytes))
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<String, SealingError> {
        // A random 192-bit nonce never repeats in practice. The thread's generator is a CSPRNG
        // seeded from the operating system: no system call per seal, as `OsRng` would make.
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SealingError::TooLarge)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, SealingError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SealingError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealingError::Malformed)?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err(SealingError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        self.0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SealingError::Unauthentic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_the_same_key_and_context() {
        let key = SealingKey::generate();
        let sealed = key.seal(b"client-secret-value", "connection:1").unwrap();
        assert!(!sealed.contains("client-secret-value"));
        assert_eq!(
            key.open(&sealed, "connection:1").unwrap(),
            b"client-secret-value"
        );
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let key = SealingKey::generate();
        assert_ne!(key.seal(b"x", "c").unwrap(), key.seal(b"x", "c").unwrap());
    }

    #[test]
    fn a_wrong_key_does_not_open_it() {
        let sealed = SealingKey::generate().seal(b"secret", "c").unwrap();
        assert_eq!(
            SealingKey::generate().open(&sealed, "c"),
            Err(SealingError::Unauthentic)
        );
    }

    #[test]
    fn another_context_does_not_open_it() {
        let key = SealingKey::generate();
        let sealed = key.seal(b"secret", "connection:1").unwrap();
        assert_eq!(
            key.open(&sealed, "connection:2"),
            Err(SealingError::Unauthentic)
        );
    }

    #[test]
    fn tampered_ciphertext_is_rejected() {
        let key = SealingKey::generate();
        let sealed = key.seal(b"secret", "c").unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed[3..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("v1.{}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(key.open(&tampered, "c"), Err(SealingError::Unauthentic));
        assert_eq!(key.open("v1.AAAA", "c"), Err(SealingError::Malformed));
        assert_eq!(key.open("plain", "c"), Err(SealingError::Malformed));
    }

    #[test]
    fn the_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let first = SealingKey::load_or_create_file(&path).unwrap();
        let sealed = first.seal(b"secret", "c").unwrap();
        let second = SealingKey::load_or_create_file(&path).unwrap();
        assert_eq!(second.open(&sealed, "c").unwrap(), b"secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_bad_master_key_is_refused() {
        assert_eq!(
            SealingKey::from_base64("c2hvcnQ=").unwrap_err(),
            SealingError::BadKey
        );
    }
}
