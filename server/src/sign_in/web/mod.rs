//! The sign-in's web side: `/o/<slug>/sso` starts it, `/auth/callback` is where the directory
//! sends the browser back (OpenID Connect Core 3.1.2.5). The browser must hold the sealed attempt
//! for the state it brings back; then the flow it started is finished: a person's sign-in, or
//! the wizard's test sign-in. Every stop ends on a page that says what happened (`page_for`).

pub mod attempt_cookie;
pub mod page;
pub mod saml;

use super::attempt::{NotKept, SignInAttempt};
use super::{Admitted, Answer, Callback, StartRequest, Stop, Stopped};
use crate::auth::web::session_cookie;
use crate::auth::web::ClientAddr;
use crate::auth::{Principal, APPLICATION_SID_KEY, PRINCIPAL_KEY};
use crate::connections::{test_sign_in, ConnectionError};
use crate::crypto::tokens;
use crate::state::AppState;
use crate::storage::OrganizationKey;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use page::Problem;
use serde::Deserialize;
use tower_sessions::Session;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/o/{slug}/sso", get(start))
        .route("/auth/callback", get(callback))
        .route("/auth/logout", get(front_channel_logout))
        .merge(saml::routes())
}

#[derive(Debug, Deserialize)]
struct LogoutQuery {
    sid: Option<String>,
}

/// The directory's front-channel logout (the logout URL the wizard registers): when someone
/// signs out at the directory, it loads this address in a hidden iframe from its own site, so
/// no cookie comes along, only its session id (`sid`). Every Gatehouse session that directory
/// session started ends; a browser that does send its cookie is signed out too.
async fn front_channel_logout(
    State(state): State<AppState>,
    Query(query): Query<LogoutQuery>,
    session: Session,
) -> Response {
    if let Some(sid) = query.sid.as_deref().filter(|s| !s.is_empty()) {
        if let Err(response) = end_directory_session(&state, sid).await {
            return response;
        }
    }
    if let Some(application_sid) = session
        .get::<String>(APPLICATION_SID_KEY)
        .await
        .ok()
        .flatten()
    {
        if let Err(e) = session_ended(&state, &application_sid).await {
            return Problem::ours("front-channel logout failed", e).into_response();
        }
    }
    if let Err(e) = session.flush().await {
        return Problem::ours("ending the session failed", e).into_response();
    }
    Problem::new(
        StatusCode::OK,
        "Signed out",
        "You are signed out of Gatehouse.",
    )
    .into_response()
}

/// Ends every Gatehouse session the directory session `sid` started (an OpenID Connect `sid`,
/// or a SAML SessionIndex); the applications they signed in to are owed a logout.
async fn end_directory_session(state: &AppState, sid: &str) -> Result<(), Response> {
    let ended = state
        .storage
        .end_sessions_of_directory_session(sid)
        .await
        .map_err(|e| Problem::ours("ending the directory's sessions failed", e).into_response())?;
    tracing::info!(ended = ended.len(), "directory logout");
    for application_sid in ended
        .iter()
        .filter_map(|d| crate::auth::application_sid_of(d))
    {
        session_ended(state, &application_sid).await.map_err(|e| {
            Problem::ours("ending the directory's sessions failed", e).into_response()
        })?;
    }
    Ok(())
}

/// The applications the session signed in to are owed a logout.
async fn session_ended(
    state: &AppState,
    application_sid: &str,
) -> Result<u64, crate::provider::ProviderError> {
    crate::provider::logout::session_ended(&state.provider_services(), application_sid).await
}

/// Whether the browser says the navigation came from another site (Fetch Metadata). Typed
/// addresses and bookmarks (`none`) and Gatehouse's own pages do not; browsers too old to say
/// are let through, as the Fetch Metadata guidance advises.
fn sent_by_another_site(headers: &HeaderMap) -> bool {
    matches!(
        headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
        Some("cross-site" | "same-site")
    )
}

/// Who this browser is signed in as (an email, or a name), if anyone.
async fn signed_in_as(state: &AppState, session: &Session) -> Option<String> {
    let principal: Principal = session.get(PRINCIPAL_KEY).await.ok().flatten()?;
    let account = crate::auth::resolve(&state.storage, &principal)
        .await
        .ok()
        .flatten()?;
    Some(account.label().to_string())
}

fn too_many() -> Response {
    Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many sign-in attempts",
        "Too many sign-ins came from your network in the last minute. Wait a minute, then try again.",
    )
    .into_response()
}

async fn start(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    Path(slug): Path<String>,
    Query(request): Query<StartRequest>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    session: Session,
) -> Response {
    if !state.sso_limit.allow(&client_addr) {
        return too_many();
    }
    // Login CSRF: another site must not replace the session of whoever is signed in here.
    if sent_by_another_site(&headers) {
        if let Some(email) = signed_in_as(&state, &session).await {
            return Problem::new(
                StatusCode::OK,
                "Sign in as someone else?",
                format!("You are signed in to Gatehouse as {email}. Continuing signs you in with your directory instead, as whoever you sign in as there."),
            )
            .with_proceed(uri.to_string())
            .into_response();
        }
    }
    to_directory(&state, &client_addr, &slug, &request).await
}

/// Starts a sign-in at the organization's directory: sends the browser there, holding the
/// attempt; a stop ends on its page. Gatehouse's applications (the provider) start here too.
pub async fn to_directory(
    state: &AppState,
    client_addr: &str,
    slug: &str,
    request: &StartRequest,
) -> Response {
    let (url, attempt) =
        match super::start(&state.sign_in_services(), client_addr, slug, request).await {
            Ok(started) => started,
            Err(stopped) => return page_for(stopped).into_response(),
        };
    let mut response = Redirect::to(&url).into_response();
    let https = state.config.is_https();
    match attempt_cookie::hand_over(&attempt, &state.sealing_key, https, response.headers_mut()) {
        Ok(()) => response,
        Err(e) => Problem::ours("starting the sign-in failed", e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn start_again(title: &'static str, message: &str) -> Response {
    Problem::new(StatusCode::BAD_REQUEST, title, message)
        .with_retry("/signin")
        .into_response()
}

async fn callback(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    if !state.sso_limit.allow(&client_addr) {
        return too_many();
    }
    let Some(state_param) = query.state.as_deref().filter(|s| !s.is_empty()) else {
        return start_again(
            "Sign-in incomplete",
            "This address is missing its sign-in state. Start the sign-in again.",
        );
    };
    let state_hash = tokens::hash(state_param);
    let https = state.config.is_https();
    let kept = attempt_cookie::kept(
        &headers,
        &state.sealing_key,
        &state_hash,
        https,
        state.now(),
    );
    let attempt = match kept {
        Ok(attempt) => attempt,
        Err(NotKept::Expired) => return already_used(None),
        Err(NotKept::Missing) => return without_attempt(&state, &state_hash).await,
    };
    let answer = match (&query.code, &query.error) {
        (_, Some(error)) => Answer::Error {
            error,
            description: query.error_description.as_deref().unwrap_or(""),
        },
        (Some(code), None) => Answer::Code(code),
        (None, None) => Answer::Error {
            error: "invalid_response",
            description: "The directory sent neither a code nor an error.",
        },
    };
    let mut response = match attempt.purpose.as_str() {
        super::PURPOSE => {
            let callback = Callback {
                attempt: &attempt,
                answer,
                client_addr: &client_addr,
                previous_session: session_cookie::read(&headers, session_cookie::name(https)),
                new_session_id: session_cookie::new_id(),
            };
            match super::complete(&state.sign_in_services(), callback).await {
                Ok(admitted) => admitted_response(admitted, https),
                Err(stopped) => match silent_failure(&attempt, &stopped) {
                    Some(back) => Redirect::to(&back).into_response(),
                    None => page_for(stopped).into_response(),
                },
            }
        }
        test_sign_in::PURPOSE => {
            test_sign_in_done(&state, &attempt, TestAnswer::Oidc(answer)).await
        }
        _ => start_again("Sign-in refused", "Unknown sign-in."),
    };
    // Answered: the browser has no more use for the attempt.
    match attempt_cookie::forget(&state_hash, https, response.headers_mut()) {
        Ok(()) => response,
        Err(e) => Problem::ours("ending the sign-in attempt failed", e).into_response(),
    }
}

/// Where a silent sign-in (an application's `prompt=none`) goes when the directory could not
/// sign the person in without asking: back to the application's request, which then answers
/// the application `login_required` instead of showing a page.
fn silent_failure(attempt: &SignInAttempt, stopped: &Stopped) -> Option<String> {
    let Stop::DirectoryRefused { error, .. } = &stopped.stop else {
        return None;
    };
    let needs_person = matches!(
        error.as_str(),
        "login_required"
            | "interaction_required"
            | "consent_required"
            | "account_selection_required"
    );
    let request = attempt.return_to.as_deref()?;
    let silent = request.starts_with(crate::provider::AUTHORIZE) && request.contains("prompt=none");
    (needs_person && silent).then(|| {
        format!(
            "{request}&gatehouse_silent={}",
            crate::provider::authorize::SILENT_FAILED
        )
    })
}

/// Hands the session to the browser and sends it on.
fn admitted_response(admitted: Admitted, https: bool) -> Response {
    let mut response = Redirect::to(&admitted.go_to).into_response();
    match session_cookie::hand_over(&admitted.session, https, response.headers_mut()) {
        Ok(()) => response,
        Err(e) => Problem::ours("handing over the session failed", e).into_response(),
    }
}

/// What came back for the wizard's test sign-in.
enum TestAnswer<'a> {
    /// The directory's answer at the OpenID Connect callback.
    Oidc(Answer<'a>),
    /// The SAML response it posted to the Reply URL.
    Saml(&'a str),
}

/// The wizard's test sign-in came back: its result is kept, and the admin goes back to the
/// wizard.
async fn test_sign_in_done(
    state: &AppState,
    attempt: &SignInAttempt,
    answer: TestAnswer<'_>,
) -> Response {
    let org = match state
        .storage
        .find_sign_in_organization(OrganizationKey::Id(&attempt.organization_id))
        .await
    {
        Ok(Some(target)) => target.organization,
        Ok(None) => return page_for(gone()).into_response(),
        Err(e) => return Problem::ours("sign-in organization lookup failed", e).into_response(),
    };
    let services = state.sign_in_services();
    let finished = match answer {
        TestAnswer::Oidc(answer) => test_sign_in::complete(&services, &org, attempt, answer).await,
        TestAnswer::Saml(response) => {
            test_sign_in::complete_saml(&services, &org, attempt, response).await
        }
    };
    match finished {
        Ok(wizard) => Redirect::to(&wizard).into_response(),
        Err(ConnectionError::AlreadyAnswered) => already_used(None),
        Err(e) => Problem::ours("test sign-in failed", e)
            .with_retry(format!("/console/orgs/{}/sso#step-test", org.id))
            .into_response(),
    }
}

fn gone() -> Stopped {
    Stopped {
        stop: Stop::OrganizationGone,
        reference: None,
        organization_slug: None,
    }
}

/// A callback whose browser holds no attempt for its state: answered before (the browser let
/// go of the attempt then), or started in another browser.
async fn without_attempt(state: &AppState, state_hash: &str) -> Response {
    match state.storage.sign_in_state_used(state_hash).await {
        Ok(true) => already_used(None),
        Ok(false) => start_again(
            "Sign-in refused",
            "This sign-in was started in another browser or session. Start it again here.",
        ),
        Err(e) => Problem::ours("sign-in state lookup failed", e).into_response(),
    }
}

/// The page for a callback whose state was answered before.
fn already_used(reference: Option<&str>) -> Response {
    let problem = Problem::new(
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "This sign-in has expired or was already used. Start the sign-in again.",
    )
    .with_retry("/signin");
    match reference {
        Some(r) => problem.with_reference(r),
        None => problem,
    }
    .into_response()
}

/// The page a stopped sign-in ends on: what happened, who can fix it, and the reference of its
/// log entry.
fn page_for(stopped: Stopped) -> Response {
    let Stopped {
        stop,
        reference,
        organization_slug,
    } = stopped;
    // A stop at the directory is tried again at the organization's own start address.
    let retry = "/signin".to_string();
    let sso_again = organization_slug.map_or_else(|| retry.clone(), |s| format!("/o/{s}/sso"));
    let problem = match stop {
        Stop::Replayed => return already_used(reference.as_deref()),
        Stop::UnknownOrganization => Problem::new(
            StatusCode::NOT_FOUND,
            "Organization not found",
            "No organization uses this sign-in address. Check the link, or sign in with your email.",
        )
        .with_retry(retry),
        Stop::OrganizationGone => Problem::new(
            StatusCode::NOT_FOUND,
            "Sign-in failed",
            "This organization no longer exists.",
        ),
        Stop::NotConnected { organization } => Problem::new(
            StatusCode::NOT_FOUND,
            "Single sign-on is not on",
            format!(
                "{organization} has not turned on single sign-on with its directory. Sign in with your password, or ask your admin to finish the setup."
            ),
        )
        .with_retry(retry),
        Stop::Refused(refusal) => Problem::new(
            StatusCode::FORBIDDEN,
            "You cannot sign in here yet",
            refusal.message(),
        ),
        Stop::CredentialExpired { organization, on } => Problem::new(
            StatusCode::FORBIDDEN,
            "Single sign-on is paused",
            format!(
                "Your administrator's SSO credential expired on {on}, so {organization} cannot sign you in with your directory until they replace it. Nothing is wrong with your account: tell your administrator."
            ),
        ),
        Stop::DirectoryUnreachable { message } => Problem::new(
            StatusCode::BAD_GATEWAY,
            "The directory could not be reached",
            format!("{message} Nothing else in Gatehouse is affected."),
        )
        .with_retry(sso_again),
        Stop::DirectoryRefused {
            error,
            text,
            guidance,
        } => {
            let message = match guidance {
                Some(g) => format!("Your directory refused the sign-in. Your admin can fix it: {g}"),
                None if error == "access_denied" => "The sign-in was cancelled or refused at your directory. Try again; if it is refused again, ask your admin.".to_string(),
                None => format!("Your directory did not complete the sign-in ({error}). Try again; if it keeps happening, ask your admin."),
            };
            Problem::new(StatusCode::FORBIDDEN, "Sign-in refused by your directory", message)
                .with_details(text)
                .with_retry(sso_again)
        }
        // The directory is down, slow or failing: not the person's doing, nor their admin's.
        Stop::DirectoryDown {
            message, details, ..
        } => Problem::new(
            StatusCode::BAD_GATEWAY,
            "Your directory did not answer",
            format!("{message} Nothing was changed, and nothing else in Gatehouse is affected."),
        )
        .with_details(details)
        .with_retry(sso_again),
        Stop::NotCompleted {
            message, details, ..
        } => Problem::new(
            StatusCode::BAD_REQUEST,
            "Sign-in could not be completed",
            format!("{message} Nothing was changed. Try again; if it keeps happening, give the reference to your admin."),
        )
        .with_details(details)
        .with_retry(sso_again),
        Stop::Internal { .. } => Problem::internal(reference.as_deref().unwrap_or_default()),
    };
    match reference {
        Some(r) => problem.with_reference(&r),
        None => problem,
    }
    .into_response()
}
