//! The session cookie in one place: the session layer uses it for the sessions it saves, and a
//! sign-in with the directory for the session it writes itself (`auth::NewSession`), in the
//! same transaction as the sign-in's audit entry.

use super::session_store::DbSessionStore;
use crate::auth::{NewSession, IDLE};
use crate::error::{ApiError, ApiResult};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use tower_sessions::cookie::{Cookie, SameSite};
use tower_sessions::session::Id;
use tower_sessions::{Expiry, SessionManagerLayer};

/// The session cookie's name: on https with the `__Host-` prefix, which browsers accept only
/// from a secure origin, for the whole host (`Path=/`, no `Domain`), so no other site under
/// the same domain can set or overwrite it.
pub fn name(https: bool) -> &'static str {
    if https {
        "__Host-gatehouse_session"
    } else {
        "gatehouse_session"
    }
}

/// The session layer every route sits behind.
pub fn layer(store: DbSessionStore, https: bool) -> SessionManagerLayer<DbSessionStore> {
    SessionManagerLayer::new(store)
        .with_name(name(https))
        .with_path("/")
        .with_secure(https)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(IDLE))
}

/// A value of a cookie the browser sent.
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// A fresh session id, as the session layer makes them.
pub fn new_id() -> String {
    Id::default().to_string()
}

/// Adds the cookie that hands a session a sign-in started to the browser, with the layer's
/// attributes.
pub fn hand_over(session: &NewSession, https: bool, headers: &mut HeaderMap) -> ApiResult<()> {
    let cookie = Cookie::build((name(https), session.id.as_str()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(https)
        .path("/")
        .max_age(IDLE)
        .build();
    set(headers, &cookie)
}

/// Adds a `Set-Cookie` header for this cookie to a response.
pub fn set(headers: &mut HeaderMap, cookie: &Cookie<'_>) -> ApiResult<()> {
    let value = HeaderValue::from_str(&cookie.to_string())
        .map_err(|e| ApiError::Internal(format!("cookie {}: {e}", cookie.name())))?;
    headers.append(SET_COOKIE, value);
    Ok(())
}
