//! OpenID Connect with a directory, through the `openidconnect` crate: the authorization code
//! flow with PKCE S256, a fresh state and nonce per attempt, and a fully validated ID token
//! (signature against the directory's keys, issuer, audience, expiry, nonce).

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, StandardErrorResponse,
    StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};

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

/// Why a sign-in could not complete, for the log and for the admin.
#[derive(Debug, Clone)]
pub struct OidcFailure {
    pub message: String,
    pub details: String,
}

fn failure(message: &str, details: impl std::fmt::Display) -> OidcFailure {
    OidcFailure {
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
}

/// Where to send the browser, and what the callback needs to finish.
pub struct Started {
    pub authorize_url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// Reads the directory's discovery document and keys and builds the client.
pub async fn client(
    http: &reqwest::Client,
    authority_host: &str,
    tenant_id: &str,
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
) -> Result<EntraClient, OidcFailure> {
    let issuer = IssuerUrl::new(format!("{authority_host}/{tenant_id}/v2.0"))
        .map_err(|e| failure("The directory's address is not valid.", e))?;
    let metadata = CoreProviderMetadata::discover_async(issuer, http)
        .await
        .map_err(|e| {
            failure(
                "Gatehouse could not read the directory's sign-in settings.",
                e,
            )
        })?;
    let redirect = RedirectUrl::new(redirect_uri.to_string())
        .map_err(|e| failure("Gatehouse's redirect URI is not valid.", e))?;
    Ok(EntraClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.to_string()),
        Some(ClientSecret::new(client_secret.to_string())),
    )
    .set_auth_type(openidconnect::AuthType::RequestBody)
    .set_redirect_uri(redirect))
}

/// Step 1 of the code flow (OpenID Connect Core 3.1.2.1): a fresh state, nonce and PKCE pair.
pub fn start(client: &EntraClient, login_hint: Option<&str>) -> Started {
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
    let (url, state, nonce) = request.url();
    Started {
        authorize_url: url.to_string(),
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
    }
}

/// Steps 3.1.3.1–3.1.3.7: exchanges the code and validates the ID token.
pub async fn finish(
    http: &reqwest::Client,
    client: &EntraClient,
    code: &str,
    pkce_verifier: &str,
    nonce: &str,
) -> Result<Identity, OidcFailure> {
    let response = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| failure("The directory has no token endpoint.", e))?
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
        .request_async(http)
        .await
        .map_err(|e| {
            failure(
                "The directory refused to complete the sign-in.",
                token_error(&e),
            )
        })?;
    let id_token = response
        .id_token()
        .ok_or_else(|| failure("The directory sent no ID token.", "id_token missing"))?;
    let claims = id_token
        .claims(&client.id_token_verifier(), &Nonce::new(nonce.to_string()))
        .map_err(|e| failure("The ID token did not pass validation.", e))?;
    let extra = claims.additional_claims();
    let (Some(tenant_id), Some(object_id)) = (extra.tid.clone(), extra.oid.clone()) else {
        return Err(failure(
            "The ID token does not name the directory user (tid and oid).",
            "tid or oid missing",
        ));
    };
    Ok(Identity {
        tenant_id,
        object_id,
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.to_string()),
        username: claims.preferred_username().map(|u| u.to_string()),
        email: claims.email().map(|e| e.to_string()),
        email_verified: matches!(extra.xms_edov, Some(serde_json::Value::Bool(true)))
            || matches!(&extra.xms_edov, Some(serde_json::Value::String(s)) if s == "true" || s == "1"),
    })
}

fn token_error<E: std::error::Error>(e: &E) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
