//! Signing out of the vendor's applications with Gatehouse. When a person's Gatehouse session
//! ends (they sign out, their directory signs them out, an admin disables them, or an
//! application asks through `end_session`), the grants it gave applications end with it, and
//! each application with a back-channel logout URI gets a logout token (OpenID Connect
//! Back-Channel Logout 1.0), sent in the background and tried again until it is taken.

use super::token::GatehouseIdToken;
use super::{ProviderError, ProviderServices};
use crate::storage::{GrantsOf, LogoutRecord};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use openidconnect::{ClientId, IdTokenVerifier, IssuerUrl, Nonce, PrivateSigningKey};

/// The event a logout token carries (Back-Channel Logout 1.0 §2.4).
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a logout token may be used.
const LOGOUT_TOKEN_LIFETIME: time::Duration = time::Duration::minutes(2);
/// Logouts sent per round.
const PER_ROUND: i64 = 50;
/// How long one sender holds a logout it is sending.
const TAKEN_FOR: time::Duration = time::Duration::minutes(1);
/// After this many failures Gatehouse stops trying (over about a day).
const MAX_ATTEMPTS: i64 = 12;

/// How long to wait after the `attempts`-th failure: 2, 4, 8 … seconds, at most an hour.
fn retry_delay(attempts: i64) -> time::Duration {
    time::Duration::seconds((1i64 << attempts.clamp(0, 12)).min(3600))
}

/// Ends the grants of a Gatehouse session (its `sid` for applications); owes their
/// applications a logout.
pub async fn session_ended(
    services: &ProviderServices<'_>,
    sid: &str,
) -> Result<u64, ProviderError> {
    Ok(services
        .storage
        .end_grants(GrantsOf::Session(sid), services.now())
        .await?)
}

/// Ends all of a member's grants, in every session (the member was disabled).
pub async fn member_ended(
    services: &ProviderServices<'_>,
    organization_id: &str,
    member_id: &str,
) -> Result<u64, ProviderError> {
    Ok(services
        .storage
        .end_grants(
            GrantsOf::Member {
                organization_id,
                member_id,
            },
            services.now(),
        )
        .await?)
}

/// A logout token (Back-Channel Logout 1.0 §2.4): a JWT of type `logout+jwt` with `iss`,
/// `aud`, `iat`, `exp`, `jti`, the logout event, `sub` and `sid`, and no `nonce`. Signed with
/// the ID tokens' key; openidconnect builds only ID tokens, so the compact form is made here.
async fn logout_token(
    services: &ProviderServices<'_>,
    logout: &LogoutRecord,
) -> Result<String, ProviderError> {
    let application = services
        .storage
        .find_application(&logout.application_id)
        .await?;
    let alg = application.map_or(super::keys::ES256.to_string(), |a| a.signing_alg);
    let keys = services.keys_for(&alg).await?;
    let signer = keys
        .signer(&alg)
        .ok_or_else(|| ProviderError::Key(format!("no {alg} key")))?;
    let now = services.now().unix_timestamp();
    let header = serde_json::json!({"alg": alg, "typ": "logout+jwt", "kid": signer.kid()});
    let claims = serde_json::json!({
        "iss": services.issuer,
        "aud": logout.application_id,
        "iat": now,
        "exp": now + LOGOUT_TOKEN_LIFETIME.whole_seconds(),
        "jti": uuid::Uuid::new_v4().to_string(),
        "sub": logout.member_id,
        "sid": logout.session_sid,
        "events": { LOGOUT_EVENT: {} },
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = signer
        .sign(&signer.algorithm(), input.as_bytes())
        .map_err(|e| ProviderError::Signing(e.to_string()))?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// Sends one logout token; answers why it failed.
async fn send(services: &ProviderServices<'_>, logout: &LogoutRecord) -> Result<(), String> {
    let token = logout_token(services, logout)
        .await
        .map_err(|e| e.to_string())?;
    let response = services
        .http
        .post(&logout.backchannel_logout_uri)
        .form(&[("logout_token", token)])
        .send()
        .await
        .map_err(|e| format!("the application did not answer: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the application answered {}", response.status()))
    }
}

/// Sends the logout tokens that are due; answers how many were taken.
pub async fn deliver_due(services: &ProviderServices<'_>) -> Result<usize, ProviderError> {
    let now = services.now();
    let mut sent = 0;
    for logout in services.storage.due_logouts(now, PER_ROUND).await? {
        if !services
            .storage
            .take_logout(&logout, now + TAKEN_FOR)
            .await?
        {
            continue;
        }
        let result = send(services, &logout).await;
        let (error, retry_at) = match &result {
            Ok(()) => (None, None),
            Err(why) => {
                let attempts = logout.attempts + 1;
                tracing::warn!(application = %logout.application_id, attempts, error = %why, "a back-channel logout failed");
                (
                    Some(why.as_str()),
                    (attempts < MAX_ATTEMPTS).then(|| now + retry_delay(attempts)),
                )
            }
        };
        services
            .storage
            .logout_attempted(&logout, error, retry_at, now)
            .await?;
        sent += usize::from(result.is_ok());
    }
    Ok(sent)
}

/// What a valid `id_token_hint` says (RP-Initiated Logout 1.0 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// The application the ID token was issued to.
    pub client_id: String,
    /// The Gatehouse session it came from.
    pub sid: Option<String>,
}

/// Reads an ID token Gatehouse issued, expired or not: its signature and issuer must hold.
pub async fn read_hint(
    services: &ProviderServices<'_>,
    hint: &str,
) -> Result<Option<Hint>, ProviderError> {
    let Ok(token) = hint.parse::<GatehouseIdToken>() else {
        return Ok(None);
    };
    let unchecked = IdTokenVerifier::<CoreJsonWebKey>::new_insecure_without_verification();
    let Ok(claimed) = token.claims(&unchecked, |_: Option<&Nonce>| Ok(())) else {
        return Ok(None);
    };
    let [audience] = claimed.audiences().as_slice() else {
        return Ok(None);
    };
    let issued = claimed.issue_time();
    let Ok(issuer) = IssuerUrl::new(services.issuer.to_string()) else {
        return Ok(None);
    };
    let keys = services.keys().await?;
    // Checked as of the moment it was issued: a hint may have expired since.
    let verifier = IdTokenVerifier::new_public_client(
        ClientId::new(audience.to_string()),
        issuer,
        keys.published.clone(),
    )
    .set_allowed_algs([
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    ])
    .set_time_fn(move || issued);
    let Ok(claims) = token.claims(&verifier, |_: Option<&Nonce>| Ok(())) else {
        return Ok(None);
    };
    Ok(Some(Hint {
        client_id: audience.to_string(),
        sid: Some(claims.additional_claims().sid.clone()),
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn retries_wait_longer_each_time_up_to_an_hour() {
        let seconds: Vec<i64> = [1, 2, 3, 11, 12]
            .iter()
            .map(|n| super::retry_delay(*n).whole_seconds())
            .collect();
        assert_eq!(seconds, vec![2, 4, 8, 2048, 3600]);
    }
}

/// An application's sign-out request (RP-Initiated Logout 1.0 §2).
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct EndSessionRequest {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
}

/// A sign-out request Gatehouse does not follow: shown at Gatehouse, never redirected.
#[derive(Debug, thiserror::Error)]
pub enum EndSessionRefused {
    #[error("The id_token_hint is not an ID token Gatehouse issued.")]
    BadHint,
    #[error("The id_token_hint was issued to another application than client_id names.")]
    OtherClient,
    #[error("The post_logout_redirect_uri is not registered for this application.")]
    UnregisteredRedirect,
    #[error(transparent)]
    Internal(#[from] ProviderError),
}

/// Where a sign-out request may send the browser afterwards, checked: `Some` only for a
/// `post_logout_redirect_uri` the application registered, with `state` added. `hinted` says
/// whether a valid `id_token_hint` came (else the person confirms the sign-out first).
pub async fn check_end_session(
    services: &ProviderServices<'_>,
    request: &EndSessionRequest,
) -> Result<(Option<String>, bool), EndSessionRefused> {
    let nonempty = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_string);
    let hint = match nonempty(&request.id_token_hint) {
        Some(hint) => Some(
            read_hint(services, &hint)
                .await?
                .ok_or(EndSessionRefused::BadHint)?,
        ),
        None => None,
    };
    let client_id = match (&hint, nonempty(&request.client_id)) {
        (Some(h), Some(id)) if h.client_id != id => return Err(EndSessionRefused::OtherClient),
        (Some(h), _) => Some(h.client_id.clone()),
        (None, id) => id,
    };
    let Some(redirect) = nonempty(&request.post_logout_redirect_uri) else {
        return Ok((None, hint.is_some()));
    };
    let application = match &client_id {
        Some(id) => services
            .storage
            .find_application(id)
            .await
            .map_err(ProviderError::from)?,
        None => None,
    };
    let registered = application.is_some_and(|a| a.post_logout_redirect_uris.contains(&redirect));
    if !registered {
        return Err(EndSessionRefused::UnregisteredRedirect);
    }
    let mut url = openidconnect::url::Url::parse(&redirect)
        .map_err(|_| EndSessionRefused::UnregisteredRedirect)?;
    if let Some(state) = nonempty(&request.state) {
        url.query_pairs_mut().append_pair("state", &state);
    }
    Ok((Some(url.to_string()), hint.is_some()))
}
