//! OpenID Connect with a directory, through the `openidconnect` crate: the authorization code
//! flow with PKCE S256, a fresh state and nonce per attempt, and a fully validated ID token
//! (`validate`), with the directory's discovery document and keys cached (`directory_cache`).

pub mod directory_cache;
mod signature;
pub mod validate;

pub use directory_cache::DirectoryCache;

use crate::entra::client_credential::{self, ClientCredential};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

/// Entra's claims beyond the standard ones: the directory user's object id, the directory,
/// and whether the email's domain owner verified it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EntraClaims {
    #[serde(default)]
    pub oid: Option<String>,
    #[serde(default)]
    pub tid: Option<String>,
    #[serde(default)]
    pub xms_edov: Option<serde_json::Value>,
    /// The directory's session: its front-channel logout names it.
    #[serde(default)]
    pub sid: Option<String>,
    /// Not valid before this time (seconds since the epoch): standard for JWTs, but not among
    /// the crate's ID token claims.
    #[serde(default)]
    pub nbf: Option<i64>,
    /// The app roles the person is assigned in the directory (Entra sends them when the app
    /// registration defines roles and the person, or a group of theirs, has one).
    #[serde(default)]
    pub roles: Option<Vec<String>>,
}

impl AdditionalClaims for EntraClaims {}

type EntraIdTokenFields = IdTokenFields<
    EntraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type EntraTokenResponse = StandardTokenResponse<EntraIdTokenFields, CoreTokenType>;

/// A client of one directory for one app registration.
pub type EntraClient = openidconnect::Client<
    EntraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    EntraTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a sign-in could not complete: a short reason for the audit log, a message for people,
/// and the technical details for the admin.
#[derive(Debug, Clone)]
pub struct OidcFailure {
    pub reason: &'static str,
    pub message: String,
    pub details: String,
}

/// The reason of a failure because the directory could not be reached (or did not answer in
/// time).
pub const UNREACHABLE: &str = "provider_unreachable";
/// The reason of a failure because the directory answered with a failure of its own.
pub const DIRECTORY_ERROR: &str = "provider_error";

impl OidcFailure {
    /// Whether the directory was down, slow or failing (its outage, not a refusal): nobody
    /// but the directory's operator can do anything about it.
    pub fn is_outage(&self) -> bool {
        self.reason == UNREACHABLE || self.reason == DIRECTORY_ERROR
    }
}

fn failure(reason: &'static str, message: &str, details: impl std::fmt::Display) -> OidcFailure {
    OidcFailure {
        reason,
        message: message.to_string(),
        details: details.to_string(),
    }
}

/// What the directory says about who signed in, after every check passed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Identity {
    pub tenant_id: String,
    pub object_id: String,
    pub name: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    /// The directory's session id (`sid`), when the token has one.
    #[serde(default)]
    pub sid: Option<String>,
    /// What the directory said that applications receive as it was said.
    #[serde(default)]
    pub passed_on: PassedOn,
}

/// Claims of the directory that Gatehouse passes on to the vendor's applications unchanged,
/// only when the directory sent them (nothing is invented: Entra's v2 tokens carry no `amr`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassedOn {
    /// The directory's app roles (`roles`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// How the person authenticated (`amr`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

impl PassedOn {
    pub fn is_empty(&self) -> bool {
        self.roles.is_empty() && self.amr.is_empty()
    }
}

/// Where to send the browser, and what the callback needs to finish.
pub struct Started {
    pub authorize_url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// One app registration in one directory, as a connection configures it.
pub struct Registration<'a> {
    pub authority_host: &'a str,
    pub tenant_id: &'a str,
    pub client_id: &'a str,
    pub credential: &'a ClientCredential,
    pub redirect_uri: &'a str,
}

impl Registration<'_> {
    fn issuer(&self) -> String {
        directory_cache::issuer_of(self.authority_host, self.tenant_id)
    }

    /// The directory's sign-out page (Entra's end-session endpoint).
    pub fn sign_out_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/logout",
            self.authority_host, self.tenant_id
        )
    }

    fn client(&self, metadata: &CoreProviderMetadata) -> Result<EntraClient, OidcFailure> {
        let redirect = RedirectUrl::new(self.redirect_uri.to_string())
            .map_err(|e| failure("redirect_uri", "Gatehouse's redirect URI is not valid.", e))?;
        Ok(EntraClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.client_id.to_string()),
            match self.credential {
                ClientCredential::Secret(secret) => Some(ClientSecret::new(secret.clone())),
                // A client assertion goes with each token request instead (`complete`).
                ClientCredential::Certificate(_) => None,
            },
        )
        .set_auth_type(openidconnect::AuthType::RequestBody)
        .set_redirect_uri(redirect))
    }
}

/// Step 1 of the code flow (OpenID Connect Core 3.1.2.1): a fresh state, nonce and PKCE pair,
/// scopes `openid profile email` (and `extra_scope`, such as Microsoft Graph's `User.Read`),
/// and the address of the directory's sign-in page.
/// What the directory is asked about its own session (OpenID Connect Core 3.1.2.1, `prompt`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DirectoryPrompt {
    /// Its session signs the person in, else it asks.
    #[default]
    AsUsual,
    /// It asks the person to sign in again (`prompt=login`).
    Login,
    /// It never asks: its session signs the person in, else it answers an error
    /// (`prompt=none`).
    Silent,
}

pub async fn begin(
    directories: &DirectoryCache,
    http: &reqwest::Client,
    registration: &Registration<'_>,
    login_hint: Option<&str>,
    extra_scope: Option<&str>,
    prompt: DirectoryPrompt,
) -> Result<Started, OidcFailure> {
    let issuer = registration.issuer();
    let metadata = directories.metadata(http, &issuer).await?;
    let client = directories.client(&issuer, &metadata, registration)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge);
    if let Some(hint) = login_hint {
        request = request.add_extra_param("login_hint", hint.to_string());
    }
    if let Some(scope) = extra_scope {
        request = request.add_scope(Scope::new(scope.to_string()));
    }
    match prompt {
        DirectoryPrompt::AsUsual => {}
        DirectoryPrompt::Login => {
            request = request.add_prompt(openidconnect::core::CoreAuthPrompt::Login)
        }
        DirectoryPrompt::Silent => {
            request = request.add_prompt(openidconnect::core::CoreAuthPrompt::None)
        }
    }
    let (url, state, nonce) = request.url();
    Ok(Started {
        authorize_url: url.to_string(),
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
    })
}

/// What the callback brings and what the attempt remembered.
pub struct Completion<'a> {
    pub code: &'a str,
    pub pkce_verifier: &'a str,
    pub nonce: &'a str,
    pub now: OffsetDateTime,
    pub skew: Duration,
}

/// A completed sign-in: who it is, and the access token that came with the ID token (for
/// Entra, a Microsoft Graph token with the delegated scopes asked for). The token is used at
/// once and never stored.
pub struct Finished {
    pub identity: Identity,
    pub access_token: openidconnect::AccessToken,
}

/// Steps 3.1.3.1–3.1.3.7: exchanges the code and validates the ID token. A token signed with
/// a key the cache lacks gets one (rate-limited) key re-fetch before it is judged.
pub async fn finish(
    directories: &DirectoryCache,
    http: &reqwest::Client,
    registration: &Registration<'_>,
    completion: &Completion<'_>,
) -> Result<Finished, OidcFailure> {
    let issuer = registration.issuer();
    let mut metadata = directories.metadata(http, &issuer).await?;
    let client = directories.client(&issuer, &metadata, registration)?;
    let exchange = client
        .exchange_code(AuthorizationCode::new(completion.code.to_string()))
        .map_err(|e| {
            failure(
                "provider_metadata",
                "The directory has no token endpoint.",
                e,
            )
        })?
        .set_pkce_verifier(PkceCodeVerifier::new(completion.pkce_verifier.to_string()));
    // A certificate credential signs a client assertion for this one request.
    let exchange = match registration.credential {
        ClientCredential::Secret(_) => exchange,
        ClientCredential::Certificate(certificate) => {
            let endpoint = metadata
                .token_endpoint()
                .map(|u| u.url().to_string())
                .unwrap_or_default();
            let assertion =
                client_credential::client_assertion(certificate, registration.client_id, &endpoint)
                    .map_err(|e| {
                        failure(
                            "client_assertion",
                            "Gatehouse could not sign with its certificate.",
                            e,
                        )
                    })?;
            exchange
                .add_extra_param("client_assertion_type", client_credential::JWT_BEARER)
                .add_extra_param("client_assertion", assertion)
        }
    };
    let response = crate::outbound::timed(
        "token",
        exchange.request_async(&crate::outbound::Capped(http)),
    )
    .await
    .map_err(|e| match e {
            openidconnect::RequestTokenError::Request(_) => failure(
                UNREACHABLE,
                "The directory could not be reached to complete the sign-in. It may be down or slow; try again in a few minutes.",
                error_chain(&e),
            ),
            openidconnect::RequestTokenError::ServerResponse(ref answer)
                if matches!(
                    answer.error().as_ref(),
                    "temporarily_unavailable" | "server_error"
                ) =>
            {
                failure(
                    DIRECTORY_ERROR,
                    "The directory could not complete the sign-in: it reports a failure of its own. It may be having an outage; try again in a few minutes.",
                    error_chain(&e),
                )
            }
            openidconnect::RequestTokenError::ServerResponse(_) => failure(
                "token_request",
                "The directory refused to complete the sign-in.",
                error_chain(&e),
            ),
            // Not an OAuth answer at all: a failing front end's error page, most likely.
            openidconnect::RequestTokenError::Parse(..)
            | openidconnect::RequestTokenError::Other(_) => failure(
                DIRECTORY_ERROR,
                "The directory answered with an error page instead of completing the sign-in. It may be having an outage; try again in a few minutes.",
                error_chain(&e),
            ),
        })?;
    let token = response.id_token().ok_or_else(|| {
        failure(
            "token_missing",
            "The directory sent no ID token.",
            "id_token missing",
        )
    })?;
    let raw = token.to_string();
    if let Some(kid) = validate::key_id(&raw) {
        if !validate::has_key(&metadata, &kid) {
            if let Some(refreshed) = directories.refresh_keys(http, &issuer, &kid).await {
                metadata = refreshed;
            }
        }
    }
    let expected = validate::Expected {
        client_id: registration.client_id,
        tenant_id: registration.tenant_id,
        nonce: completion.nonce,
        now: completion.now,
        skew: completion.skew,
    };
    let identity = validate::validate(token, &raw, &metadata, &expected)
        .map_err(|r| failure(r.reason(), r.message(), r.reason()))?;
    Ok(Finished {
        identity,
        access_token: response.access_token().clone(),
    })
}

/// An error with its sources, for details shown to admins and written to the log.
pub fn error_chain<E: std::error::Error>(e: &E) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
