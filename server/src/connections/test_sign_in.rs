//! Step 4 of the wizard: the admin signs in at the directory with the draft's values and sees
//! what came back — the claims, the member they map to, and what the policy would decide. It
//! never creates a session for that identity and never changes members.

use super::{
    entra_urls, load, not_saved, open_registration, ConnectionConfig, ConnectionError,
    ConnectionResult, Loaded, OpenedRegistration, StoredConnectionError,
};
use crate::clock::rfc3339_millis;
use crate::crypto::tokens;
use crate::entra::aadsts;
use crate::entra::graph::{self, GraphFailure};
use crate::oidc;
use crate::sign_in::attempt::SignInAttempt;
use crate::sign_in::{decision, SignInServices};
use crate::storage::{Actor, OrganizationRecord, StorageError};
use app::types::{Cloud, Protocol, SamlAttributeView, SamlClaimsView, TestSignInView};
use serde::{Deserialize, Serialize};

pub const PURPOSE: &str = "test";

/// A test sign-in's result as stored: valid only for the credentials it was made with.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredResult {
    pub credentials: String,
    #[serde(flatten)]
    pub view: TestSignInView,
}

/// Names the draft's credentials: a new directory, client ID or secret needs a new test.
pub(super) fn credentials_fingerprint(config: &ConnectionConfig) -> String {
    // A SAML connection's "credentials" are the directory's Identifier, Login URL and
    // certificates.
    let saml = config
        .saml
        .as_ref()
        .map(|idp| {
            let thumbprints: Vec<&str> = idp
                .certificates
                .iter()
                .map(|c| c.thumbprint.as_str())
                .collect();
            format!(
                "|saml|{}|{}|{}",
                idp.entity_id,
                idp.login_url,
                thumbprints.join(",")
            )
        })
        .unwrap_or_default();
    tokens::hash(&format!(
        "{}|{}|{}|{}{saml}",
        config.authority_host,
        config.tenant_id.as_deref().unwrap_or_default(),
        config.client_id.as_deref().unwrap_or_default(),
        config
            .secret
            .as_ref()
            .map(|s| s.sealed.as_str())
            .unwrap_or_default(),
    ))
}

fn draft_registration(
    services: &SignInServices<'_>,
    org: &OrganizationRecord,
    draft: &ConnectionConfig,
) -> ConnectionResult<OpenedRegistration> {
    open_registration(
        services.sealing_key,
        services.public_url,
        services.allowed_authorities,
        org,
        draft,
    )?
    .ok_or_else(|| not_saved("test_sign_in"))
}

/// Starts a test sign-in with the draft's values; answers where to send the browser, and the
/// attempt it keeps until the callback.
pub async fn start(
    services: &SignInServices<'_>,
    org: &OrganizationRecord,
) -> ConnectionResult<(String, SignInAttempt)> {
    let Loaded { draft, record } = load(services.storage, org).await?;
    if record.is_none() {
        return Err(not_saved("test_sign_in"));
    }
    if let (Protocol::Saml, Some(idp)) = (draft.protocol, &draft.saml) {
        let urls = crate::saml::service_provider_urls(services.public_url, &org.id, &org.slug);
        // A test must show a fresh sign-in: Entra is asked to authenticate again.
        return crate::sign_in::saml::start(services, org, idp, &urls, None, true, PURPOSE, None)
            .ok_or_else(|| {
                ConnectionError::field(
                    "test_sign_in",
                    "The Login URL is not a web address: bring the SAML settings again.",
                )
            });
    }
    let opened = draft_registration(services, org, &draft)?;
    // On Entra's clouds the test sign-in also asks to read the directory's verified domains.
    let graph_scope = graph_of(services, &draft).map(|graph| format!("{graph}/User.Read"));
    let started = oidc::begin(
        services.directories,
        services.http,
        &opened.registration(),
        None,
        graph_scope.as_deref(),
        oidc::DirectoryPrompt::AsUsual,
    )
    .await
    .map_err(|f| {
        ConnectionError::field(
            "test_sign_in",
            format!("{} Verify the connection first.", f.message),
        )
    })?;
    let attempt = SignInAttempt::new(&org.id, PURPOSE, &started, None, services.now());
    Ok((started.authorize_url, attempt))
}

pub use crate::sign_in::Answer;

/// Microsoft Graph of the draft's cloud, when it is one of Entra's clouds: only there do the
/// directory's verified domains prove email domains (a custom authority could list any).
fn graph_of(services: &SignInServices<'_>, draft: &ConnectionConfig) -> Option<String> {
    let allowed = services.allowed_authorities;
    (draft.cloud != Cloud::Custom && allowed.is_entra_cloud(&draft.authority_host))
        .then(|| allowed.graph_base(draft.cloud, &draft.authority_host))
}

/// Finishes a test sign-in and keeps its result with the draft; answers where the wizard is.
pub async fn complete(
    services: &SignInServices<'_>,
    org: &OrganizationRecord,
    attempt: &SignInAttempt,
    answer: Answer<'_>,
) -> ConnectionResult<String> {
    let Loaded { draft, .. } = load(services.storage, org).await?;
    let urls = entra_urls(services.public_url, &org.slug);
    let at = rfc3339_millis(crate::clock::to_millis(services.now()));
    let result = match answer {
        Answer::Error { error, description } => failed(at, &urls.redirect_uri, error, description),
        Answer::Code(code) => {
            let completion = oidc::Completion {
                code,
                pkce_verifier: &attempt.pkce_verifier,
                nonce: &attempt.nonce,
                now: services.now(),
                skew: services.clock_skew,
            };
            let finished = match draft_registration(services, org, &draft) {
                Ok(opened) => oidc::finish(
                    services.directories,
                    services.http,
                    &opened.registration(),
                    &completion,
                )
                .await
                .map_err(|f| (f.message, f.details)),
                Err(e) => Err((e.to_string(), String::new())),
            };
            match finished {
                Ok(finished) => passed(services, org, &draft, at, finished).await?,
                Err((message, details)) => failed(at, &urls.redirect_uri, &message, &details),
            }
        }
    };
    keep(services, org, &draft, result, attempt.used_state()).await
}

/// Finishes a SAML test sign-in with the response the directory posted, checked against the
/// draft, and keeps its result with the draft; answers where the wizard is.
pub async fn complete_saml(
    services: &SignInServices<'_>,
    org: &OrganizationRecord,
    attempt: &SignInAttempt,
    posted: &str,
) -> ConnectionResult<String> {
    let Loaded { draft, .. } = load(services.storage, org).await?;
    let urls = crate::saml::service_provider_urls(services.public_url, &org.id, &org.slug);
    let at = rfc3339_millis(crate::clock::to_millis(services.now()));
    let Some(idp) = draft.saml.as_ref() else {
        return Err(not_saved("test_sign_in"));
    };
    let tenant_id = draft.tenant_id.clone().unwrap_or_default();
    let expected = crate::saml::response::Expected {
        identity_provider: idp,
        tenant_id: &tenant_id,
        identifier: &urls.identifier,
        reply_url: &urls.reply_url,
        request_id: attempt.saml_request_id.as_deref(),
        allow_unsolicited: false,
        skew: services.clock_skew,
    };
    let result = match crate::saml::response::check(posted, &expected) {
        Ok(accepted) => {
            let claims = SamlClaimsView {
                name_id: accepted.name_id.clone(),
                name_id_format: accepted.name_id_format.clone(),
                attributes: accepted
                    .attributes
                    .iter()
                    .map(|(name, values)| SamlAttributeView {
                        name: name.clone(),
                        values: values.clone(),
                    })
                    .collect(),
            };
            let note = "SAML gives Gatehouse no access to Microsoft Graph, so the directory's verified domains prove nothing here: prove email domains with a DNS record.";
            let mut view = describe(
                services,
                org,
                &draft,
                at,
                accepted.identity,
                (Vec::new(), Some(note.to_string())),
            )
            .await?;
            view.saml = Some(claims);
            view
        }
        Err(crate::saml::response::Rejection::Refused { status, message }) => {
            failed(at, &urls.reply_url, &status, &message)
        }
        Err(crate::saml::response::Rejection::Invalid { reason, details }) => {
            let mut view = failed(at, &urls.reply_url, reason, &details);
            view.error = Some(format!(
                "The directory's response did not pass Gatehouse's checks ({reason})."
            ));
            view
        }
    };
    keep(services, org, &draft, result, attempt.used_state()).await
}

/// Keeps a test sign-in's result with the draft, its state as used.
async fn keep(
    services: &SignInServices<'_>,
    org: &OrganizationRecord,
    draft: &ConnectionConfig,
    result: TestSignInView,
    used: crate::storage::UsedState<'_>,
) -> ConnectionResult<String> {
    let stored = StoredResult {
        credentials: credentials_fingerprint(draft),
        view: result,
    };
    let json = serde_json::to_string(&stored).map_err(StoredConnectionError::from)?;
    let view = stored.view;
    let saved = services
        .storage
        .save_test_sign_in(&org.id, &json, used)
        .await;
    if let Err(StorageError::Conflict("state")) = saved {
        // Another callback with the same state got there first.
        return Err(ConnectionError::AlreadyAnswered);
    }
    saved?;
    let actor = Actor {
        label: format!(
            "sso-test:{}",
            view.username
                .as_deref()
                .or(view.object_id.as_deref())
                .unwrap_or("-")
        ),
        client_addr: "-".into(),
    };
    super::prove_listed_domains(services.storage, services.now(), org, draft, &view, &actor)
        .await?;
    Ok(format!("/console/orgs/{}/sso#step-test", org.id))
}

fn failed(at: String, redirect_uri: &str, error: &str, description: &str) -> TestSignInView {
    let text = format!("{error}: {description}");
    let code = aadsts::code_of(&text);
    let message = code
        .as_deref()
        .and_then(|c| aadsts::explain(c, redirect_uri))
        .unwrap_or_else(|| format!("The test sign-in did not complete ({error})."));
    TestSignInView {
        at,
        passed: false,
        name: None,
        username: None,
        email: None,
        email_verified: false,
        object_id: None,
        tenant_id: None,
        mapping: String::new(),
        decision: String::new(),
        error: Some(message),
        aadsts: code,
        details: Some(text),
        directory_domains: Vec::new(),
        directory_domains_note: None,
        saml: None,
    }
}

async fn passed(
    services: &SignInServices<'_>,
    org: &OrganizationRecord,
    draft: &ConnectionConfig,
    at: String,
    finished: oidc::Finished,
) -> ConnectionResult<TestSignInView> {
    let domains = match graph_of(services, draft) {
        None => (
            Vec::new(),
            Some("This authority is not one of Microsoft Entra's clouds, so its verified domains prove nothing: prove email domains with a DNS record.".to_string()),
        ),
        Some(graph) => {
            match graph::verified_domains(services.http, &graph, finished.access_token.secret())
                .await
            {
                Ok(domains) => (domains, None),
                Err(failure) => (
                    Vec::new(),
                    Some(format!(
                        "Gatehouse could not read the directory's verified domains, so they prove no email domain: {} Prove them with a DNS record, or run the test again.",
                        match failure {
                            GraphFailure::PermissionMissing => "the app lacks Microsoft Graph's delegated User.Read permission.".to_string(),
                            other => other.message(),
                        }
                    )),
                ),
            }
        }
    };
    describe(services, org, draft, at, finished.identity, domains).await
}

/// What the wizard shows of a test sign-in that came back with `identity`: its claims, the
/// member it maps to and the policy's decision.
async fn describe(
    services: &SignInServices<'_>,
    org: &OrganizationRecord,
    draft: &ConnectionConfig,
    at: String,
    identity: crate::oidc::Identity,
    (directory_domains, directory_domains_note): (Vec<String>, Option<String>),
) -> ConnectionResult<TestSignInView> {
    let member = services
        .storage
        .find_member_by_directory_identity(&org.id, &identity.tenant_id, &identity.object_id)
        .await?;
    let mapping = match &member {
        Some(m) => format!("Maps to member {} ({}).", m.display_name, m.label()),
        None => "Maps to no member: no member has this directory user's Object ID yet.".to_string(),
    };
    let tenant = draft.tenant_id.as_deref().unwrap_or_default();
    let decision = decision::describe(&decision::decide(
        &draft.policy,
        tenant,
        &identity,
        member.as_ref(),
    ));
    Ok(TestSignInView {
        at,
        passed: true,
        name: identity.name,
        username: identity.username,
        email: identity.email,
        email_verified: identity.email_verified,
        object_id: Some(identity.object_id),
        tenant_id: Some(identity.tenant_id),
        mapping,
        decision,
        error: None,
        aadsts: None,
        details: None,
        directory_domains,
        directory_domains_note,
        saml: None,
    })
}
