//! End-user sign-in with the organization's directory, the whole flow in this folder:
//! `/o/<slug>/sso` starts it (the email-first page and the Entra My Apps tile both lead there)
//! and `/auth/callback` finishes it (`web`); the attempt travels in a sealed cookie (`attempt`);
//! each organization's active connection is kept opened (`active`); who gets in is decided by
//! `decision`. A sign-in ends either `Admitted`, with its session, or on a `Stop`; every stop
//! after the directory was involved is written to the audit log by one function (`record`),
//! with a reference that the page shown to the person carries too (`page`).

pub mod active;
pub mod attempt;
pub mod decision;
pub mod saml;
pub mod web;

use crate::auth::{Account, NewSession};
use crate::clock::Clock;
use crate::connections::expiry;
use crate::crypto::sealing::SealingKey;
use crate::domain::EmailAddress;
use crate::entra::aadsts;
use crate::oidc::DirectoryCache;
use crate::oidc::{self, Identity};
use crate::storage::{
    Actor, AuditEntry, DirectoryIdentity, MemberRecord, NewMember, OrganizationKey,
    OrganizationRecord, SessionRecord, SignInOrganization, Storage, StorageError, UsedState,
};
use active::{ActiveConnection, ActiveConnections, Opened};
use app::navigation::safe_return_to;
use attempt::SignInAttempt;
use decision::{Decision, Refusal};
use rand::Rng;
use std::sync::Arc;

/// The purpose of a sign-in attempt started here.
pub const PURPOSE: &str = "sign_in";
const AUDIT_ACTION: &str = "sso.sign_in";

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

/// What the sign-in flow works with, lent by the web side from the application's state.
pub struct SignInServices<'a> {
    pub storage: &'a Storage,
    pub clock: &'a dyn Clock,
    pub directories: &'a DirectoryCache,
    /// For calls to directories.
    pub http: &'a reqwest::Client,
    pub active_connections: &'a ActiveConnections,
    /// Opens the connections' client secrets.
    pub sealing_key: &'a SealingKey,
    /// Gatehouse's base URL, which redirect URIs are on.
    pub public_url: &'a str,
    /// Allowed on ID token times.
    pub clock_skew: std::time::Duration,
    /// Authorities besides Entra's clouds that connections may use.
    pub allowed_authorities: &'a crate::domain::AllowedAuthorities,
}

impl SignInServices<'_> {
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }
}

/// Why a sign-in did not end in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// No organization has this sign-in address.
    UnknownOrganization,
    /// The organization a callback names was deleted meanwhile.
    OrganizationGone,
    /// The organization has no active connection with complete credentials.
    NotConnected { organization: String },
    /// The policy refused the person (or single sign-on is off).
    Refused(Refusal),
    /// The credential the connection signs people in with (a client secret, a SAML signing
    /// certificate) expired on `on` (`YYYY-MM-DD`): the admin must replace it.
    CredentialExpired { organization: String, on: String },
    /// The directory's discovery or keys could not be read at the start.
    DirectoryUnreachable { message: String },
    /// The directory answered the callback with an error instead of a code.
    DirectoryRefused {
        error: String,
        /// `error: description`, as the directory wrote it.
        text: String,
        /// What the admin can do, for the AADSTS codes Gatehouse explains.
        guidance: Option<String>,
    },
    /// The directory did not answer the code exchange in time, or answered with a failure of
    /// its own; `reason` is the short one the audit log has.
    DirectoryDown {
        reason: &'static str,
        message: String,
        details: String,
    },
    /// The code exchange or the ID token failed; `reason` is the short one the audit log has.
    NotCompleted {
        reason: &'static str,
        message: String,
        details: String,
    },
    /// The state was answered before.
    Replayed,
    /// Our own failure; logged, never audited.
    Internal { what: &'static str, error: String },
}

impl Stop {
    /// How the sign-in ended and why, for the sign-in counter: both from fixed lists.
    fn outcome(&self) -> (&'static str, &'static str) {
        match self {
            Stop::UnknownOrganization => ("refused", "unknown_organization"),
            Stop::NotConnected { .. } => ("refused", "not_connected"),
            Stop::Refused(refusal) => ("refused", refusal.reason()),
            Stop::CredentialExpired { .. } => ("refused", "credential_expired"),
            Stop::OrganizationGone => ("failed", "organization_gone"),
            Stop::DirectoryUnreachable { .. } => ("failed", "directory_unreachable"),
            Stop::DirectoryRefused { .. } => ("failed", "directory_refused"),
            Stop::DirectoryDown { reason, .. } | Stop::NotCompleted { reason, .. } => {
                ("failed", reason)
            }
            Stop::Replayed => ("failed", "replayed"),
            Stop::Internal { .. } => ("failed", "internal"),
        }
    }
}

/// Counts a sign-in's end in `gatehouse_sign_ins_total{protocol, outcome, reason}`. Its labels
/// come from fixed lists, never an organization or a person: those figures are the console's.
fn count_sign_in(outcome: &'static str, reason: &'static str) {
    metrics::counter!(
        "gatehouse_sign_ins_total",
        "protocol" => PROTOCOL,
        "outcome" => outcome,
        "reason" => reason
    )
    .increment(1);
}

/// The protocol of sign-ins with a directory here.
const PROTOCOL: &str = "oidc";

impl From<Stop> for Failure {
    /// A stop that is not audited: nothing reached the directory, or the organization is gone.
    fn from(stop: Stop) -> Self {
        Failure { stop, audit: None }
    }
}

/// A stop before it is recorded, with what its audit entry says when it gets one.
#[derive(Debug)]
pub struct Failure {
    pub stop: Stop,
    audit: Option<FailureEntry>,
}

#[derive(Debug)]
struct FailureEntry {
    actor: Actor,
    /// The directory user's object id, or `-` before the ID token named one.
    target: String,
    /// The short reason in the audit entry.
    reason: String,
    /// What the connection keeps as its last error.
    last_error: String,
}

impl Failure {
    /// Our own failure (`what` failed with `error`): logged when recorded, never audited.
    fn internal(what: &'static str, error: impl std::fmt::Display) -> Self {
        Failure {
            stop: Stop::Internal {
                what,
                error: error.to_string(),
            },
            audit: None,
        }
    }

    fn audited(stop: Stop, actor: &Actor, target: &str, reason: &str, last_error: &str) -> Self {
        Failure {
            stop,
            audit: Some(FailureEntry {
                actor: actor.clone(),
                target: target.into(),
                reason: reason.into(),
                last_error: last_error.into(),
            }),
        }
    }
}

/// A recorded stop: what the person is shown, and the reference its log entry carries.
#[derive(Debug)]
pub struct Stopped {
    pub stop: Stop,
    pub reference: Option<String>,
    /// The organization's slug, once it was found.
    pub organization_slug: Option<String>,
}

/// Records a failure, the one place that does: an audited one is written with the state it came
/// back with (if any) kept as used, and the connection's last error; when that state had been
/// used before, the stop becomes a replay (audited as one). Our own failures are logged under
/// the reference instead.
pub async fn record(
    services: &SignInServices<'_>,
    org: Option<&OrganizationRecord>,
    used: Option<UsedState<'_>>,
    failure: Failure,
) -> Stopped {
    let stopped = write_failure(services, org, used, failure).await;
    let (outcome, reason) = stopped.stop.outcome();
    count_sign_in(outcome, reason);
    stopped
}

async fn write_failure(
    services: &SignInServices<'_>,
    org: Option<&OrganizationRecord>,
    used: Option<UsedState<'_>>,
    failure: Failure,
) -> Stopped {
    let reference = new_reference();
    let stopped = |stop, reference| Stopped {
        stop,
        reference,
        organization_slug: org.map(|o| o.slug.clone()),
    };
    if let Stop::Internal { what, error } = &failure.stop {
        tracing::error!(error = %error, reference, "{what}");
        return stopped(failure.stop, Some(reference));
    }
    let (Some(entry), Some(org)) = (&failure.audit, org) else {
        return stopped(failure.stop, None);
    };
    let detail = format!("ref {reference}: {}", entry.reason);
    let audit = AuditEntry {
        outcome: "failure",
        detail: &detail,
        ..AuditEntry::success(Some(&org.id), AUDIT_ACTION, &entry.target)
    };
    let last_error = format!("{} ({})", entry.last_error, entry.reason);
    match services
        .storage
        .record_sso_failure(
            &org.id,
            &last_error,
            &audit,
            &entry.actor,
            used,
            services.now(),
        )
        .await
    {
        Ok(true) => stopped(failure.stop, Some(reference)),
        Ok(false) => stopped(Stop::Replayed, Some(reference)),
        Err(e) => {
            tracing::error!(error = %e, reference, "recording a failed sign-in failed");
            stopped(failure.stop, Some(reference))
        }
    }
}

fn anonymous(client_addr: &str) -> Actor {
    Actor {
        label: "anonymous".into(),
        client_addr: client_addr.into(),
    }
}

/// The organization a sign-in names, with its active connection opened.
async fn find(
    services: &SignInServices<'_>,
    key: OrganizationKey<'_>,
) -> Result<(SignInOrganization, Option<Arc<ActiveConnection>>), Failure> {
    let target = match services.storage.find_sign_in_organization(key).await {
        Ok(Some(target)) => target,
        Ok(None) if matches!(key, OrganizationKey::Slug(_)) => {
            return Err(Stop::UnknownOrganization.into())
        }
        Ok(None) => return Err(Stop::OrganizationGone.into()),
        Err(e) => return Err(Failure::internal("organization lookup failed", e)),
    };
    let active = services
        .active_connections
        .get(
            services.sealing_key,
            services.public_url,
            services.allowed_authorities,
            &target,
        )
        .map_err(|e| Failure::internal("loading the active connection failed", e))?;
    Ok((target, active))
}

/// What a start asks for.
#[derive(Debug, Default, serde::Deserialize)]
pub struct StartRequest {
    pub login_hint: Option<String>,
    pub return_to: Option<String>,
    /// What the directory is asked about its own session; set by an application's request
    /// (`prompt`), never by the query.
    #[serde(skip)]
    pub prompt: crate::oidc::DirectoryPrompt,
}

/// Starts a sign-in at the organization with this slug: answers where to send the browser, and
/// the attempt it keeps until the callback. Stops are recorded here.
pub async fn start(
    services: &SignInServices<'_>,
    client_addr: &str,
    slug: &str,
    request: &StartRequest,
) -> Result<(String, SignInAttempt), Stopped> {
    let (target, active) = match find(services, OrganizationKey::Slug(slug)).await {
        Ok(found) => found,
        Err(failure) => return Err(record(services, None, None, failure).await),
    };
    let org = target.organization;
    match begin(services, client_addr, &org, active, request).await {
        Ok(started) => Ok(started),
        // No state came back yet: never a replay.
        Err(failure) => Err(record(services, Some(&org), None, failure).await),
    }
}

async fn begin(
    services: &SignInServices<'_>,
    client_addr: &str,
    org: &OrganizationRecord,
    active: Option<Arc<ActiveConnection>>,
    request: &StartRequest,
) -> Result<(String, SignInAttempt), Failure> {
    let Some(active) = active else {
        return Err(Stop::NotConnected {
            organization: org.name.clone(),
        }
        .into());
    };
    if active.config.policy.mode == app::types::SsoMode::Disabled {
        return Err(Stop::Refused(Refusal::SsoDisabled).into());
    }
    if let Some(on) = expiry::expired_on(&active.config, services.now().date()) {
        let stop = Stop::CredentialExpired {
            organization: org.name.clone(),
            on: on.to_string(),
        };
        let why = format!("the connection's credential expired on {on}");
        return Err(Failure::audited(
            stop,
            &anonymous(client_addr),
            "-",
            "credential_expired",
            &why,
        ));
    }
    let login_hint = request
        .login_hint
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty() && h.len() <= 256);
    let return_to = request
        .return_to
        .as_deref()
        .and_then(safe_return_to)
        .map(str::to_string);
    let registration = match &active.opened {
        Opened::Oidc(opened) => opened.registration(),
        Opened::Saml {
            identity_provider,
            urls,
        } => {
            let fresh = request.prompt == oidc::DirectoryPrompt::Login;
            return saml::start(
                services,
                org,
                identity_provider,
                urls,
                login_hint,
                fresh,
                PURPOSE,
                return_to,
            )
            .ok_or_else(|| {
                Failure::internal("starting a SAML sign-in", "the Login URL is not a URL")
            });
        }
    };
    let started = oidc::begin(
        services.directories,
        services.http,
        &registration,
        login_hint,
        None,
        request.prompt,
    )
    .await
    .map_err(|f| {
        let stop = Stop::DirectoryUnreachable {
            message: f.message.clone(),
        };
        Failure::audited(stop, &anonymous(client_addr), "-", f.reason, &f.message)
    })?;
    let attempt = SignInAttempt::new(&org.id, PURPOSE, &started, return_to, services.now());
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

/// A sign-in that ends in a session: hand it to the browser and go on to `go_to`.
#[derive(Debug)]
pub struct Admitted {
    pub session: NewSession,
    pub go_to: String,
}

/// What a callback brings to `complete`.
pub struct Callback<'a> {
    pub attempt: &'a SignInAttempt,
    pub answer: Answer<'a>,
    pub client_addr: &'a str,
    /// The browser's session before this sign-in, which the new one replaces.
    pub previous_session: Option<String>,
    /// A fresh id for the session a successful sign-in starts.
    pub new_session_id: String,
}

/// Finishes a sign-in started by `start`: validates what came back, applies the policy, and
/// writes the session with its audit entry. A stop is recorded before it is answered.
pub async fn complete(
    services: &SignInServices<'_>,
    callback: Callback<'_>,
) -> Result<Admitted, Stopped> {
    let attempt = callback.attempt;
    let (target, active) = match find(services, OrganizationKey::Id(&attempt.organization_id)).await
    {
        Ok(found) => found,
        Err(failure) => return Err(record(services, None, None, failure).await),
    };
    let org = &target.organization;
    match admit(services, org, active, callback).await {
        Ok(admitted) => {
            count_sign_in("success", "signed_in");
            Ok(admitted)
        }
        Err(failure) => Err(record(services, Some(org), Some(attempt.used_state()), failure).await),
    }
}

async fn admit(
    services: &SignInServices<'_>,
    org: &OrganizationRecord,
    active: Option<Arc<ActiveConnection>>,
    callback: Callback<'_>,
) -> Result<Admitted, Failure> {
    let Callback {
        attempt,
        answer,
        client_addr,
        previous_session,
        new_session_id,
    } = callback;
    let anonymous = anonymous(client_addr);
    let Some(active) = active else {
        let stop = Stop::Refused(Refusal::SsoDisabled);
        let failure =
            Failure::audited(stop, &anonymous, "-", "sso_not_active", "SSO is not active");
        return Err(failure);
    };
    let Opened::Oidc(opened) = &active.opened else {
        let stop = Stop::Refused(Refusal::SsoDisabled);
        let reason = "protocol_changed";
        let message = "The connection is no longer OpenID Connect";
        return Err(Failure::audited(stop, &anonymous, "-", reason, message));
    };
    let registration = opened.registration();
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
            let stop = Stop::DirectoryRefused {
                error: error.into(),
                text,
                guidance,
            };
            let message = "The directory refused the sign-in";
            return Err(Failure::audited(stop, &anonymous, "-", &reason, message));
        }
    };
    let completion = oidc::Completion {
        code,
        pkce_verifier: &attempt.pkce_verifier,
        nonce: &attempt.nonce,
        now: services.now(),
        skew: services.clock_skew,
    };
    let identity = oidc::finish(
        services.directories,
        services.http,
        &registration,
        &completion,
    )
    .await
    .map(|finished| finished.identity)
    .map_err(|f| {
        let outage = f.is_outage();
        let (reason, message, details) = (f.reason, f.message.clone(), f.details);
        let stop = if outage {
            Stop::DirectoryDown {
                reason,
                message,
                details,
            }
        } else {
            Stop::NotCompleted {
                reason,
                message,
                details,
            }
        };
        Failure::audited(stop, &anonymous, "-", reason, &f.message)
    })?;
    let admission = Admission {
        identity,
        directory_sign_out: registration.sign_out_url(),
        used: attempt.used_state(),
        return_to: attempt.return_to.clone(),
        client_addr,
        previous_session,
        new_session_id,
    };
    admit_identity(services, org, &active, admission).await
}

/// A directory identity that passed its protocol's checks, on its way to a session.
pub(crate) struct Admission<'a> {
    pub identity: Identity,
    /// Where signing out of Gatehouse sends the browser to sign out of the directory too.
    pub directory_sign_out: String,
    /// What makes this answer usable once: the attempt's state, or the SAML assertion's ID.
    pub used: UsedState<'a>,
    pub return_to: Option<String>,
    pub client_addr: &'a str,
    pub previous_session: Option<String>,
    pub new_session_id: String,
}

/// The policy decides; an admitted person gets a session, written with its audit entry.
pub(crate) async fn admit_identity(
    services: &SignInServices<'_>,
    org: &OrganizationRecord,
    active: &ActiveConnection,
    admission: Admission<'_>,
) -> Result<Admitted, Failure> {
    let Admission {
        identity,
        directory_sign_out,
        used,
        return_to,
        client_addr,
        previous_session,
        new_session_id,
    } = admission;
    let actor = Actor {
        label: format!(
            "sso:{}",
            identity.username.as_deref().unwrap_or(&identity.object_id)
        ),
        client_addr: client_addr.into(),
    };
    let target = identity.object_id.as_str();
    let member = services
        .storage
        .find_member_by_directory_identity(&org.id, &identity.tenant_id, &identity.object_id)
        .await
        .map_err(|e| Failure::internal("member lookup failed", e))?;
    let tenant = active.config.tenant_id.as_deref().unwrap_or_default();
    let refused = |refusal: Refusal| {
        let reason = refusal.reason();
        Failure::audited(
            Stop::Refused(refusal),
            &actor,
            target,
            reason,
            refusal.message(),
        )
    };
    let member = match decision::decide(&active.config.policy, tenant, &identity, member.as_ref()) {
        Decision::Admit(m) => m.clone(),
        Decision::Create(role) => create_member(services, org, &identity, role, &actor)
            .await
            .map_err(refused)?,
        Decision::Refuse(refusal) => return Err(refused(refusal)),
    };
    let reference = new_reference();
    let detail = format!("ref {reference}: signed in as {}", member.label());
    let entry = AuditEntry {
        detail: &detail,
        ..AuditEntry::success(Some(&org.id), AUDIT_ACTION, target)
    };
    let principal = Account::principal_of_member(&member);
    let session = NewSession::start(
        new_session_id,
        previous_session,
        &principal,
        &directory_sign_out,
        &identity,
        services.now(),
    )
    .map_err(|e| Failure::internal("starting the session failed", e))?;
    // The session, the audit entry and the member's last sign-in are written together: no
    // sign-in goes unaudited, and a failed write leaves no session behind.
    let record = SessionRecord {
        id: &session.id,
        data: &session.data,
        expires_at: session.expires_at,
        directory_sid: session.directory_sid.as_deref(),
    };
    let written = services
        .storage
        .record_sso_sign_in(
            &org.id,
            &member.id,
            &entry,
            &actor,
            &record,
            session.replaces.as_deref(),
            used,
            services.now(),
        )
        .await;
    match written {
        Ok(()) => {}
        // Another callback with the same state got there first (a directory that redeemed its
        // code twice): recording it finds the state used, and audits a replay.
        Err(StorageError::Conflict("state")) => {
            let reason = "replay";
            let message = "The sign-in's state was used before";
            return Err(Failure::audited(
                Stop::Replayed,
                &actor,
                target,
                reason,
                message,
            ));
        }
        Err(e) => return Err(Failure::internal("recording the sign-in failed", e)),
    }
    let home = if member.role == "admin" {
        "/console"
    } else {
        "/account"
    };
    Ok(Admitted {
        session,
        go_to: return_to.unwrap_or_else(|| home.into()),
    })
}

/// The email a member created from `identity` takes: the `email` claim when the directory
/// says its domain's owner verified it (`xms_edov`), or the email (else the UPN) when its
/// domain is proven for the organization. Otherwise none, until an admin sets it.
async fn vouched_email(
    services: &SignInServices<'_>,
    org: &OrganizationRecord,
    identity: &Identity,
) -> Result<Option<EmailAddress>, Refusal> {
    let claimed = identity
        .email
        .as_deref()
        .and_then(|e| EmailAddress::parse(e).ok());
    if identity.email_verified && claimed.is_some() {
        return Ok(claimed);
    }
    let Some(candidate) = claimed.or_else(|| {
        identity
            .username
            .as_deref()
            .and_then(|u| EmailAddress::parse(u).ok())
    }) else {
        return Ok(None);
    };
    match crate::domains::is_proven(
        services.storage,
        services.now(),
        &org.id,
        candidate.domain(),
    )
    .await
    {
        Ok(true) => Ok(Some(candidate)),
        Ok(false) => Ok(None),
        Err(e) => {
            tracing::error!(error = %e, "reading the organization's email domains failed");
            Err(Refusal::Unknown)
        }
    }
}

/// Creates the member for a first sign-in, mapped to the directory user. Never links to an
/// existing member by email (the nOAuth rule): an email already in use refuses instead.
async fn create_member(
    services: &SignInServices<'_>,
    org: &OrganizationRecord,
    identity: &Identity,
    role: app::types::MemberRole,
    actor: &Actor,
) -> Result<MemberRecord, Refusal> {
    let email = vouched_email(services, org, identity).await?;
    // The directory's name is checked like any name (length, no control characters).
    let name = [identity.name.as_deref(), identity.username.as_deref()]
        .into_iter()
        .flatten()
        .find_map(|n| crate::domain::Name::parse(n).ok())
        .map(|n| n.0)
        .unwrap_or_else(|| identity.object_id.clone());
    let member = NewMember {
        email: email
            .as_ref()
            .map(|e| (e.display.as_str(), e.normalized.as_str())),
        display_name: &name,
        role: role.as_str(),
    };
    match services
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
            services.now(),
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
