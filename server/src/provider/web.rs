//! The provider's web side: discovery, the key set, `authorize`, `token` and `userinfo`.

use super::authorize::{after_sign_in, AuthorizeRequest, Next, Refused, SessionPerson};
use super::token::{BasicCredentials, TokenError, TokenRequest};
use crate::auth::web::ClientAddr;
use crate::auth::{
    Account, Principal, APPLICATION_SID_KEY, DIRECTORY_SIGN_OUT_KEY, PASSED_ON_KEY, PRINCIPAL_KEY,
    SIGNED_IN_AT_KEY,
};
use crate::clock::to_millis;
use crate::oidc::{DirectoryPrompt, PassedOn};
use crate::sign_in::web::page::Problem;
use crate::sign_in::StartRequest;
use crate::state::AppState;
use axum::extract::{OriginalUri, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tower_sessions::Session;

use super::logout::{EndSessionRefused, EndSessionRequest};
use super::{AUTHORIZE, DISCOVERY, END_SESSION, JWKS, TOKEN, USERINFO};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(DISCOVERY, get(discovery))
        .route(JWKS, get(jwks))
        .route(AUTHORIZE, get(authorize))
        .route(TOKEN, axum::routing::post(token))
        .route(USERINFO, get(userinfo).post(userinfo))
        .route(END_SESSION, get(end_session))
}

async fn discovery(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(super::discovery(&state.config.public_url))
}

async fn jwks(State(state): State<AppState>) -> Response {
    match state.provider_services().keys().await {
        Ok(keys) => Json(keys.published.clone()).into_response(),
        Err(e) => Problem::ours("reading the signing keys failed", e).into_response(),
    }
}

/// The browser's signed-in person, if the session holds one that still may sign in; gives the
/// session its id for applications on first use.
async fn session_person(state: &AppState, session: &Session) -> Option<SessionPerson> {
    let principal: Principal = session.get(PRINCIPAL_KEY).await.ok().flatten()?;
    let signed_in_at: i64 = session.get(SIGNED_IN_AT_KEY).await.ok().flatten()?;
    let lifetime = state.config.session_lifetime.whole_milliseconds() as i64;
    if to_millis(state.now()) - signed_in_at > lifetime {
        return None;
    }
    let with_directory = session
        .get::<String>(DIRECTORY_SIGN_OUT_KEY)
        .await
        .ok()
        .flatten()
        .is_some();
    let account = crate::auth::resolve(&state.storage, &principal)
        .await
        .ok()
        .flatten()?;
    let member = match account {
        Account::Admin(m) | Account::Member(m) => m,
        Account::Operator(_) => return None,
    };
    let sid = match session
        .get::<String>(APPLICATION_SID_KEY)
        .await
        .ok()
        .flatten()
    {
        Some(sid) => sid,
        None => {
            let sid = uuid::Uuid::new_v4().to_string();
            session.insert(APPLICATION_SID_KEY, &sid).await.ok()?;
            sid
        }
    };
    let passed_on = session
        .get::<PassedOn>(PASSED_ON_KEY)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    Some(SessionPerson {
        organization_id: member.organization_id,
        member_id: member.id,
        signed_in_at,
        with_directory,
        sid,
        passed_on,
    })
}

/// Core 3.1.2: the application's authorization request.
#[tracing::instrument(skip_all)]
async fn authorize(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    OriginalUri(uri): OriginalUri,
    Query(request): Query<AuthorizeRequest>,
    session: Session,
) -> Response {
    let person = session_person(&state, &session).await;
    let next =
        super::authorize::authorize(&state.provider_services(), &request, person.as_ref()).await;
    match next {
        Ok(Next::Application(to)) => Redirect::to(&to).into_response(),
        Ok(Next::SignIn {
            slug,
            login_hint,
            prompt,
        }) => {
            if !state.sso_limit.allow(&client_addr) {
                return Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many sign-in attempts",
                    "Too many sign-ins came from your network in the last minute. Wait a minute, then try again.",
                )
                .into_response();
            }
            let return_to = after_sign_in(uri.path(), uri.query().unwrap_or_default(), prompt);
            let start = StartRequest {
                login_hint,
                return_to: Some(return_to),
                prompt,
            };
            crate::sign_in::web::to_directory(&state, &client_addr, &slug, &start).await
        }
        Ok(Next::FindOrganization) => {
            let query = uri.query().unwrap_or_default();
            let back_here = after_sign_in(uri.path(), query, DirectoryPrompt::AsUsual);
            let to = format!("/signin?return_to={}", app::api::encode_query(&back_here));
            Redirect::to(&to).into_response()
        }
        Err(Refused::Internal(e)) => Problem::ours("the authorization request failed", e).into_response(),
        Err(refused) => Problem::new(
            StatusCode::BAD_REQUEST,
            "This application's sign-in request is not valid",
            format!("{refused} Nothing was sent back to the application. Tell the application's vendor."),
        )
        .into_response(),
    }
}

/// `client_secret_basic` (RFC 6749 §2.3.1): the client ID and secret, form-encoded, in Basic.
fn basic_credentials(headers: &HeaderMap) -> Option<BasicCredentials> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |text: &str| {
        openidconnect::url::form_urlencoded::parse(format!("v={text}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some(BasicCredentials {
        client_id: decode(id)?,
        client_secret: decode(secret)?,
    })
}

/// Token responses are never cached (RFC 6749 §5.1).
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Core 3.1.3: exchanges a code for tokens.
#[tracing::instrument(skip_all)]
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(request): Form<TokenRequest>,
) -> Response {
    let basic = basic_credentials(&headers);
    let result = super::token::exchange(&state.provider_services(), &request, basic.as_ref()).await;
    let response = match result {
        Ok(tokens) => Json(tokens).into_response(),
        Err(e) => {
            if let TokenError::Internal(inner) = &e {
                tracing::error!(error = %inner, "token request failed");
            }
            let status = match e {
                TokenError::InvalidClient(_) => StatusCode::UNAUTHORIZED,
                TokenError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            };
            let body = serde_json::json!({"error": e.code(), "error_description": e.description()});
            let mut response = (status, Json(body)).into_response();
            if status == StatusCode::UNAUTHORIZED && basic.is_some() {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"gatehouse\""),
                );
            }
            response
        }
    };
    no_store(response)
}

/// Core 5.3: the person's claims for a Bearer access token (RFC 6750).
#[tracing::instrument(skip_all)]
async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let unauthorized = |error: &'static str| {
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        let challenge = match error {
            "" => "Bearer".to_string(),
            e => format!("Bearer error=\"{e}\""),
        };
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    };
    let Some(token) = token else {
        return unauthorized("");
    };
    match super::token::userinfo(&state.provider_services(), token).await {
        Ok(Some(claims)) => Json(claims).into_response(),
        Ok(None) => unauthorized("invalid_token"),
        Err(e) => {
            tracing::error!(error = %e, "userinfo failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Debug, serde::Deserialize)]
struct EndSessionQuery {
    #[serde(flatten)]
    request: EndSessionRequest,
    /// Set by Gatehouse's own confirmation page.
    #[serde(default)]
    confirmed: Option<String>,
}

/// RP-Initiated Logout 1.0: an application signs the person out of Gatehouse. Their session
/// ends, every application it signed in to gets a back-channel logout, and the browser goes
/// back to the application's registered post-logout address. Without an `id_token_hint` the
/// person confirms first on a Gatehouse page, so no other site can sign them out.
#[tracing::instrument(skip_all)]
async fn end_session(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(query): Query<EndSessionQuery>,
    session: Session,
) -> Response {
    let services = state.provider_services();
    let (redirect, hinted) = match super::logout::check_end_session(&services, &query.request).await
    {
        Ok(checked) => checked,
        Err(EndSessionRefused::Internal(e)) => {
            return Problem::ours("the sign-out request failed", e).into_response()
        }
        Err(refused) => {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "This application's sign-out request is not valid",
                format!("{refused} You are still signed in. Tell the application's vendor."),
            )
            .into_response()
        }
    };
    let same_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v == "same-origin" || v == "none");
    let confirmed = query.confirmed.is_some() && same_site;
    if !(hinted || confirmed) {
        let separator = if uri.query().is_some() { '&' } else { '?' };
        let confirm = format!("{uri}{separator}confirmed=1");
        return Problem::new(
            StatusCode::OK,
            "Sign out of Gatehouse?",
            "An application asks to sign you out of Gatehouse and of the applications you signed in to with it.",
        )
        .with_proceed(confirm)
        .into_response();
    }
    let principal: Option<Principal> = session.get(PRINCIPAL_KEY).await.ok().flatten();
    if let Some(sid) = session
        .get::<String>(APPLICATION_SID_KEY)
        .await
        .ok()
        .flatten()
    {
        if let Err(e) = super::logout::session_ended(&services, &sid).await {
            return Problem::ours("signing out failed", e).into_response();
        }
    }
    if let Err(e) = session.flush().await {
        return Problem::ours("signing out failed", e).into_response();
    }
    if let Some(principal) = principal {
        let organization_id = match &principal {
            Principal::Admin {
                organization_id, ..
            }
            | Principal::Member {
                organization_id, ..
            } => Some(organization_id.as_str()),
            Principal::Operator { .. } => None,
        };
        let actor = crate::storage::Actor {
            label: "application".into(),
            client_addr,
        };
        let target = query.request.client_id.as_deref().unwrap_or("-");
        let entry = crate::storage::AuditEntry::success(organization_id, "signout", target);
        if let Err(e) = state
            .storage
            .record_audit(&actor, &entry, state.now())
            .await
        {
            tracing::error!(error = %e, "auditing a sign-out failed");
        }
    }
    match redirect {
        Some(to) => Redirect::to(&to).into_response(),
        None => Problem::new(
            StatusCode::OK,
            "Signed out",
            "You are signed out of Gatehouse.",
        )
        .into_response(),
    }
}
