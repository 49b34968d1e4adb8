//! Step 4 of the wizard: the admin signs in at the directory with the draft's values and sees
//! what came back — the claims, the member they map to, and what the policy would decide. It
//! never creates a session for that identity and never changes members.

use super::{entra_urls, load, not_saved, open_secret, ConnectionConfig, Loaded};
use crate::clock::rfc3339_millis;
use crate::crypto::tokens;
use crate::entra::aadsts;
use crate::error::{ApiError, ApiResult};
use crate::oidc::{self, Identity};
use crate::state::AppState;
use crate::storage::{Actor, AuditEntry, OrganizationRecord, SignInAttempt};
use app::types::{MemberRole, SsoMode, TestSignInView};
use tower_sessions::Session;

/// The session key holding this browser's sign-in binding.
const BROWSER_KEY: &str = "sign_in_browser_key";
pub const PURPOSE: &str = "test";

async fn draft_client(
    state: &AppState,
    org: &OrganizationRecord,
    draft: &ConnectionConfig,
) -> ApiResult<oidc::EntraClient> {
    let (Some(tenant_id), Some(client_id), Some(secret)) =
        (&draft.tenant_id, &draft.client_id, &draft.secret)
    else {
        return Err(not_saved("test_sign_in"));
    };
    let secret = open_secret(state, org, secret)?;
    let urls = entra_urls(&state.config.public_url, &org.slug);
    oidc::client(
        &state.http,
        &draft.authority_host,
        tenant_id,
        client_id,
        &secret,
        &urls.redirect_uri,
    )
    .await
    .map_err(|f| {
        ApiError::field(
            "test_sign_in",
            format!("{} Verify the connection first.", f.message),
        )
    })
}

/// The random value that ties a sign-in to this browser's session.
async fn browser_key(session: &Session) -> ApiResult<String> {
    let existing: Option<String> = session
        .get(BROWSER_KEY)
        .await
        .map_err(|e| ApiError::Internal(format!("session read: {e}")))?;
    match existing {
        Some(key) => Ok(key),
        None => {
            let (key, _) = tokens::generate();
            session
                .insert(BROWSER_KEY, &key)
                .await
                .map_err(|e| ApiError::Internal(format!("session write: {e}")))?;
            Ok(key)
        }
    }
}

/// Starts a test sign-in with the draft's values; answers where to send the browser.
pub async fn start(
    state: &AppState,
    org: &OrganizationRecord,
    session: &Session,
) -> ApiResult<String> {
    let Loaded { draft, record } = load(state, org).await?;
    if record.is_none() {
        return Err(not_saved("test_sign_in"));
    }
    let client = draft_client(state, org, &draft).await?;
    let started = oidc::start(&client, None);
    let key = browser_key(session).await?;
    let attempt = SignInAttempt {
        organization_id: org.id.clone(),
        purpose: PURPOSE.into(),
        browser_key_hash: tokens::hash(&key),
        nonce: started.nonce,
        pkce_verifier: started.pkce_verifier,
    };
    state
        .storage
        .create_sign_in_attempt(&tokens::hash(&started.state), &attempt, state.now())
        .await?;
    Ok(started.authorize_url)
}

/// Whether the session that comes back is the one that started the attempt.
pub async fn same_browser(session: &Session, attempt: &SignInAttempt) -> bool {
    let key: Option<String> = session.get(BROWSER_KEY).await.ok().flatten();
    key.is_some_and(|k| tokens::hash(&k) == attempt.browser_key_hash)
}

/// What the directory answered at the callback.
pub enum Answer<'a> {
    Code(&'a str),
    Error {
        error: &'a str,
        description: &'a str,
    },
}

/// Finishes a test sign-in and keeps its result with the draft; answers where the wizard is.
pub async fn complete(
    state: &AppState,
    org: &OrganizationRecord,
    attempt: &SignInAttempt,
    answer: Answer<'_>,
) -> ApiResult<String> {
    let Loaded { draft, record } = load(state, org).await?;
    let urls = entra_urls(&state.config.public_url, &org.slug);
    let at = rfc3339_millis(crate::clock::to_millis(state.now()));
    let result = match answer {
        Answer::Error { error, description } => failed(at, &urls.redirect_uri, error, description),
        Answer::Code(code) => {
            let client = draft_client(state, org, &draft).await;
            let identity = match client {
                Ok(client) => oidc::finish(
                    &state.http,
                    &client,
                    code,
                    &attempt.pkce_verifier,
                    &attempt.nonce,
                )
                .await
                .map_err(|f| (f.message, f.details)),
                Err(e) => Err((e.to_string(), String::new())),
            };
            match identity {
                Ok(identity) => {
                    if let Some(version) = record.as_ref().map(|r| r.draft_version) {
                        prove_domain(state, org, &draft, version, &identity).await?;
                    }
                    passed(state, org, &draft, at, identity).await?
                }
                Err((message, details)) => failed(at, &urls.redirect_uri, &message, &details),
            }
        }
    };
    let json = serde_json::to_string(&result).map_err(|e| ApiError::Internal(e.to_string()))?;
    state.storage.save_test_sign_in(&org.id, &json).await?;
    Ok(format!("/console/orgs/{}/sso#step-test", org.id))
}

/// Entra only allows UPNs in the directory's verified domains, so a sign-in whose UPN is in one
/// of the policy's email domains proves that the directory owns it.
async fn prove_domain(
    state: &AppState,
    org: &OrganizationRecord,
    draft: &ConnectionConfig,
    version: i64,
    identity: &Identity,
) -> ApiResult<()> {
    let Some(domain) = identity
        .username
        .as_deref()
        .and_then(|upn| upn.rsplit_once('@'))
        .map(|(_, d)| d.to_ascii_lowercase())
    else {
        return Ok(());
    };
    let proven = draft
        .policy
        .email_domains
        .iter()
        .any(|d| d.domain == domain && !d.verified);
    if !proven {
        return Ok(());
    }
    let mut updated = draft.clone();
    for d in updated
        .policy
        .email_domains
        .iter_mut()
        .filter(|d| d.domain == domain)
    {
        d.verified = true;
    }
    let json = serde_json::to_string(&updated).map_err(|e| ApiError::Internal(e.to_string()))?;
    let actor = Actor {
        label: format!("directory:{}", identity.tenant_id),
        client_addr: "-".into(),
    };
    let entry = AuditEntry::success(Some(&org.id), "connection.domain.verified", &domain);
    // A concurrent edit wins: the domain is proven again at the next test sign-in.
    match state
        .storage
        .save_connection_draft(&org.id, version, &json, &entry, &actor, state.now())
        .await
    {
        Ok(_) | Err(crate::storage::StorageError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
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
    }
}

async fn passed(
    state: &AppState,
    org: &OrganizationRecord,
    draft: &ConnectionConfig,
    at: String,
    identity: Identity,
) -> ApiResult<TestSignInView> {
    let member = state
        .storage
        .find_member_by_directory_identity(&org.id, &identity.tenant_id, &identity.object_id)
        .await?;
    let policy = &draft.policy;
    let mapping = match &member {
        Some(m) => format!("Maps to member {} ({}).", m.display_name, m.email),
        None => "Maps to no member: no member has this directory user's Object ID yet.".to_string(),
    };
    let decision = if draft.tenant_id.as_deref() != Some(identity.tenant_id.as_str()) {
        "Would be refused: the account belongs to another directory.".to_string()
    } else if policy.mode == SsoMode::Disabled {
        "Would be refused: the SSO mode is Disabled.".to_string()
    } else {
        match &member {
            Some(m) if m.status == "disabled" => "Would be refused: the member is disabled.".to_string(),
            Some(m) if m.role == "admin" && !policy.allow_admins => {
                "Would be refused: admins may not use SSO (they sign in with their password).".to_string()
            }
            Some(_) if policy.mode == SsoMode::SelectedMembers => {
                "Would be let in only if this member is selected for SSO (selected members mode).".to_string()
            }
            Some(_) => "Would be let in.".to_string(),
            None if policy.create_members => format!(
                "Would be let in, created on first sign-in as a new {}.",
                match policy.new_member_role {
                    MemberRole::Admin => "admin",
                    MemberRole::Member => "member",
                }
            ),
            None => "Would be refused: no member maps to this person and members are not created on first sign-in.".to_string(),
        }
    };
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
    })
}
