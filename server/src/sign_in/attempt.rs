//! A sign-in in progress, kept by the browser that started it: an HttpOnly cookie sealed with
//! the server's key (the browser can neither read nor change it) that holds the organization,
//! the nonce, the PKCE verifier, where to go afterwards and when it expires. Its name carries
//! the start of the state's hash, so sign-ins started in two tabs both finish, and it is sent
//! back only to the callback: a callback arriving in another browser finds no cookie and is
//! refused. Which states were used the server keeps (`storage::UsedState`): a state is
//! answered once. Starting a sign-in writes nothing on the server and touches no session.

use crate::auth::session_cookie;
use crate::clock::to_millis;
use crate::crypto::sealing::SealingKey;
use crate::crypto::tokens;
use crate::error::{ApiError, ApiResult};
use crate::oidc::Started;
use crate::storage::{UsedState, ATTEMPT_LIFETIME};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tower_sessions::cookie::{Cookie, SameSite};

const COOKIE_PREFIX: &str = "gatehouse_sign_in_";
const COOKIE_PATH: &str = "/auth/callback";
/// Seals attempts apart from everything else the key seals.
const SEALING_CONTEXT: &str = "gatehouse sign-in attempt";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignInAttempt {
    pub organization_id: String,
    /// `sign_in::PURPOSE` or the wizard's test sign-in.
    pub purpose: String,
    /// The state's SHA-256: the attempt answers only the callback that carries that state.
    pub state_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where to go after a sign-in, already checked to be a relative path on Gatehouse.
    pub return_to: Option<String>,
    /// Unix milliseconds.
    pub expires_at: i64,
}

/// Why a callback has no attempt to finish.
#[derive(Debug, PartialEq, Eq)]
pub enum NotKept {
    /// This browser holds no authentic attempt for the state.
    Missing,
    /// It does, but the attempt is older than `ATTEMPT_LIFETIME`.
    Expired,
}

fn cookie_name(state_hash: &str) -> String {
    format!("{COOKIE_PREFIX}{}", &state_hash[..16])
}

impl SignInAttempt {
    pub fn new(
        organization_id: &str,
        purpose: &str,
        started: &Started,
        return_to: Option<String>,
        now: OffsetDateTime,
    ) -> Self {
        SignInAttempt {
            organization_id: organization_id.to_string(),
            purpose: purpose.to_string(),
            state_hash: tokens::hash(&started.state),
            nonce: started.nonce.clone(),
            pkce_verifier: started.pkce_verifier.clone(),
            return_to,
            expires_at: to_millis(now + ATTEMPT_LIFETIME),
        }
    }

    /// The attempt's state, to be kept as used with the outcome of its callback.
    pub fn used_state(&self) -> UsedState<'_> {
        UsedState {
            state_hash: &self.state_hash,
            expires_at: self.expires_at,
        }
    }

    /// Gives the attempt to the browser, sealed, for as long as it lives.
    pub fn hand_over(
        &self,
        key: &SealingKey,
        https: bool,
        headers: &mut axum::http::HeaderMap,
    ) -> ApiResult<()> {
        let json = serde_json::to_vec(self).map_err(|e| ApiError::Internal(e.to_string()))?;
        let sealed = key
            .seal(&json, SEALING_CONTEXT)
            .map_err(|e| ApiError::Internal(format!("sealing the sign-in attempt: {e}")))?;
        let cookie = Cookie::build((cookie_name(&self.state_hash), sealed))
            .http_only(true)
            // The callback is a top-level navigation from the directory: Lax lets it through.
            .same_site(SameSite::Lax)
            .secure(https)
            .path(COOKIE_PATH)
            .max_age(ATTEMPT_LIFETIME)
            .build();
        session_cookie::set(headers, &cookie)
    }

    /// The attempt this browser kept for the state, if it is authentic and still alive.
    pub fn kept(
        headers: &HeaderMap,
        key: &SealingKey,
        state_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Self, NotKept> {
        let sealed =
            session_cookie::read(headers, &cookie_name(state_hash)).ok_or(NotKept::Missing)?;
        let attempt: SignInAttempt = key
            .open(&sealed, SEALING_CONTEXT)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(NotKept::Missing)?;
        if attempt.state_hash != state_hash {
            return Err(NotKept::Missing);
        }
        if attempt.expires_at <= to_millis(now) {
            return Err(NotKept::Expired);
        }
        Ok(attempt)
    }

    /// Tells the browser to drop the state's attempt: it has been answered.
    pub fn forget(state_hash: &str, https: bool, headers: &mut HeaderMap) -> ApiResult<()> {
        let cookie = Cookie::build((cookie_name(state_hash), ""))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(https)
            .path(COOKIE_PATH)
            .max_age(time::Duration::ZERO)
            .build();
        session_cookie::set(headers, &cookie)
    }
}

#[cfg(test)]
mod tests {
    use super::{NotKept, SignInAttempt};
    use crate::crypto::sealing::SealingKey;
    use crate::crypto::tokens;
    use crate::oidc::Started;
    use axum::http::{header, HeaderMap, HeaderValue};
    use time::{Duration, OffsetDateTime};

    fn started(state: &str) -> Started {
        Started {
            authorize_url: "https://login.example/authorize".into(),
            state: state.into(),
            nonce: "nonce".into(),
            pkce_verifier: "verifier".into(),
        }
    }

    /// The request a browser sends back with the cookies a response gave it.
    fn sent_back(response: &HeaderMap) -> HeaderMap {
        let cookies: Vec<String> = response
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string())
            .collect();
        let mut request = HeaderMap::new();
        request.insert(
            header::COOKIE,
            HeaderValue::from_str(&cookies.join("; ")).unwrap(),
        );
        request
    }

    #[test]
    fn the_browser_keeps_the_attempt_sealed_and_gives_it_back_for_its_state_only() {
        let key = SealingKey::generate();
        let now = OffsetDateTime::now_utc();
        let attempt = SignInAttempt::new("org", "sign_in", &started("s1"), Some("/x".into()), now);
        let other = SignInAttempt::new("org", "sign_in", &started("s2"), None, now);
        let mut response = HeaderMap::new();
        attempt.hand_over(&key, true, &mut response).unwrap();
        other.hand_over(&key, true, &mut response).unwrap();
        let cookie = response.get(header::SET_COOKIE).unwrap().to_str().unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("Secure"));
        assert!(cookie.contains("Path=/auth/callback") && cookie.contains("Max-Age=600"));
        assert!(!cookie.contains("verifier") && !cookie.contains("nonce"));
        let request = sent_back(&response);

        // Two tabs: each state finds its own attempt.
        let kept = SignInAttempt::kept(&request, &key, &tokens::hash("s1"), now).unwrap();
        assert_eq!(kept.return_to.as_deref(), Some("/x"));
        assert_eq!(kept.pkce_verifier, "verifier");
        let kept = SignInAttempt::kept(&request, &key, &tokens::hash("s2"), now).unwrap();
        assert_eq!(kept.return_to, None);

        // Another state, another key, or too late: nothing.
        let missing = SignInAttempt::kept(&request, &key, &tokens::hash("s3"), now);
        assert_eq!(missing.unwrap_err(), NotKept::Missing);
        let stranger = SealingKey::generate();
        let forged = SignInAttempt::kept(&request, &stranger, &tokens::hash("s1"), now);
        assert_eq!(forged.unwrap_err(), NotKept::Missing);
        let late = now + Duration::minutes(10);
        let expired = SignInAttempt::kept(&request, &key, &tokens::hash("s1"), late);
        assert_eq!(expired.unwrap_err(), NotKept::Expired);
    }

    #[test]
    fn an_attempt_moved_to_another_states_cookie_is_refused() {
        let key = SealingKey::generate();
        let now = OffsetDateTime::now_utc();
        let mut response = HeaderMap::new();
        SignInAttempt::new("org", "sign_in", &started("s1"), None, now)
            .hand_over(&key, false, &mut response)
            .unwrap();
        let request = sent_back(&response);
        let value = request[header::COOKIE].to_str().unwrap();
        let (_, sealed) = value.split_once('=').unwrap();
        let s2 = tokens::hash("s2");
        let mut moved = HeaderMap::new();
        moved.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("gatehouse_sign_in_{}={sealed}", &s2[..16])).unwrap(),
        );
        let refused = SignInAttempt::kept(&moved, &key, &s2, now);
        assert_eq!(refused.unwrap_err(), NotKept::Missing);
    }
}
