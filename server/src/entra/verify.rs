//! The live checks of the "Verify" step: the directory exists, the app exists in it and its
//! credential (a client secret or a certificate) works, and the credential is not about to
//! expire. Every outbound call has a
//! timeout, so a slow provider gives a clear failure instead of a hanging page.

use super::client_credential::ClientCredential;
use super::{aadsts, discovery_url, graph_default_scope, tenant_of_issuer};
use crate::outbound::{read_text, AnswerError};
use app::types::{CheckResult, Cloud};
use serde::Deserialize;

/// Where a directory's endpoints are, from its discovery document.
#[derive(Debug, Clone)]
pub struct DirectoryInfo {
    pub tenant_id: String,
    pub issuer: String,
    pub token_endpoint: String,
}

/// A failed call, in words for the admin and the provider's own text.
#[derive(Debug, Clone)]
pub struct Failure {
    pub message: String,
    pub details: Option<String>,
    pub aadsts: Option<String>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    token_endpoint: String,
}

#[derive(Deserialize)]
struct EntraError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

fn entra_failure(body: &str, redirect_uri: &str, fallback: &str) -> Failure {
    // Only Entra's own error (its code and message) is shown, never other bytes a host sent.
    let parsed: Option<EntraError> = serde_json::from_str(body).ok();
    let description = parsed
        .as_ref()
        .map(|e| format!("{}: {}", e.error, e.error_description))
        .unwrap_or_else(|| "The answer was not an error from Microsoft Entra ID.".to_string());
    let code = aadsts::code_of(&description);
    let message = code
        .as_deref()
        .and_then(|c| aadsts::explain(c, redirect_uri))
        .unwrap_or_else(|| fallback.to_string());
    Failure {
        message,
        details: Some(description),
        aadsts: code,
    }
}

fn unreachable(what: &str, error: &reqwest::Error) -> Failure {
    let why = if error.is_timeout() {
        "it did not answer in time"
    } else {
        "the connection failed"
    };
    Failure {
        message: format!(
            "Gatehouse could not reach {what}: {why}. Check the cloud, then try again."
        ),
        details: Some(error.to_string()),
        aadsts: None,
    }
}

fn unreadable(what: &str, error: AnswerError) -> Failure {
    match error {
        AnswerError::Transport(e) => unreachable(what, &e),
        AnswerError::TooLarge => Failure {
            message: format!("{what} answered with more than Gatehouse reads. Check the cloud or the authority host."),
            details: None,
            aadsts: None,
        },
    }
}

/// Reads the directory's discovery document. A verified domain resolves to the directory GUID.
pub async fn discover(
    http: &reqwest::Client,
    authority_host: &str,
    tenant: &str,
    redirect_uri: &str,
) -> Result<DirectoryInfo, Failure> {
    let url = discovery_url(authority_host, tenant);
    let response = http
        .get(&url)
        .send()
        .await
        .map_err(|e| unreachable(authority_host, &e))?;
    let status = response.status();
    let body = read_text(response)
        .await
        .map_err(|e| unreadable(authority_host, e))?;
    if !status.is_success() {
        return Err(entra_failure(
            &body,
            redirect_uri,
            "The directory's sign-in settings could not be read. Check the Directory (tenant) ID and the cloud.",
        ));
    }
    let doc: Discovery = serde_json::from_str(&body).map_err(|e| Failure {
        message: "The authority host did not answer like Microsoft Entra ID. Check the cloud or the authority host.".into(),
        details: Some(e.to_string()),
        aadsts: None,
    })?;
    let tenant_id = tenant_of_issuer(&doc.issuer).ok_or_else(|| Failure {
        message: "The directory's issuer has an unexpected form.".into(),
        details: Some(doc.issuer.clone()),
        aadsts: None,
    })?;
    if !super::authority::on_authority(authority_host, &doc.token_endpoint) {
        return Err(Failure {
            message: "The directory's sign-in settings send the token request to another host, which Gatehouse does not follow. Check the cloud or the authority host.".into(),
            details: Some(doc.token_endpoint),
            aadsts: None,
        });
    }
    Ok(DirectoryInfo {
        tenant_id,
        issuer: doc.issuer,
        token_endpoint: doc.token_endpoint,
    })
}

/// Asks for an app-only token: proves that the app exists in the directory and its credential
/// (the secret, or the certificate uploaded to it) works.
pub async fn check_client_credential(
    http: &reqwest::Client,
    directory: &DirectoryInfo,
    cloud: Cloud,
    client_id: &str,
    credential: &ClientCredential,
    redirect_uri: &str,
) -> Result<(), Failure> {
    let mut form = credential
        .token_fields(client_id, &directory.token_endpoint)
        .map_err(|e| Failure {
            message: "Gatehouse could not sign with its certificate.".into(),
            details: Some(e.to_string()),
            aadsts: None,
        })?;
    form.push(("grant_type", "client_credentials".into()));
    form.push(("scope", graph_default_scope(cloud).into()));
    let response = http
        .post(&directory.token_endpoint)
        .form(&form)
        .send()
        .await
        .map_err(|e| unreachable("the token endpoint", &e))?;
    if response.status().is_success() {
        return Ok(());
    }
    let body = read_text(response).await.unwrap_or_default();
    Err(entra_failure(
        &body,
        redirect_uri,
        match credential {
            ClientCredential::Secret(_) => "Entra refused the app's credentials. Check the Application (client) ID and the secret's Value.",
            ClientCredential::Certificate(_) => "Entra refused the app's credentials. Check the Application (client) ID, and that Gatehouse's certificate is uploaded to that app.",
        },
    ))
}

/// The values the checks need.
pub struct Candidate<'a> {
    pub cloud: Cloud,
    pub authority_host: &'a str,
    pub tenant_id: &'a str,
    pub client_id: &'a str,
    pub credential: &'a ClientCredential,
    /// When the credential expires.
    pub expires_on: time::Date,
}

fn line(
    check: &str,
    title: &str,
    outcome: &str,
    message: String,
    failure: Option<Failure>,
) -> CheckResult {
    let (details, aadsts) = failure
        .map(|f| (f.details, f.aadsts))
        .unwrap_or((None, None));
    CheckResult {
        check: check.into(),
        title: title.into(),
        outcome: outcome.into(),
        message,
        details,
        aadsts,
    }
}

/// Runs every check; a check that cannot run because an earlier one failed is `skipped`.
pub async fn run_checks(
    http: &reqwest::Client,
    candidate: &Candidate<'_>,
    today: time::Date,
    redirect_uri: &str,
) -> Vec<CheckResult> {
    let mut results = Vec::new();
    const DIRECTORY: &str = "The directory exists";
    let certificate = matches!(candidate.credential, ClientCredential::Certificate(_));
    let (credentials_title, expiry_title, accepted, noun, renew) = if certificate {
        (
            "The app exists in it and the certificate works",
            "The certificate is not about to expire",
            "Entra accepted the client ID and Gatehouse's certificate.",
            "certificate",
            "Generate a new certificate and upload it to the app.",
        )
    } else {
        (
            "The app exists in it and the client secret works",
            "The client secret is not about to expire",
            "Entra accepted the client ID and secret.",
            "secret",
            "Create a new one and paste its Value.",
        )
    };

    let directory = match discover(
        http,
        candidate.authority_host,
        candidate.tenant_id,
        redirect_uri,
    )
    .await
    {
        Ok(d) => {
            results.push(line(
                "directory",
                DIRECTORY,
                "passed",
                format!("Found directory {}.", d.tenant_id),
                None,
            ));
            Some(d)
        }
        Err(f) => {
            results.push(line(
                "directory",
                DIRECTORY,
                "failed",
                f.message.clone(),
                Some(f),
            ));
            None
        }
    };
    match directory {
        Some(d) => match check_client_credential(
            http,
            &d,
            candidate.cloud,
            candidate.client_id,
            candidate.credential,
            redirect_uri,
        )
        .await
        {
            Ok(()) => results.push(line(
                "credentials",
                credentials_title,
                "passed",
                accepted.into(),
                None,
            )),
            Err(f) => results.push(line(
                "credentials",
                credentials_title,
                "failed",
                f.message.clone(),
                Some(f),
            )),
        },
        None => results.push(line(
            "credentials",
            credentials_title,
            "skipped",
            "Checked once the directory is found.".into(),
            None,
        )),
    }
    let days_left = (candidate.expires_on - today).whole_days();
    results.push(match days_left {
        d if d < 0 => line(
            "secret_expiry",
            expiry_title,
            "failed",
            format!("The {noun} expired on {}. {renew}", candidate.expires_on),
            None,
        ),
        d if d <= crate::domain::EXPIRES_SOON_DAYS => line(
            "secret_expiry",
            expiry_title,
            "warning",
            format!(
                "The {noun} expires in {d} days, on {}. Plan to replace it soon.",
                candidate.expires_on
            ),
            None,
        ),
        d => line(
            "secret_expiry",
            expiry_title,
            "passed",
            format!(
                "The {noun} expires on {} ({d} days from now).",
                candidate.expires_on
            ),
            None,
        ),
    });
    results
}
