//! Cryptography in one place: sealing secrets at rest, password hashes, one-time tokens, and
//! the certificates Gatehouse authenticates to directories with.
pub mod certificates;
pub mod passwords;
pub mod sealing;
pub mod tokens;
