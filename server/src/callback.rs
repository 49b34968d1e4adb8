//! `/auth/callback`: where the directory sends the browser back (OpenID Connect Core 3.1.2.5).
//! The state is looked up once, must belong to this browser, and then the flow it started is
//! finished: a person's sign-in, or the wizard's test sign-in. Every failure ends on a page
//! that says what happened.

use crate::auth::ClientAddr;
use crate::connections::test_sign_in;
use crate::crypto::tokens;
use crate::sign_in::{self, browser, page::Problem, Answer};
use crate::state::AppState;
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
    let used = match state
        .storage
        .consume_sign_in_attempt(&tokens::hash(state_param), state.now())
        .await
    {
        Ok(Some(used)) => used,
        Ok(None) => {
            return start_again(
                "Sign-in expired",
                "This sign-in has expired or was already used. Start the sign-in again.",
            )
        }
        Err(e) => {
            return Problem::ours("sign-in attempt lookup failed", e).into_response();
        }
    };
    let attempt = used.attempt;
    if !browser::same_browser(&headers, &attempt) {
        return start_again(
            "Sign-in refused",
            "This sign-in was started in another browser or session. Start it again here.",
        );
    }
    let Some(target) = used.organization else {
        return Problem::new(
            StatusCode::NOT_FOUND,
            "Sign-in failed",
            "This organization no longer exists.",
        )
        .into_response();
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
    match attempt.purpose.as_str() {
        sign_in::PURPOSE => {
            sign_in::complete(&state, &headers, &client_addr, &target, &attempt, answer).await
        }
        test_sign_in::PURPOSE => {
            let org = &target.organization;
            match test_sign_in::complete(&state, org, &attempt, answer).await {
                Ok(wizard) => Redirect::to(&wizard).into_response(),
                Err(e) => Problem::ours("test sign-in failed", e)
                    .with_retry(format!("/console/orgs/{}/sso#step-test", org.id))
                    .into_response(),
            }
        }
        _ => start_again("Sign-in refused", "Unknown sign-in."),
    }
}
