//! The random value in the browser's session that ties a sign-in attempt to the browser that
//! started it: a callback arriving in another browser (or without the session cookie) finds no
//! matching key and is refused.

use crate::crypto::tokens;
use crate::error::{ApiError, ApiResult};
use crate::oidc::Started;
use crate::state::AppState;
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

/// Keeps a started sign-in, bound to this browser, until its callback (single use).
pub async fn save_attempt(
    state: &AppState,
    session: &Session,
    organization_id: &str,
    purpose: &str,
    started: &Started,
    return_to: Option<String>,
) -> ApiResult<()> {
    let attempt = SignInAttempt {
        organization_id: organization_id.to_string(),
        purpose: purpose.to_string(),
        browser_key_hash: tokens::hash(&key(session).await?),
        nonce: started.nonce.clone(),
        pkce_verifier: started.pkce_verifier.clone(),
        return_to,
    };
    state
        .storage
        .create_sign_in_attempt(&tokens::hash(&started.state), &attempt, state.now())
        .await?;
    Ok(())
}
