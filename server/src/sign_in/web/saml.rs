//! SAML's web side: Gatehouse's metadata for an organization, and the Reply URL. Entra posts
//! the response there from its own site, so no SameSite=Lax cookie comes with it: the response
//! is held for two minutes under a fresh handle and the browser is sent on, with a same-site
//! GET that carries its attempt cookie, to `/auth/callback/saml`, where it is checked and the
//! sign-in (or the wizard's test sign-in) finishes.

use super::{
    admitted_response, already_used, attempt_cookie, end_directory_session, page_for, start_again,
    too_many,
};
use crate::auth::web::{session_cookie, ClientAddr};
use crate::connections::test_sign_in;
use crate::crypto::tokens;
use crate::saml::{metadata, response::MAX_RESPONSE_BYTES, service_provider_urls};
use crate::sign_in::attempt::NotKept;
use crate::sign_in::saml::{self as flow, Posted};
use crate::sign_in::web::page::Problem;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

/// How long a posted response waits for its browser's GET.
const HELD_FOR: time::Duration = time::Duration::minutes(2);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/saml/{organization_id}/metadata", get(sp_metadata))
        // A response larger than the checks accept is still taken, so that its refusal is
        // audited like any other; twice that is refused at the door.
        .route(
            "/saml/{organization_id}/acs",
            post(reply).layer(DefaultBodyLimit::max(2 * MAX_RESPONSE_BYTES)),
        )
        .route("/auth/callback/saml", get(finish))
        .route("/saml/{organization_id}/logout", get(single_logout))
}

/// Gatehouse's SAML metadata for the organization (Entra: "Upload metadata file").
async fn sp_metadata(
    State(state): State<AppState>,
    Path(organization_id): Path<String>,
) -> Response {
    match state.storage.find_organization(&organization_id).await {
        Ok(Some(org)) => {
            let urls = service_provider_urls(&state.config.public_url, &org.id, &org.slug);
            (
                [
                    (header::CONTENT_TYPE, "application/samlmetadata+xml"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"gatehouse-metadata.xml\"",
                    ),
                ],
                metadata::service_provider_metadata(&urls),
            )
                .into_response()
        }
        Ok(None) => Problem::new(
            StatusCode::NOT_FOUND,
            "Organization not found",
            "No organization has this address.",
        )
        .into_response(),
        Err(e) => Problem::ours("reading the organization failed", e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct ReplyForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// The Reply URL: holds the response and sends the browser on to a same-site GET.
async fn reply(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    Path(organization_id): Path<String>,
    Form(form): Form<ReplyForm>,
) -> Response {
    if !state.sso_limit.allow(&client_addr) {
        return too_many();
    }
    let Some(response) = form.saml_response.filter(|r| !r.is_empty()) else {
        return start_again(
            "Sign-in incomplete",
            "Your directory sent no SAML response. Start the sign-in again.",
        );
    };
    let relay_state = form.relay_state.filter(|r| !r.is_empty() && r.len() <= 128);
    let (handle, handle_hash) = tokens::generate();
    let held = state
        .storage
        .hold_saml_response(
            &handle_hash,
            &organization_id,
            &response,
            relay_state.as_deref(),
            state.now() + HELD_FOR,
        )
        .await;
    match held {
        Ok(()) => Redirect::to(&format!("/auth/callback/saml?handle={handle}")).into_response(),
        Err(e) => Problem::ours("holding the SAML response failed", e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct FinishQuery {
    handle: Option<String>,
}

/// The same-site GET after the Reply URL: the held response, with the attempt this browser
/// kept for its RelayState.
async fn finish(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    headers: HeaderMap,
    Query(query): Query<FinishQuery>,
) -> Response {
    let Some(handle) = query.handle.filter(|h| !h.is_empty()) else {
        return start_again(
            "Sign-in incomplete",
            "This address is missing its sign-in. Start the sign-in again.",
        );
    };
    let held = match state
        .storage
        .take_saml_response(&tokens::hash(&handle), state.now())
        .await
    {
        Ok(Some(held)) => held,
        Ok(None) => return already_used(None),
        Err(e) => return Problem::ours("reading the SAML response failed", e).into_response(),
    };
    let https = state.config.is_https();
    let state_hash = held.relay_state.as_deref().map(tokens::hash);
    let attempt = match state_hash
        .as_deref()
        .map(|h| attempt_cookie::kept(&headers, &state.sealing_key, h, https, state.now()))
    {
        Some(Ok(attempt)) => Some(attempt),
        Some(Err(NotKept::Expired)) => return already_used(None),
        Some(Err(NotKept::Missing)) | None => None,
    };
    let mut response = match attempt.as_ref() {
        Some(attempt) if attempt.purpose == test_sign_in::PURPOSE => {
            let answer = super::TestAnswer::Saml(&held.response);
            super::test_sign_in_done(&state, attempt, answer).await
        }
        _ => {
            let posted = Posted {
                held: &held,
                attempt: attempt.as_ref(),
                client_addr: &client_addr,
                previous_session: session_cookie::read(&headers, session_cookie::name(https)),
                new_session_id: session_cookie::new_id(),
            };
            match flow::complete(&state.sign_in_services(), posted).await {
                Ok(admitted) => admitted_response(admitted, https),
                Err(stopped) => page_for(stopped).into_response(),
            }
        }
    };
    match state_hash {
        Some(hash) if attempt.is_some() => {
            match attempt_cookie::forget(&hash, https, response.headers_mut()) {
                Ok(()) => response,
                Err(e) => Problem::ours("ending the sign-in attempt failed", e).into_response(),
            }
        }
        _ => response,
    }
}

#[derive(Debug, Deserialize)]
struct LogoutQuery {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
}

/// The Logout URL. A LogoutRequest from the directory (HTTP-Redirect) ends every Gatehouse
/// session its SessionIndex started; Entra's LogoutResponse after a sign-out lands here too.
/// Either way the browser is told it is signed out.
async fn single_logout(
    State(state): State<AppState>,
    Query(query): Query<LogoutQuery>,
) -> Response {
    if let Some(request) = query.saml_request.as_deref() {
        let session_index = match crate::saml::logout::session_index(request) {
            Ok(index) => index,
            Err(problem) => {
                let message =
                    format!("Your directory's sign-out request could not be read: {problem}.");
                return start_again("Sign-out not understood", &message);
            }
        };
        if let Err(response) = end_directory_session(&state, &session_index).await {
            return response;
        }
    }
    Problem::new(
        StatusCode::OK,
        "Signed out",
        "You are signed out of Gatehouse.",
    )
    .into_response()
}
