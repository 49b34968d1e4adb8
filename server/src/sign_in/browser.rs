//! The random value in the browser's session that ties a sign-in attempt to the browser that
//! started it: a callback arriving in another browser (or without the session cookie) finds no
//! matching key and is refused.

use crate::crypto::tokens;
use crate::error::{ApiError, ApiResult};
use crate::storage::SignInAttempt;
use tower_sessions::Session;

/// The session key holding this browser's sign-in binding.
const KEY: &str = "sign_in_browser_key";

/// This browser's key, created on first use.
pub async fn key(session: &Session) -> ApiResult<String> {
    let existing: Option<String> = session
        .get(KEY)
        .await
        .map_err(|e| ApiError::Internal(format!("session read: {e}")))?;
    match existing {
        Some(key) => Ok(key),
        None => {
            let (key, _) = tokens::generate();
            session
                .insert(KEY, &key)
                .await
                .map_err(|e| ApiError::Internal(format!("session write: {e}")))?;
            Ok(key)
        }
    }
}

/// Whether the session that comes back is the one that started the attempt.
pub async fn same_browser(session: &Session, attempt: &SignInAttempt) -> bool {
    let key: Option<String> = session.get(KEY).await.ok().flatten();
    key.is_some_and(|k| tokens::hash(&k) == attempt.browser_key_hash)
}
