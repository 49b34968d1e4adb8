//! Gatehouse as an OpenID Provider for the vendor's own applications (OpenID Connect Core 1.0,
//! authorization code flow): an application sends a person to `authorize`; Gatehouse finds
//! their organization, signs them in with that organization's directory unless their Gatehouse
//! session already did, and hands back a code, which the application exchanges at `token` for
//! an ID token (who the person is, in which organization, with which role) and an access token
//! for `userinfo`.

pub mod applications;
pub mod authorize;
pub mod keys;
pub mod logout;
pub mod token;
pub mod web;

use crate::clock::Clock;
use crate::crypto::sealing::{SealingError, SealingKey};
use crate::storage::{Storage, StorageError};
pub use keys::SigningKeys;

pub const DISCOVERY: &str = "/.well-known/openid-configuration";
pub const JWKS: &str = "/oauth2/jwks";
pub const AUTHORIZE: &str = "/oauth2/authorize";
pub const TOKEN: &str = "/oauth2/token";
pub const USERINFO: &str = "/oauth2/userinfo";
pub const END_SESSION: &str = "/oauth2/logout";

/// How long a code may wait to be exchanged.
pub const CODE_LIFETIME: time::Duration = time::Duration::seconds(60);
/// How long access and ID tokens work (never past the session's own end).
pub const TOKEN_LIFETIME: time::Duration = time::Duration::hours(1);

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Sealing(#[from] SealingError),
    #[error("signing key: {0}")]
    Key(String),
    #[error("signing a token failed: {0}")]
    Signing(String),
    #[error("claims: {0}")]
    Claims(#[from] serde_json::Error),
}

/// What the provider works with.
pub struct ProviderServices<'a> {
    pub storage: &'a Storage,
    pub clock: &'a dyn Clock,
    pub sealing_key: &'a SealingKey,
    pub keys: &'a SigningKeys,
    /// Gatehouse's public URL: the issuer.
    pub issuer: &'a str,
    /// How long after signing in a Gatehouse session ends, however active.
    pub session_lifetime: time::Duration,
    /// For calls to applications (back-channel logout).
    pub http: &'a reqwest::Client,
}

impl ProviderServices<'_> {
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// The signing keys as they are now.
    pub async fn keys(&self) -> Result<std::sync::Arc<keys::KeySet>, ProviderError> {
        self.keys
            .current(self.storage, self.sealing_key, self.now())
            .await
    }

    /// The signing keys, with one that signs with `alg` (the RS256 key is made on first use).
    pub async fn keys_for(&self, alg: &str) -> Result<std::sync::Arc<keys::KeySet>, ProviderError> {
        if alg == keys::RS256 {
            self.keys
                .with_rs256(self.storage, self.sealing_key, self.now())
                .await
        } else {
            self.keys().await
        }
    }
}

/// Whether the organization's single sign-on is on: an active connection whose mode is not
/// "disabled".
pub fn sso_on(organization: &crate::storage::SignInOrganization) -> bool {
    organization
        .active_config
        .as_deref()
        .and_then(|c| serde_json::from_str::<crate::connections::ConnectionConfig>(c).ok())
        .is_some_and(|c| c.policy.mode != app::types::SsoMode::Disabled)
}

/// The discovery document (OpenID Connect Discovery 1.0 §3) for `issuer`.
pub fn discovery(issuer: &str) -> serde_json::Value {
    serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}{}", AUTHORIZE),
        "token_endpoint": format!("{issuer}{}", TOKEN),
        "userinfo_endpoint": format!("{issuer}{}", USERINFO),
        "jwks_uri": format!("{issuer}{}", JWKS),
        "end_session_endpoint": format!("{issuer}{}", END_SESSION),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [keys::ES256, keys::RS256],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "name", "email",
            "email_verified", "org_id", "org_slug", "org_name", "role", "tid", "oid"
        ],
        "prompt_values_supported": ["login", "none"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    })
}
