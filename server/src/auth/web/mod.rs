//! The web side of who is signed in: the extractors handlers use (the client's address, the
//! signed-in account), the session cookie and the session store.

pub mod session_cookie;
pub mod session_store;

use super::{resolve, Account, Principal, PRINCIPAL_KEY, SIGNED_IN_AT_KEY};
use crate::clock::to_millis;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::Actor;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use std::net::{IpAddr, SocketAddr};
use tower_sessions::Session;

/// The client's address: the peer's, or, when the peer is one of the operator's trusted
/// proxies (`GATEHOUSE_TRUSTED_PROXIES`), the nearest address in `X-Forwarded-For` that is not
/// a trusted proxy. From any other peer the header is ignored, so nobody picks their address.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip())
        else {
            return Ok(ClientAddr("unknown".into()));
        };
        let trusted = &state.config.trusted_proxies;
        let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
        if !is_trusted(&peer) {
            return Ok(ClientAddr(peer.to_string()));
        }
        let forwarded: Vec<IpAddr> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        let client = forwarded
            .iter()
            .rev()
            .find(|ip| !is_trusted(ip))
            .or(forwarded.first())
            .copied()
            .unwrap_or(peer);
        Ok(ClientAddr(client.to_string()))
    }
}

/// A request from a signed-in operator or admin: the console's API. Anyone else is answered
/// with 401, and a member signed in with SSO with 403.
pub struct SignedIn {
    pub account: Account,
    pub actor: Actor,
    pub session: Session,
}

/// A request from anyone signed in, members included: their own session only.
pub struct SignedInPerson(pub SignedIn);

async fn signed_in(parts: &mut Parts, state: &AppState) -> Result<SignedIn, ApiError> {
    let session = Session::from_request_parts(parts, state)
        .await
        .map_err(|(_, msg)| ApiError::Internal(format!("session layer missing: {msg}")))?;
    let ClientAddr(client_addr) = ClientAddr::from_request_parts(parts, state)
        .await
        .unwrap_or(ClientAddr("unknown".into()));
    let principal: Option<Principal> = session
        .get(PRINCIPAL_KEY)
        .await
        .map_err(|e| ApiError::Internal(format!("session read: {e}")))?;
    let signed_in_at: Option<i64> = session
        .get(SIGNED_IN_AT_KEY)
        .await
        .map_err(|e| ApiError::Internal(format!("session read: {e}")))?;
    let lifetime = state.config.session_lifetime.whole_milliseconds() as i64;
    let outlived = signed_in_at.is_none_or(|at| to_millis(state.now()) - at > lifetime);
    if principal.is_some() && outlived {
        // Signed in too long ago, however active since: sign in again.
        session
            .flush()
            .await
            .map_err(|e| ApiError::Internal(format!("session end: {e}")))?;
        return Err(ApiError::Unauthorized);
    }
    let account = match principal {
        Some(p) => resolve(&state.storage, &p).await?,
        None => None,
    };
    let account = account.ok_or(ApiError::Unauthorized)?;
    let actor = Actor {
        label: account.audit_label(),
        client_addr,
    };
    Ok(SignedIn {
        account,
        actor,
        session,
    })
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let person = signed_in(parts, state).await?;
        match person.account {
            Account::Member(_) => Err(ApiError::Forbidden),
            _ => Ok(person),
        }
    }
}

impl FromRequestParts<AppState> for SignedInPerson {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        signed_in(parts, state).await.map(SignedInPerson)
    }
}

/// Starts a fresh session for this principal: a new session id, so an id planted before
/// sign-in is worthless after it.
pub async fn start_session(
    session: &Session,
    principal: &Principal,
    now: time::OffsetDateTime,
) -> ApiResult<()> {
    let write =
        |e: tower_sessions::session::Error| ApiError::Internal(format!("session write: {e}"));
    session
        .cycle_id()
        .await
        .map_err(|e| ApiError::Internal(format!("session cycle: {e}")))?;
    session
        .insert(PRINCIPAL_KEY, principal)
        .await
        .map_err(write)?;
    session
        .insert(SIGNED_IN_AT_KEY, to_millis(now))
        .await
        .map_err(write)?;
    Ok(())
}
