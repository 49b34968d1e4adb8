//! End-user sign-in with the organization's directory: `/o/<slug>/sso` starts the flow (the
//! email-first page and the Entra My Apps tile both lead there), `/auth/callback` finishes it.
//! Who gets in is decided by `decision`; every outcome goes to the audit log with a reference
//! id that the page shown to the person carries too.

pub mod active;
pub mod attempt;
pub mod decision;
pub mod page;

use crate::auth::session_cookie::NewSession;
use crate::auth::{Account, ClientAddr};
use crate::domain::EmailAddress;
use crate::entra::aadsts;
use crate::oidc::{self, Identity, Registration};
use crate::state::AppState;
use crate::storage::{
    Actor, AuditEntry, DirectoryIdentity, MemberRecord, NewMember, OrganizationKey,
    OrganizationRecord, SessionRecord, SignInOrganization, StorageError, UsedState,
};
use active::ActiveConnection;
use app::navigation::safe_return_to;
use attempt::SignInAttempt;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use decision::{Decision, Refusal};
use page::Problem;
use rand::Rng;
use serde::Deserialize;
use std::sync::Arc;

/// The purpose of a sign-in attempt started here.
pub const PURPOSE: &str = "sign_in";
const AUDIT_ACTION: &str = "sso.sign_in";

pub fn routes() -> Router<AppState> {
    Router::new().route("/o/{slug}/sso", get(start_handler))
}

#[derive(Debug, Deserialize)]
struct StartQuery {
    login_hint: Option<String>,
    return_to: Option<String>,
}

/// A short reference shown to the person and written in the audit entry.
pub fn new_reference() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let mut text: String = (0..8)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    text.insert(4, '-');
    text
}

/// The page for a callback whose state was answered before.
pub fn already_used() -> Response {
    expired_or_used().into_response()
}

fn expired_or_used() -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "This sign-in has expired or was already used. Start the sign-in again.",
    )
    .with_retry("/signin")
}

/// The page for a callback whose state was used before, with the reference of the audit entry
/// that recorded the replay.
fn replayed(reference: &str) -> Response {
    expired_or_used().with_reference(reference).into_response()
}

fn too_many() -> Problem {
    Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many sign-in attempts",
        "Too many sign-ins came from your network in the last minute. Wait a minute, then try again.",
    )
}

async fn start_handler(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    Path(slug): Path<String>,
    Query(query): Query<StartQuery>,
) -> Response {
    if !state.sso_limit.allow(&client_addr) {
        return too_many().into_response();
    }
    let (url, attempt) = match start(&state, &client_addr, &slug, &query).await {
        Ok(started) => started,
        Err(problem) => return problem.into_response(),
    };
    let mut response = Redirect::to(&url).into_response();
    let https = state.config.is_https();
    match attempt.hand_over(&state.sealing_key, https, response.headers_mut()) {
        Ok(()) => response,
        Err(e) => Problem::ours("starting the sign-in failed", e).into_response(),
    }
}

fn active_connection(
    state: &AppState,
    target: &SignInOrganization,
) -> Result<Option<Arc<ActiveConnection>>, Problem> {
    state
        .active_connections
        .get(state, target)
        .map_err(|e| Problem::ours("loading the active connection failed", e))
}

fn not_connected(org: &OrganizationRecord) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "Single sign-on is not on",
        format!(
            "{} has not turned on single sign-on with its directory. Sign in with your password, or ask your admin to finish the setup.",
            org.name
        ),
    )
    .with_retry("/signin")
}

/// Answers where to send the browser, and the attempt it keeps until the callback.
async fn start(
    state: &AppState,
    client_addr: &str,
    slug: &str,
    query: &StartQuery,
) -> Result<(String, SignInAttempt), Problem> {
    let target = match state
        .storage
        .find_sign_in_organization(OrganizationKey::Slug(slug))
        .await
    {
        Ok(Some(target)) => target,
        Ok(None) => {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                "Organization not found",
                "No organization uses this sign-in address. Check the link, or sign in with your email.",
            )
            .with_retry("/signin"))
        }
        Err(e) => {
            return Err(Problem::ours("organization lookup failed", e));
        }
    };
    let org = &target.organization;
    let Some(active) = active_connection(state, &target)? else {
        return Err(not_connected(org));
    };
    if active.config.policy.mode == app::types::SsoMode::Disabled {
        return Err(refusal_page(Refusal::SsoDisabled, None));
    }
    let registration = active.opened.registration();
    let login_hint = query
        .login_hint
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty() && h.len() <= 256);
    let started =
        match oidc::begin(&state.directories, &state.http, &registration, login_hint).await {
            Ok(started) => started,
            Err(f) => {
                let actor = Actor {
                    label: "anonymous".into(),
                    client_addr: client_addr.into(),
                };
                // No state came back yet: never a replay.
                let reference = record_failure(state, org, &actor, None, "-", f.reason, &f.message)
                    .await
                    .ok()
                    .unwrap_or_default();
                return Err(Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "The directory could not be reached",
                    format!("{} Nothing else in Gatehouse is affected.", f.message),
                )
                .with_reference(&reference)
                .with_retry(format!("/o/{}/sso", org.slug)));
            }
        };
    let return_to = query
        .return_to
        .as_deref()
        .and_then(safe_return_to)
        .map(str::to_string);
    let attempt = SignInAttempt::new(&org.id, PURPOSE, &started, return_to, state.now());
    Ok((started.authorize_url, attempt))
}

/// What the directory answered at the callback.
pub enum Answer<'a> {
    Code(&'a str),
    Error {
        error: &'a str,
        description: &'a str,
    },
}

/// Writes a failed sign-in to the audit log and as the connection's last error, with the state
/// it came back with (if any) as used; answers the reference shown to the person, or, when that
/// state had been used before (a replay, audited as one), the page that says so.
async fn record_failure(
    state: &AppState,
    org: &OrganizationRecord,
    actor: &Actor,
    used: Option<UsedState<'_>>,
    target: &str,
    reason: &str,
    message: &str,
) -> Result<String, Response> {
    let reference = new_reference();
    let detail = format!("ref {reference}: {reason}");
    let entry = AuditEntry {
        outcome: "failure",
        detail: &detail,
        ..AuditEntry::success(Some(&org.id), AUDIT_ACTION, target)
    };
    match state
        .storage
        .record_sso_failure(
            &org.id,
            &format!("{message} ({reason})"),
            &entry,
            actor,
            used,
            state.now(),
        )
        .await
    {
        Ok(true) => Ok(reference),
        Ok(false) => Err(replayed(&reference)),
        Err(e) => {
            tracing::error!(error = %e, reference, "recording a failed sign-in failed");
            Ok(reference)
        }
    }
}

fn refusal_page(refusal: Refusal, reference: Option<&str>) -> Problem {
    let problem = Problem::new(
        StatusCode::FORBIDDEN,
        "You cannot sign in here yet",
        refusal.message(),
    );
    match reference {
        Some(r) => problem.with_reference(r),
        None => problem,
    }
}

/// Finishes a sign-in started by `start`: validates what came back, applies the policy, and
/// starts the session. Answers where the browser goes next, or the page that says why not.
pub async fn complete(
    state: &AppState,
    headers: &HeaderMap,
    client_addr: &str,
    target: &SignInOrganization,
    attempt: &SignInAttempt,
    answer: Answer<'_>,
) -> Response {
    let org = &target.organization;
    let anonymous = Actor {
        label: "anonymous".into(),
        client_addr: client_addr.into(),
    };
    let used = Some(attempt.used_state());
    let active = match active_connection(state, target) {
        Ok(Some(active)) => active,
        Ok(None) => {
            let reference = match record_failure(
                state,
                org,
                &anonymous,
                used,
                "-",
                "sso_not_active",
                "SSO is not active",
            )
            .await
            {
                Ok(reference) => reference,
                Err(replayed) => return replayed,
            };
            return refusal_page(Refusal::SsoDisabled, Some(&reference)).into_response();
        }
        Err(problem) => return problem.into_response(),
    };
    let registration = active.opened.registration();
    let retry = format!("/o/{}/sso", org.slug);
    let code = match answer {
        Answer::Code(code) => code,
        Answer::Error { error, description } => {
            let text = format!("{error}: {description}");
            let code = aadsts::code_of(&text);
            let guidance = code
                .as_deref()
                .and_then(|c| aadsts::explain(c, registration.redirect_uri));
            let reason = match &code {
                Some(c) => format!("provider_error AADSTS{c}"),
                None => format!("provider_error {error}"),
            };
            let reference = match record_failure(
                state,
                org,
                &anonymous,
                used,
                "-",
                &reason,
                "The directory refused the sign-in",
            )
            .await
            {
                Ok(reference) => reference,
                Err(replayed) => return replayed,
            };
            let message = match guidance {
                Some(g) => format!("Your directory refused the sign-in. Your admin can fix it: {g}"),
                None if error == "access_denied" => "The sign-in was cancelled or refused at your directory. Try again; if it is refused again, ask your admin.".to_string(),
                None => format!("Your directory did not complete the sign-in ({error}). Try again; if it keeps happening, ask your admin."),
            };
            return Problem::new(
                StatusCode::FORBIDDEN,
                "Sign-in refused by your directory",
                message,
            )
            .with_reference(&reference)
            .with_details(text)
            .with_retry(retry)
            .into_response();
        }
    };
    let completion = oidc::Completion {
        code,
        pkce_verifier: &attempt.pkce_verifier,
        nonce: &attempt.nonce,
        now: state.now(),
        skew: state.config.clock_skew,
    };
    let identity = match oidc::finish(&state.directories, &state.http, &registration, &completion)
        .await
    {
        Ok(identity) => identity,
        Err(f) => {
            let reference =
                match record_failure(state, org, &anonymous, used, "-", f.reason, &f.message).await
                {
                    Ok(reference) => reference,
                    Err(replayed) => return replayed,
                };
            return Problem::new(StatusCode::BAD_REQUEST, "Sign-in could not be completed", format!("{} Nothing was changed. Try again; if it keeps happening, give the reference to your admin.", f.message))
                .with_reference(&reference)
                .with_details(f.details)
                .with_retry(retry)
                .into_response();
        }
    };
    let actor = Actor {
        label: format!(
            "sso:{}",
            identity.username.as_deref().unwrap_or(&identity.object_id)
        ),
        client_addr: client_addr.into(),
    };
    let target = identity.object_id.clone();
    let member = match state
        .storage
        .find_member_by_directory_identity(&org.id, &identity.tenant_id, &identity.object_id)
        .await
    {
        Ok(member) => member,
        Err(e) => {
            return Problem::ours("member lookup failed", e).into_response();
        }
    };
    let tenant = registration.tenant_id;
    let admitted = match decision::decide(&active.config.policy, tenant, &identity, member.as_ref())
    {
        Decision::Admit(m) => Ok(m.clone()),
        Decision::Create(role) => create_member(state, org, &identity, role, &actor).await,
        Decision::Refuse(refusal) => Err(refusal),
    };
    let admitted = match admitted {
        Ok(m) => m,
        Err(refusal) => {
            let reference = match record_failure(
                state,
                org,
                &actor,
                used,
                &target,
                refusal.reason(),
                refusal.message(),
            )
            .await
            {
                Ok(reference) => reference,
                Err(replayed) => return replayed,
            };
            return refusal_page(refusal, Some(&reference)).into_response();
        }
    };
    admit(
        state,
        headers,
        org,
        &admitted,
        &registration,
        attempt,
        &actor,
        &target,
    )
    .await
}

/// Creates the member for a first sign-in, mapped to the directory user. Never links to an
/// existing member by email (the nOAuth rule): an email already in use refuses instead.
async fn create_member(
    state: &AppState,
    org: &OrganizationRecord,
    identity: &Identity,
    role: app::types::MemberRole,
    actor: &Actor,
) -> Result<MemberRecord, Refusal> {
    let email = identity
        .email
        .as_deref()
        .or(identity.username.as_deref())
        .and_then(|e| EmailAddress::parse(e).ok())
        .ok_or(Refusal::Unknown)?;
    let name = identity
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| email.display.clone());
    let member = NewMember {
        email: (&email.display, &email.normalized),
        display_name: &name,
        role: role.as_str(),
    };
    match state
        .storage
        .create_member_from_directory(
            &org.id,
            &member,
            DirectoryIdentity {
                tenant_id: &identity.tenant_id,
                object_id: &identity.object_id,
                user_principal_name: identity.username.as_deref(),
            },
            "created on first sign-in with the directory",
            actor,
            state.now(),
        )
        .await
    {
        Ok(m) => Ok(m),
        Err(StorageError::Conflict("email")) => Err(Refusal::EmailTaken),
        Err(e) => {
            tracing::error!(error = %e, "creating a member on first sign-in failed");
            Err(Refusal::Unknown)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn admit(
    state: &AppState,
    headers: &HeaderMap,
    org: &OrganizationRecord,
    member: &MemberRecord,
    registration: &Registration<'_>,
    attempt: &SignInAttempt,
    actor: &Actor,
    target: &str,
) -> Response {
    let reference = new_reference();
    let detail = format!("ref {reference}: signed in as {}", member.email);
    let entry = AuditEntry {
        detail: &detail,
        ..AuditEntry::success(Some(&org.id), AUDIT_ACTION, target)
    };
    let principal = Account::principal_of_member(member);
    let session = match NewSession::start(
        headers,
        &principal,
        &registration.sign_out_url(),
        state.now(),
    ) {
        Ok(session) => session,
        Err(e) => {
            tracing::error!(error = %e, reference, "starting the session failed");
            return Problem::internal(&reference).into_response();
        }
    };
    // The session, the audit entry and the member's last sign-in are written together: no
    // sign-in goes unaudited, and a failed write leaves no session behind.
    let record = SessionRecord {
        id: &session.id,
        data: &session.data,
        expires_at: session.expires_at,
    };
    if let Err(e) = state
        .storage
        .record_sso_sign_in(
            &org.id,
            &member.id,
            &entry,
            actor,
            &record,
            session.replaces.as_deref(),
            attempt.used_state(),
            state.now(),
        )
        .await
    {
        if matches!(e, StorageError::Conflict("state")) {
            // Another callback with the same state got there first (a directory that redeemed
            // its code twice): audited as a replay.
            let replay = record_failure(
                state,
                org,
                actor,
                Some(attempt.used_state()),
                target,
                "replay",
                "The sign-in's state was used before",
            )
            .await;
            return match replay {
                Err(replayed) => replayed,
                Ok(reference) => replayed(&reference),
            };
        }
        tracing::error!(error = %e, reference, "recording the sign-in failed");
        return Problem::internal(&reference).into_response();
    }
    let home = if member.role == "admin" {
        "/console"
    } else {
        "/account"
    };
    let mut response = Redirect::to(attempt.return_to.as_deref().unwrap_or(home)).into_response();
    match session.hand_over(state.config.is_https(), response.headers_mut()) {
        Ok(()) => response,
        Err(e) => {
            tracing::error!(error = %e, reference, "handing over the session failed");
            Problem::internal(&reference).into_response()
        }
    }
}
