//! The token endpoint (OpenID Connect Core 3.1.3; RFC 6749 §4.1.3, RFC 7636 §4.6) and what
//! `userinfo` answers (Core 5.3): the application authenticates, its code is used once, and
//! the tokens say who the person is now — a member disabled or an organization the application
//! no longer serves gets no token.

use super::applications::{serves, CONFIDENTIAL};
use super::{ProviderError, ProviderServices, TOKEN_LIFETIME};
use crate::clock::{from_millis, to_millis};
use crate::crypto::tokens;
use crate::oidc::PassedOn;
use crate::storage::{
    ApplicationRecord, GrantRecord, IssuedTokens, MemberRecord, OrganizationRecord, Redeemed,
    Refreshed,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, AuthenticationMethodReference, EndUserEmail,
    EndUserName, IdToken, IdTokenClaims, IssuerUrl, LocalizedClaim, Nonce, StandardClaims,
    SubjectIdentifier,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Gatehouse's own claims, in the ID token and from `userinfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationClaims {
    pub org_id: String,
    pub org_slug: String,
    pub org_name: String,
    /// `admin` or `member`.
    pub role: String,
    /// The directory identity the member is mapped to, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
}

/// The ID token's claims beyond the standard ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatehouseIdClaims {
    /// The Gatehouse session's id for applications (back-channel logout names it).
    pub sid: String,
    #[serde(flatten)]
    pub organization: OrganizationClaims,
    /// The directory's app roles, when it sent them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

impl AdditionalClaims for GatehouseIdClaims {}

/// What the directory said at sign-in that the grant passes on (nothing when it said none).
fn passed_on(grant: &GrantRecord) -> Result<PassedOn, ProviderError> {
    Ok(match &grant.passed_on {
        Some(json) => serde_json::from_str(json)?,
        None => PassedOn::default(),
    })
}

pub type GatehouseIdToken = IdToken<
    GatehouseIdClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// The token request's parameters (RFC 6749 §4.1.3, §2.3.1).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
}

/// How the application authenticated: `client_secret_basic` gives both from the header.
#[derive(Debug, Clone, Default)]
pub struct BasicCredentials {
    pub client_id: String,
    pub client_secret: String,
}

/// A token response (Core 3.1.3.3).
#[derive(Debug, Clone, Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub id_token: String,
    pub refresh_token: String,
    pub scope: &'static str,
}

/// A refused token request (RFC 6749 §5.2).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid_client: {0}")]
    InvalidClient(&'static str),
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error(transparent)]
    Internal(#[from] ProviderError),
}

impl From<crate::storage::StorageError> for TokenError {
    fn from(e: crate::storage::StorageError) -> Self {
        TokenError::Internal(e.into())
    }
}

impl TokenError {
    /// The `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidClient(_) => "invalid_client",
            TokenError::InvalidGrant(_) => "invalid_grant",
            TokenError::InvalidRequest(_) => "invalid_request",
            TokenError::UnsupportedGrantType => "unsupported_grant_type",
            TokenError::Internal(_) => "server_error",
        }
    }

    /// The `error_description`.
    pub fn description(&self) -> &'static str {
        match self {
            TokenError::InvalidClient(d)
            | TokenError::InvalidGrant(d)
            | TokenError::InvalidRequest(d) => d,
            TokenError::UnsupportedGrantType => {
                "Only authorization_code and refresh_token are supported."
            }
            TokenError::Internal(_) => "Gatehouse could not answer; try again.",
        }
    }
}

/// The application the request authenticates as, by its registered method.
async fn authenticate(
    services: &ProviderServices<'_>,
    request: &TokenRequest,
    basic: Option<&BasicCredentials>,
) -> Result<ApplicationRecord, TokenError> {
    let (client_id, secret) = match (basic, request.client_secret.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(TokenError::InvalidRequest(
                "Use one client authentication method, not two.",
            ))
        }
        (Some(b), None) => (b.client_id.as_str(), Some(b.client_secret.as_str())),
        (None, secret) => (request.client_id.as_deref().unwrap_or_default(), secret),
    };
    let unknown = TokenError::InvalidClient("Client authentication failed.");
    if client_id.is_empty() {
        return Err(unknown);
    }
    let application = services
        .storage
        .find_application(client_id)
        .await?
        .ok_or(TokenError::InvalidClient("Client authentication failed."))?;
    if application.kind == CONFIDENTIAL {
        let secret = secret
            .filter(|s| !s.is_empty())
            .ok_or(TokenError::InvalidClient("Client authentication failed."))?;
        let matches = services
            .storage
            .application_secret_matches(&application.id, &tokens::hash(secret))
            .await?;
        if !matches {
            return Err(unknown);
        }
    }
    Ok(application)
}

/// Whether `verifier` is the one `challenge` was made from (RFC 7636 §4.6, S256).
fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    valid && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

/// How long after its first use a refresh token still works, for two refreshes an
/// application sent at the same moment.
const REFRESH_GRACE: time::Duration = time::Duration::seconds(5);

/// Answers a token request: a code (`authorization_code`) or a refresh token
/// (`refresh_token`) exchanged for tokens.
pub async fn exchange(
    services: &ProviderServices<'_>,
    request: &TokenRequest,
    basic: Option<&BasicCredentials>,
) -> Result<Tokens, TokenError> {
    let grant_type = request.grant_type.as_deref();
    if !matches!(grant_type, Some("authorization_code" | "refresh_token")) {
        return Err(TokenError::UnsupportedGrantType);
    }
    let application = authenticate(services, request, basic).await?;
    if grant_type == Some("refresh_token") {
        refresh(services, &application, request).await
    } else {
        redeem(services, &application, request).await
    }
}

/// RFC 6749 §4.1.3: a code, used once, for the client, redirect URI and PKCE verifier it was
/// issued with.
async fn redeem(
    services: &ProviderServices<'_>,
    application: &ApplicationRecord,
    request: &TokenRequest,
) -> Result<Tokens, TokenError> {
    let code = request
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(TokenError::InvalidRequest("The code is missing."))?;
    let grant = match services
        .storage
        .redeem_code(&tokens::hash(code), services.now())
        .await?
    {
        Redeemed::First(grant) => *grant,
        Redeemed::Again => {
            tracing::warn!(client = %application.id, "a code was used twice: its grant is revoked");
            return Err(TokenError::InvalidGrant("The code was used before."));
        }
        Redeemed::Unknown => return Err(TokenError::InvalidGrant("The code is not valid.")),
    };
    // The code is spent now, whatever the checks below find.
    check_code(services, application, request, &grant)?;
    issue(services, application, &grant, grant.nonce.as_deref()).await
}

/// RFC 6749 §6: a refresh token, used once and replaced (rotation); one used again ends the
/// whole grant.
async fn refresh(
    services: &ProviderServices<'_>,
    application: &ApplicationRecord,
    request: &TokenRequest,
) -> Result<Tokens, TokenError> {
    let token = request
        .refresh_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::InvalidRequest("The refresh_token is missing."))?;
    let now = services.now();
    let grant = match services
        .storage
        .use_refresh_token(&tokens::hash(token), now - REFRESH_GRACE, now)
        .await?
    {
        Refreshed::Rotate(grant) => *grant,
        Refreshed::Reused => {
            tracing::warn!(client = %application.id, "a refresh token was used again: its grant is revoked");
            return Err(TokenError::InvalidGrant(
                "The refresh token was used before: the sign-in it belongs to is ended.",
            ));
        }
        Refreshed::Unknown => {
            return Err(TokenError::InvalidGrant("The refresh token is not valid."))
        }
    };
    if grant.application_id != application.id {
        return Err(TokenError::InvalidGrant(
            "The refresh token was issued to another client.",
        ));
    }
    // Refreshed ID tokens carry no nonce (Core 12.2).
    issue(services, application, &grant, None).await
}

/// The checks on a redeemed code (RFC 6749 §4.1.3, RFC 7636 §4.6).
fn check_code(
    services: &ProviderServices<'_>,
    application: &ApplicationRecord,
    request: &TokenRequest,
    grant: &GrantRecord,
) -> Result<(), TokenError> {
    if grant.application_id != application.id {
        return Err(TokenError::InvalidGrant(
            "The code was issued to another client.",
        ));
    }
    if grant.code_expires_at <= to_millis(services.now()) {
        return Err(TokenError::InvalidGrant("The code has expired."));
    }
    if request.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return Err(TokenError::InvalidGrant(
            "The redirect_uri differs from the authorization request's.",
        ));
    }
    match (&grant.code_challenge, request.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier)) if pkce_matches(challenge, verifier) => Ok(()),
        (Some(_), _) => Err(TokenError::InvalidGrant(
            "The code_verifier does not match.",
        )),
        (None, Some(_)) => Err(TokenError::InvalidGrant(
            "A code_verifier came for a request without code_challenge.",
        )),
        (None, None) => Ok(()),
    }
}

/// New tokens for a grant, when its member may still use the application: an access token,
/// the next refresh token and an ID token, none living past the end of the person's session.
async fn issue(
    services: &ProviderServices<'_>,
    application: &ApplicationRecord,
    grant: &GrantRecord,
    nonce: Option<&str>,
) -> Result<Tokens, TokenError> {
    let now = services.now();
    let session_end = from_millis(grant.auth_time) + services.session_lifetime;
    let refused = TokenError::InvalidGrant("The person may no longer use this application.");
    let person = person_now(services, application, grant).await?;
    let Some((member, organization)) = person.filter(|_| session_end > now) else {
        services.storage.revoke_grant(&grant.id, now).await?;
        return Err(refused);
    };
    let access_expires = (now + TOKEN_LIFETIME).min(session_end);
    let refresh_expires = (now
        + time::Duration::seconds(application.refresh_token_lifetime_seconds))
    .min(session_end);
    let (access_token, access_hash) = tokens::generate();
    let (refresh_token, refresh_hash) = tokens::generate();
    services
        .storage
        .add_tokens(
            &grant.id,
            &IssuedTokens {
                access_hash: &access_hash,
                access_expires_at: to_millis(access_expires),
                refresh_hash: &refresh_hash,
                refresh_expires_at: to_millis(refresh_expires),
            },
            now,
        )
        .await?;
    let claims = TokenSubject {
        application,
        grant,
        member: &member,
        organization: &organization,
        nonce,
        expires: access_expires,
    };
    let id_token = id_token(services, &claims, &access_token).await?;
    Ok(Tokens {
        access_token,
        token_type: "Bearer",
        expires_in: (access_expires - now).whole_seconds(),
        id_token,
        refresh_token,
        scope: "openid profile email",
    })
}

/// The grant's member and organization when the member is still active, the application
/// still serves the organization, and (for a directory sign-in) its single sign-on is on.
async fn person_now(
    services: &ProviderServices<'_>,
    application: &ApplicationRecord,
    grant: &GrantRecord,
) -> Result<Option<(MemberRecord, OrganizationRecord)>, ProviderError> {
    if !serves(application, &grant.organization_id) {
        return Ok(None);
    }
    let member = services
        .storage
        .find_member(&grant.organization_id, &grant.member_id)
        .await?
        .filter(|m| m.status == "active");
    let Some(member) = member else {
        return Ok(None);
    };
    let organization = services
        .storage
        .find_sign_in_organization(crate::storage::OrganizationKey::Id(&grant.organization_id))
        .await?
        .filter(|o| grant.by_directory == 0 || super::sso_on(o))
        .map(|o| o.organization);
    Ok(organization.map(|o| (member, o)))
}

fn organization_claims(
    member: &MemberRecord,
    organization: &OrganizationRecord,
) -> OrganizationClaims {
    OrganizationClaims {
        org_id: organization.id.clone(),
        org_slug: organization.slug.clone(),
        org_name: organization.name.clone(),
        role: member.role.clone(),
        tid: member.directory_tenant_id.clone(),
        oid: member.directory_object_id.clone(),
    }
}

/// Whether the member's email is one the organization vouches for: its domain is proven.
async fn email_verified(
    services: &ProviderServices<'_>,
    member: &MemberRecord,
) -> Result<Option<bool>, ProviderError> {
    let Some(domain) = member
        .email
        .as_deref()
        .and_then(|e| e.rsplit_once('@'))
        .map(|(_, d)| d)
    else {
        return Ok(None);
    };
    let proven = crate::domains::is_proven(
        services.storage,
        services.now(),
        &member.organization_id,
        domain,
    )
    .await?;
    Ok(Some(proven))
}

/// The person's standard claims: `name`, `email`, `email_verified`.
async fn standard_claims(
    services: &ProviderServices<'_>,
    member: &MemberRecord,
) -> Result<StandardClaims<CoreGenderClaim>, ProviderError> {
    let mut name = LocalizedClaim::new();
    name.insert(None, EndUserName::new(member.display_name.clone()));
    Ok(
        StandardClaims::new(SubjectIdentifier::new(member.id.clone()))
            .set_name(Some(name))
            .set_email(member.email.clone().map(EndUserEmail::new))
            .set_email_verified(email_verified(services, member).await?),
    )
}

/// Who and what an ID token is about.
struct TokenSubject<'a> {
    application: &'a ApplicationRecord,
    grant: &'a GrantRecord,
    member: &'a MemberRecord,
    organization: &'a OrganizationRecord,
    nonce: Option<&'a str>,
    expires: time::OffsetDateTime,
}

async fn id_token(
    services: &ProviderServices<'_>,
    subject: &TokenSubject<'_>,
    access_token: &str,
) -> Result<String, ProviderError> {
    let to_chrono = |t: time::OffsetDateTime| {
        chrono::DateTime::from_timestamp(t.unix_timestamp(), 0).unwrap_or_default()
    };
    let issuer = IssuerUrl::new(services.issuer.to_string())
        .map_err(|e| ProviderError::Signing(format!("issuer: {e}")))?;
    let passed_on = passed_on(subject.grant)?;
    let amr = (!passed_on.amr.is_empty()).then(|| {
        passed_on
            .amr
            .iter()
            .map(|m| AuthenticationMethodReference::new(m.clone()))
            .collect()
    });
    let claims = IdTokenClaims::new(
        issuer,
        vec![Audience::new(subject.application.id.clone())],
        to_chrono(subject.expires),
        to_chrono(services.now()),
        standard_claims(services, subject.member).await?,
        GatehouseIdClaims {
            sid: subject.grant.session_sid.clone(),
            organization: organization_claims(subject.member, subject.organization),
            roles: passed_on.roles,
        },
    )
    .set_auth_time(Some(to_chrono(from_millis(subject.grant.auth_time))))
    .set_auth_method_refs(amr)
    .set_nonce(subject.nonce.map(|n| Nonce::new(n.to_string())));
    let alg = &subject.application.signing_alg;
    let keys = services.keys_for(alg).await?;
    let signer = keys
        .signer(alg)
        .ok_or_else(|| ProviderError::Key(format!("no {alg} key")))?;
    let token = GatehouseIdToken::new(
        claims,
        &signer,
        signer.algorithm(),
        Some(&AccessToken::new(access_token.to_string())),
        None,
    )
    .map_err(|e| ProviderError::Signing(e.to_string()))?;
    Ok(token.to_string())
}

/// What `userinfo` answers for an access token, or `None` when the token is not (or no
/// longer) valid.
pub async fn userinfo(
    services: &ProviderServices<'_>,
    access_token: &str,
) -> Result<Option<serde_json::Value>, ProviderError> {
    let Some(grant) = services
        .storage
        .find_grant_by_access_token(&tokens::hash(access_token), services.now())
        .await?
    else {
        return Ok(None);
    };
    let Some(application) = services
        .storage
        .find_application(&grant.application_id)
        .await?
    else {
        return Ok(None);
    };
    let Some((member, organization)) = person_now(services, &application, &grant).await? else {
        return Ok(None);
    };
    let standard = standard_claims(services, &member).await?;
    let mut claims = serde_json::json!({
        "sub": member.id,
        "name": member.display_name,
    });
    if let Some(email) = standard.email() {
        claims["email"] = email.as_str().into();
        claims["email_verified"] = standard.email_verified().unwrap_or(false).into();
    }
    let own = serde_json::to_value(organization_claims(&member, &organization))?;
    if let (Some(all), serde_json::Value::Object(own)) = (claims.as_object_mut(), own) {
        all.extend(own);
    }
    let passed_on = passed_on(&grant)?;
    if !passed_on.roles.is_empty() {
        claims["roles"] = passed_on.roles.into();
    }
    Ok(Some(claims))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pkce_checks_the_s256_of_the_verifier() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(super::pkce_matches(challenge, verifier));
        assert!(!super::pkce_matches(
            challenge,
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"
        ));
        assert!(!super::pkce_matches(challenge, "short"));
    }
}
