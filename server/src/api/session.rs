use super::ApiJson;
use crate::auth::web::{self as auth_web, ClientAddr, SignedInPerson};
use crate::auth::{self, Account};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use app::types::{AccountKind, OrganizationRef};
use app::types::{ErrorBody, Me, SignInMethod, SignInMethodRequest, SignInRequest, SignedOut};
use axum::extract::State;
use axum::Json;
use tower_sessions::Session;
use tracing::instrument;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(current_session, sign_in, sign_out))
        .routes(routes!(sign_in_method))
}

/// Who is signed in.
#[utoipa::path(get, path = "/session", tag = "session",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
#[instrument(skip_all)]
async fn current_session(
    State(state): State<AppState>,
    SignedInPerson(signed_in): SignedInPerson,
) -> ApiResult<Json<Me>> {
    Ok(Json(describe(&state, &signed_in.account).await?))
}

/// Signs an operator or admin in with email and password (rate-limited).
#[utoipa::path(post, path = "/session", tag = "session", request_body = SignInRequest,
    responses((status = 200, body = Me), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
#[instrument(skip_all)]
async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    session: Session,
    ApiJson(request): ApiJson<SignInRequest>,
) -> ApiResult<Json<Me>> {
    let account = auth::password::sign_in(
        &state.storage,
        &state.sign_in_limits,
        state.now(),
        &request,
        &client_addr,
    )
    .await?;
    auth_web::start_session(&session, &account.principal(), state.now()).await?;
    Ok(Json(describe(&state, &account).await?))
}

/// Signs out: the session is deleted on the server. A session started with the directory
/// answers the directory's sign-out page too, to end that session as well.
#[utoipa::path(delete, path = "/session", tag = "session",
    responses((status = 200, body = SignedOut), (status = 401, body = ErrorBody)))]
#[instrument(skip_all)]
async fn sign_out(
    State(state): State<AppState>,
    SignedInPerson(signed_in): SignedInPerson,
) -> ApiResult<Json<SignedOut>> {
    let directory_sign_out_url: Option<String> = signed_in
        .session
        .get(auth::DIRECTORY_SIGN_OUT_KEY)
        .await
        .map_err(|e| ApiError::Internal(format!("session read: {e}")))?;
    let application_sid: Option<String> = signed_in
        .session
        .get(auth::APPLICATION_SID_KEY)
        .await
        .map_err(|e| ApiError::Internal(format!("session read: {e}")))?;
    signed_in
        .session
        .flush()
        .await
        .map_err(|e| ApiError::Internal(format!("session delete: {e}")))?;
    if let Some(sid) = application_sid {
        crate::provider::logout::session_ended(&state.provider_services(), &sid).await?;
    }
    let entry = crate::storage::AuditEntry::success(
        signed_in.account.organization_id(),
        "signout",
        signed_in.account.label(),
    );
    state
        .storage
        .record_audit(&signed_in.actor, &entry, state.now())
        .await?;
    Ok(Json(SignedOut {
        directory_sign_out_url,
    }))
}

/// The email-first sign-in page's first step: an email whose domain an organization's
/// directory has proven goes to that directory; any other email signs in with a password.
#[utoipa::path(post, path = "/sign-in/method", tag = "session", request_body = SignInMethodRequest,
    responses((status = 200, body = SignInMethod), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
#[instrument(skip_all)]
async fn sign_in_method(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    ApiJson(request): ApiJson<SignInMethodRequest>,
) -> ApiResult<Json<SignInMethod>> {
    if !state.sso_limit.allow(&client_addr) {
        return Err(ApiError::RateLimited);
    }
    let email = crate::domain::EmailAddress::parse(&request.email)
        .map_err(|m| ApiError::field("email", m))?;
    let domain = email
        .normalized
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();
    let cutoff = crate::domains::missing_cutoff(state.now());
    let owners = state.storage.find_domain_owners(&domain, cutoff).await?;
    let [owner] = owners.as_slice() else {
        return Ok(Json(SignInMethod::Password));
    };
    let mut sso_url = format!(
        "/o/{}/sso?login_hint={}",
        owner.slug,
        app::api::encode_query(&email.display)
    );
    if let Some(target) = request
        .return_to
        .as_deref()
        .and_then(app::navigation::safe_return_to)
    {
        sso_url.push_str(&format!("&return_to={}", app::api::encode_query(target)));
    }
    Ok(Json(SignInMethod::Sso {
        organization_name: owner.name.clone(),
        sso_url,
    }))
}

/// What `GET /api/v1/session` answers.
pub(super) async fn describe(state: &AppState, account: &Account) -> ApiResult<Me> {
    Ok(match account {
        Account::Operator(o) => Me {
            kind: AccountKind::Operator,
            id: o.id.clone(),
            email: Some(o.email.clone()),
            name: o.name.clone(),
            organization: None,
        },
        Account::Admin(m) | Account::Member(m) => {
            let org = state
                .storage
                .find_organization(&m.organization_id)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            Me {
                kind: if matches!(account, Account::Admin(_)) {
                    AccountKind::Admin
                } else {
                    AccountKind::Member
                },
                id: m.id.clone(),
                email: m.email.clone(),
                name: m.display_name.clone(),
                organization: Some(OrganizationRef {
                    id: org.id,
                    name: org.name,
                    slug: org.slug,
                }),
            }
        }
    })
}
