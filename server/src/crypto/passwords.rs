//! Password hashing with Argon2id (RustCrypto `argon2`, OWASP-recommended parameters).

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

fn hasher() -> Argon2<'static> {
    // Argon2id, 19 MiB, 2 iterations, 1 lane: OWASP's first recommended configuration
    // (and the crate's default parameters).
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(hasher()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Spends the same time as a real verification, so a sign-in for an unknown account
/// takes as long as one for a known account with a wrong password.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored =
        DUMMY.get_or_init(|| hash("not a real password, only for timing").unwrap_or_default());
    let _ = verify(password, stored);
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    #[error("password hashing: {0}")]
    Hash(argon2::password_hash::Error),
    #[error("password hashing stopped: {0}")]
    Stopped(#[from] tokio::task::JoinError),
}

/// Hashes on a blocking thread: Argon2 takes tens of milliseconds of CPU by design.
pub async fn hash_blocking(password: String) -> Result<String, HashingError> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await?
        .map_err(HashingError::Hash)
}

/// Verifies on a blocking thread.
pub async fn verify_blocking(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match stored {
        Some(stored) => verify(&password, &stored),
        None => {
            verify_dummy(&password);
            false
        }
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = super::hash("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(super::verify("correct horse battery", &stored));
        assert!(!super::verify("correct horse battery!", &stored));
        assert!(!super::verify("anything", "not a hash"));
    }
}
