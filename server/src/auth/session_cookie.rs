//! The session cookie in one place: the session layer uses it for the sessions it saves, and a
//! sign-in with the directory for the session it writes itself, in the same transaction as the
//! sign-in's audit entry (one trip to the database instead of a load-cycle-save).

use super::session_store::DbSessionStore;
use super::Principal;
use crate::error::{ApiError, ApiResult};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use tower_sessions::cookie::{Cookie, SameSite};
use tower_sessions::session::Id;
use tower_sessions::{Expiry, SessionManagerLayer};

/// Sessions end after this long without a request.
pub const IDLE: time::Duration = time::Duration::hours(12);
pub const NAME: &str = "gatehouse_session";

/// The session layer every route sits behind.
pub fn layer(store: DbSessionStore, https: bool) -> SessionManagerLayer<DbSessionStore> {
    SessionManagerLayer::new(store)
        .with_name(NAME)
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

/// A session started by a sign-in with the directory, written by the storage layer.
#[derive(Debug)]
pub struct NewSession {
    pub id: String,
    /// The record's data, as the session store keeps it.
    pub data: String,
    pub expires_at: i64,
    /// The session this browser had before, ended by the sign-in (the id is rotated).
    pub replaces: Option<String>,
}

impl NewSession {
    /// A fresh random id holding the principal and the directory's sign-out page.
    /// `replaces` is the browser's session before this sign-in (`read`), ended by it.
    pub fn start(
        replaces: Option<String>,
        principal: &Principal,
        directory_sign_out: &str,
        now: time::OffsetDateTime,
    ) -> ApiResult<Self> {
        let encode = |e: serde_json::Error| ApiError::Internal(format!("session data: {e}"));
        let mut data = serde_json::Map::new();
        data.insert(
            super::PRINCIPAL_KEY.into(),
            serde_json::to_value(principal).map_err(encode)?,
        );
        data.insert(
            super::DIRECTORY_SIGN_OUT_KEY.into(),
            directory_sign_out.into(),
        );
        let data = serde_json::to_string(&data).map_err(encode)?;
        Ok(NewSession {
            id: Id::default().to_string(),
            data,
            expires_at: crate::clock::to_millis(now + IDLE),
            replaces,
        })
    }

    /// Adds the cookie that hands the session to the browser, with the layer's attributes.
    pub fn hand_over(&self, https: bool, headers: &mut HeaderMap) -> ApiResult<()> {
        let cookie = Cookie::build((NAME, self.id.as_str()))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(https)
            .path("/")
            .max_age(IDLE)
            .build();
        set(headers, &cookie)
    }
}

/// Adds a `Set-Cookie` header for this cookie to a response.
pub fn set(headers: &mut HeaderMap, cookie: &Cookie<'_>) -> ApiResult<()> {
    let value = HeaderValue::from_str(&cookie.to_string())
        .map_err(|e| ApiError::Internal(format!("cookie {}: {e}", cookie.name())))?;
    headers.append(SET_COOKIE, value);
    Ok(())
}
