//! The cookie a browser keeps its sign-in attempt in (`sign_in::attempt`): HttpOnly, sealed,
//! named after the start of the state's hash, and sent back only to the callback.

use crate::auth::web::session_cookie;
use crate::crypto::sealing::SealingKey;
use crate::error::{ApiError, ApiResult};
use crate::sign_in::attempt::{NotKept, SignInAttempt};
use crate::storage::ATTEMPT_LIFETIME;
use axum::http::HeaderMap;
use time::OffsetDateTime;
use tower_sessions::cookie::{Cookie, SameSite};

const COOKIE_PREFIX: &str = "gatehouse_sign_in_";
const COOKIE_PATH: &str = "/auth/callback";

/// On https with the `__Secure-` prefix, which browsers accept only from a secure origin.
fn cookie_name(state_hash: &str, https: bool) -> String {
    let secure = if https { "__Secure-" } else { "" };
    format!("{secure}{COOKIE_PREFIX}{}", &state_hash[..16])
}

/// Gives the attempt to the browser, sealed, for as long as it lives.
pub fn hand_over(
    attempt: &SignInAttempt,
    key: &SealingKey,
    https: bool,
    headers: &mut HeaderMap,
) -> ApiResult<()> {
    let sealed = attempt
        .seal(key)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let cookie = Cookie::build((cookie_name(&attempt.state_hash, https), sealed))
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
    https: bool,
    now: OffsetDateTime,
) -> Result<SignInAttempt, NotKept> {
    let sealed =
        session_cookie::read(headers, &cookie_name(state_hash, https)).ok_or(NotKept::Missing)?;
    SignInAttempt::open(&sealed, key, state_hash, now)
}

/// Tells the browser to drop the state's attempt: it has been answered.
pub fn forget(state_hash: &str, https: bool, headers: &mut HeaderMap) -> ApiResult<()> {
    let cookie = Cookie::build((cookie_name(state_hash, https), ""))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(https)
        .path(COOKIE_PATH)
        .max_age(time::Duration::ZERO)
        .build();
    session_cookie::set(headers, &cookie)
}

#[cfg(test)]
mod tests {
    use super::{hand_over, kept};
    use crate::crypto::sealing::SealingKey;
    use crate::crypto::tokens;
    use crate::oidc::Started;
    use crate::sign_in::attempt::{NotKept, SignInAttempt};
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
        hand_over(&attempt, &key, true, &mut response).unwrap();
        hand_over(&other, &key, true, &mut response).unwrap();
        let cookie = response.get(header::SET_COOKIE).unwrap().to_str().unwrap();
        assert!(
            cookie.starts_with("__Secure-gatehouse_sign_in_"),
            "{cookie}"
        );
        assert!(cookie.contains("HttpOnly") && cookie.contains("Secure"));
        assert!(cookie.contains("Path=/auth/callback") && cookie.contains("Max-Age=600"));
        assert!(!cookie.contains("verifier") && !cookie.contains("nonce"));
        let request = sent_back(&response);

        // Two tabs: each state finds its own attempt.
        let found = kept(&request, &key, &tokens::hash("s1"), true, now).unwrap();
        assert_eq!(found.return_to.as_deref(), Some("/x"));
        assert_eq!(found.pkce_verifier, "verifier");
        let found = kept(&request, &key, &tokens::hash("s2"), true, now).unwrap();
        assert_eq!(found.return_to, None);

        // Another state, another key, or too late: nothing.
        let missing = kept(&request, &key, &tokens::hash("s3"), true, now);
        assert_eq!(missing.unwrap_err(), NotKept::Missing);
        let stranger = SealingKey::generate();
        let forged = kept(&request, &stranger, &tokens::hash("s1"), true, now);
        assert_eq!(forged.unwrap_err(), NotKept::Missing);
        let late = now + Duration::minutes(10);
        let expired = kept(&request, &key, &tokens::hash("s1"), true, late);
        assert_eq!(expired.unwrap_err(), NotKept::Expired);
    }

    #[test]
    fn an_attempt_moved_to_another_states_cookie_is_refused() {
        let key = SealingKey::generate();
        let now = OffsetDateTime::now_utc();
        let mut response = HeaderMap::new();
        let attempt = SignInAttempt::new("org", "sign_in", &started("s1"), None, now);
        hand_over(&attempt, &key, false, &mut response).unwrap();
        let request = sent_back(&response);
        let value = request[header::COOKIE].to_str().unwrap();
        let (_, sealed) = value.split_once('=').unwrap();
        let s2 = tokens::hash("s2");
        let mut moved = HeaderMap::new();
        moved.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("gatehouse_sign_in_{}={sealed}", &s2[..16])).unwrap(),
        );
        let refused = kept(&moved, &key, &s2, false, now);
        assert_eq!(refused.unwrap_err(), NotKept::Missing);
    }
}
