//! The random key that ties a sign-in attempt to the browser that started it. It lives in its
//! own HttpOnly cookie, sent back only to the callback, for as long as an attempt lives: a
//! callback arriving in another browser (or without the cookie) finds no matching key and is
//! refused. Starting a sign-in touches no session.

use crate::auth::session_cookie;
use crate::crypto::tokens;
use crate::error::ApiResult;
use crate::oidc::Started;
use crate::state::AppState;
use crate::storage::{SignInAttempt, ATTEMPT_LIFETIME};
use axum::http::HeaderMap;
use tower_sessions::cookie::{Cookie, SameSite};

const COOKIE: &str = "gatehouse_sign_in";
const COOKIE_PATH: &str = "/auth/callback";

/// This browser's key: the one its cookie already holds (so sign-ins started in two tabs both
/// finish), or a new one.
pub struct BrowserKey(String);

impl BrowserKey {
    pub fn of(headers: &HeaderMap) -> Self {
        let sent = session_cookie::read(headers, COOKIE).filter(|k| k.len() == 43);
        BrowserKey(sent.unwrap_or_else(|| tokens::generate().0))
    }

    /// Gives the key to the browser (again), for as long as the attempt lives.
    pub fn hand_over(&self, https: bool, headers: &mut HeaderMap) -> ApiResult<()> {
        let cookie = Cookie::build((COOKIE, self.0.as_str()))
            .http_only(true)
            // The callback is a top-level navigation from the directory: Lax lets it through.
            .same_site(SameSite::Lax)
            .secure(https)
            .path(COOKIE_PATH)
            .max_age(ATTEMPT_LIFETIME)
            .build();
        session_cookie::set(headers, &cookie)
    }

    /// Keeps a started sign-in, bound to this browser, until its callback (single use).
    pub async fn save_attempt(
        &self,
        state: &AppState,
        organization_id: &str,
        purpose: &str,
        started: &Started,
        return_to: Option<String>,
    ) -> ApiResult<()> {
        let attempt = SignInAttempt {
            organization_id: organization_id.to_string(),
            purpose: purpose.to_string(),
            browser_key_hash: tokens::hash(&self.0),
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
}

/// Whether the browser that comes back is the one that started the attempt.
pub fn same_browser(headers: &HeaderMap, attempt: &SignInAttempt) -> bool {
    session_cookie::read(headers, COOKIE)
        .is_some_and(|k| tokens::hash(&k) == attempt.browser_key_hash)
}
