//! `/auth/callback`: where the directory sends the browser back (OpenID Connect Core 3.1.2.5).
//! The browser must hold the sealed attempt for the state it brings back; then the flow it
//! started is finished: a person's sign-in, or the wizard's test sign-in. Its outcome is written
//! with the state kept as used, and a state used before ends there as a replay. Every failure
//! ends on a page that says what happened.

use crate::auth::ClientAddr;
use crate::connections::test_sign_in;
use crate::crypto::tokens;
use crate::error::ApiError;
use crate::sign_in::attempt::{NotKept, SignInAttempt};
use crate::sign_in::{self, page::Problem, Answer};
use crate::state::AppState;
use crate::storage::OrganizationKey;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/auth/callback", get(callback))
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
        return Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in attempts",
            "Too many sign-ins came from your network in the last minute. Wait a minute, then try again.",
        )
        .into_response();
    }
    let Some(state_param) = query.state.as_deref().filter(|s| !s.is_empty()) else {
        return start_again(
            "Sign-in incomplete",
            "This address is missing its sign-in state. Start the sign-in again.",
        );
    };
    let state_hash = tokens::hash(state_param);
    let attempt = match SignInAttempt::kept(&headers, &state.sealing_key, &state_hash, state.now())
    {
        Ok(attempt) => attempt,
        Err(NotKept::Expired) => return sign_in::already_used(),
        Err(NotKept::Missing) => return without_attempt(&state, &state_hash).await,
    };
    let target = match state
        .storage
        .find_sign_in_organization(OrganizationKey::Id(&attempt.organization_id))
        .await
    {
        Ok(Some(target)) => target,
        Ok(None) => {
            return Problem::new(
                StatusCode::NOT_FOUND,
                "Sign-in failed",
                "This organization no longer exists.",
            )
            .into_response()
        }
        Err(e) => return Problem::ours("sign-in organization lookup failed", e).into_response(),
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
        sign_in::PURPOSE => {
            sign_in::complete(&state, &headers, &client_addr, &target, &attempt, answer).await
        }
        test_sign_in::PURPOSE => {
            let org = &target.organization;
            match test_sign_in::complete(&state, org, &attempt, answer).await {
                Ok(wizard) => Redirect::to(&wizard).into_response(),
                Err(ApiError::LinkInvalid) => sign_in::already_used(),
                Err(e) => Problem::ours("test sign-in failed", e)
                    .with_retry(format!("/console/orgs/{}/sso#step-test", org.id))
                    .into_response(),
            }
        }
        _ => start_again("Sign-in refused", "Unknown sign-in."),
    };
    // Answered: the browser has no more use for the attempt.
    match SignInAttempt::forget(&state_hash, state.config.is_https(), response.headers_mut()) {
        Ok(()) => response,
        Err(e) => Problem::ours("ending the sign-in attempt failed", e).into_response(),
    }
}

/// A callback whose browser holds no attempt for its state: answered before (the browser let
/// go of the attempt then), or started in another browser.
async fn without_attempt(state: &AppState, state_hash: &str) -> Response {
    match state.storage.sign_in_state_used(state_hash).await {
        Ok(true) => sign_in::already_used(),
        Ok(false) => start_again(
            "Sign-in refused",
            "This sign-in was started in another browser or session. Start it again here.",
        ),
        Err(e) => Problem::ours("sign-in state lookup failed", e).into_response(),
    }
}
