//! Cryptography in one place: sealing secrets at rest, password hashes, one-time tokens.
pub mod passwords;
pub mod sealing;
pub mod tokens;
