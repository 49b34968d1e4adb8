//! The OAuth 2.0 device authorization grant (RFC 8628) as Entra serves it, for the automatic
//! setup: Gatehouse's setup client asks for a code, the admin enters it at Microsoft's page and
//! signs in there, and Gatehouse polls the token endpoint until the admin's delegated token
//! comes back. That token is an [`AdminToken`]: it is never serialized, logged or stored.

use crate::outbound::{read_body, read_text};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

/// The admin's delegated access token for Microsoft Graph. Its `Debug` never shows it and it
/// has no `Serialize`: it lives in the setup's memory only.
pub struct AdminToken(String);

impl AdminToken {
    pub fn bearer(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

/// What the device authorization endpoint answered.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceCode {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    /// Seconds the code lives (Entra: 900).
    pub expires_in: u64,
    /// Seconds to wait between polls (Entra: 5).
    #[serde(default = "default_interval")]
    pub interval: u64,
}

fn default_interval() -> u64 {
    5
}

/// The admin who signed in, and their token.
#[derive(Debug)]
pub struct SignedInAdmin {
    pub token: AdminToken,
    /// The directory they signed in to, from the ID token's `tid` (the Graph access token is
    /// opaque to clients).
    pub tenant_id: String,
    pub username: Option<String>,
}

/// One poll's answer.
#[derive(Debug)]
pub enum Poll {
    /// `authorization_pending`: the admin has not finished yet.
    Pending,
    /// `slow_down`: wait five seconds longer between polls from now on.
    SlowDown,
    /// `authorization_declined`: the admin chose not to continue.
    Declined,
    /// `bad_verification_code`: Entra does not know this code.
    BadCode,
    /// `expired_token`: the code's 15 minutes are over.
    Expired,
    /// Any other refusal, with Entra's description (an AADSTS code, such as Conditional Access).
    Refused(String),
    SignedIn(SignedInAdmin),
}

/// Why the directory could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum DeviceCodeError {
    /// The endpoint refused the request, with Entra's description.
    #[error("{0}")]
    Refused(String),
    #[error("Entra could not be reached: {0}")]
    Unavailable(String),
}

fn unavailable(error: impl std::fmt::Display) -> DeviceCodeError {
    DeviceCodeError::Unavailable(error.to_string())
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    id_token: Option<String>,
}

/// Asks `authority_host/<tenant>` for a device code for `client_id` and `scopes`.
pub async fn start(
    http: &reqwest::Client,
    authority_host: &str,
    tenant: &str,
    client_id: &str,
    scopes: &[String],
) -> Result<DeviceCode, DeviceCodeError> {
    let url = format!("{authority_host}/{tenant}/oauth2/v2.0/devicecode");
    let form = [
        ("client_id", client_id.to_string()),
        ("scope", scopes.join(" ")),
    ];
    let response = crate::outbound::timed("device_code", http.post(&url).form(&form).send())
        .await
        .map_err(unavailable)?;
    let status = response.status();
    let body = read_body(response).await.map_err(unavailable)?;
    if !status.is_success() {
        return Err(DeviceCodeError::Refused(described(&body, status)));
    }
    serde_json::from_slice(&body)
        .map_err(|e| unavailable(format!("its answer was not understood: {e}")))
}

fn described(body: &[u8], status: reqwest::StatusCode) -> String {
    serde_json::from_slice::<ErrorAnswer>(body)
        .ok()
        .map(|e| e.error_description.unwrap_or(e.error))
        .unwrap_or_else(|| format!("the directory answered {status}"))
}

/// Polls the token endpoint once for `device_code`.
pub async fn poll(
    http: &reqwest::Client,
    authority_host: &str,
    tenant: &str,
    client_id: &str,
    device_code: &str,
) -> Result<Poll, DeviceCodeError> {
    let url = format!("{authority_host}/{tenant}/oauth2/v2.0/token");
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", client_id),
        ("device_code", device_code),
    ];
    let response = crate::outbound::timed("device_code", http.post(&url).form(&form).send())
        .await
        .map_err(unavailable)?;
    let status = response.status();
    if !status.is_success() {
        let body = read_text(response).await.map_err(unavailable)?;
        let Ok(answer) = serde_json::from_str::<ErrorAnswer>(&body) else {
            return Err(DeviceCodeError::Unavailable(format!(
                "the directory answered {status}"
            )));
        };
        return Ok(match answer.error.as_str() {
            "authorization_pending" => Poll::Pending,
            "slow_down" => Poll::SlowDown,
            "authorization_declined" | "access_denied" => Poll::Declined,
            "bad_verification_code" => Poll::BadCode,
            "expired_token" => Poll::Expired,
            _ => Poll::Refused(answer.error_description.unwrap_or(answer.error)),
        });
    }
    let body = read_body(response).await.map_err(unavailable)?;
    let answer: TokenAnswer = serde_json::from_slice(&body)
        .map_err(|e| unavailable(format!("its answer was not understood: {e}")))?;
    let claims = answer
        .id_token
        .as_deref()
        .and_then(id_token_claims)
        .ok_or_else(|| unavailable("its answer had no readable ID token"))?;
    let tenant_id = claims["tid"]
        .as_str()
        .and_then(|t| crate::domain::Guid::parse(t).ok())
        .ok_or_else(|| unavailable("its ID token named no directory"))?
        .0;
    Ok(Poll::SignedIn(SignedInAdmin {
        token: AdminToken(answer.access_token),
        tenant_id,
        username: claims["preferred_username"].as_str().map(str::to_string),
    }))
}

/// The claims of an ID token received straight from the token endpoint over TLS, which OpenID
/// Connect Core (3.1.3.7) lets a client read without checking its signature. Only the
/// directory id and the admin's name are read from it.
fn id_token_claims(id_token: &str) -> Option<serde_json::Value> {
    let payload = id_token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_token_never_shows() {
        let token = AdminToken("eyJ.secret.token".into());
        assert_eq!(format!("{token:?}"), "AdminToken(…)");
    }

    #[test]
    fn id_token_claims_are_read() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"tid":"6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11"}"#);
        let claims = id_token_claims(&format!("e30.{payload}.sig")).unwrap();
        assert_eq!(claims["tid"], "6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11");
        assert!(id_token_claims("not a token").is_none());
    }
}
