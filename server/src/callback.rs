//! `/auth/callback`: where the directory sends the browser back (OpenID Connect Core 3.1.2.5).
//! The state is looked up once, must belong to this browser, and then the flow it started is
//! finished. Every failure ends on a page that says what happened.

use crate::connections::test_sign_in::{self, Answer};
use crate::crypto::tokens;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tower_sessions::Session;

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

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// A small page for a sign-in that cannot continue; all text is escaped.
fn problem(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>{t}</title>\
         <link rel=\"stylesheet\" href=\"{css}\"></head><body><main id=\"main\"><section class=\"card narrow\">\
         <h1>{t}</h1><p role=\"alert\">{m}</p><p><a href=\"/\">Go to the start page</a></p>\
         </section></main></body></html>",
        t = escape(title),
        m = escape(message),
        css = app::STYLESHEET,
    );
    (status, Html(body)).into_response()
}

async fn callback(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let Some(state_param) = query.state.as_deref().filter(|s| !s.is_empty()) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Sign-in incomplete",
            "This address is missing its sign-in state. Start the sign-in again.",
        );
    };
    let attempt = match state
        .storage
        .consume_sign_in_attempt(&tokens::hash(state_param), state.now())
        .await
    {
        Ok(Some(a)) => a,
        Ok(None) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "Sign-in expired",
                "This sign-in has expired or was already used. Start the sign-in again.",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in attempt lookup failed");
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-in failed",
                "Something went wrong on our side. Try again.",
            );
        }
    };
    if !test_sign_in::same_browser(&session, &attempt).await {
        return problem(
            StatusCode::BAD_REQUEST,
            "Sign-in refused",
            "This sign-in was started in another browser or session. Start it again here.",
        );
    }
    let org = match state
        .storage
        .find_organization(&attempt.organization_id)
        .await
    {
        Ok(Some(org)) => org,
        _ => {
            return problem(
                StatusCode::NOT_FOUND,
                "Sign-in failed",
                "This organization no longer exists.",
            )
        }
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
    if attempt.purpose != test_sign_in::PURPOSE {
        return problem(
            StatusCode::BAD_REQUEST,
            "Sign-in refused",
            "Unknown sign-in.",
        );
    }
    match test_sign_in::complete(&state, &org, &attempt, answer).await {
        Ok(wizard) => Redirect::to(&wizard).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "test sign-in failed");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Test sign-in failed",
                "Something went wrong on our side. Try again from the wizard.",
            )
        }
    }
}
