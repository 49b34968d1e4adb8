use super::ApiJson;
use crate::auth::{self, ClientAddr, SignedIn};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use app::types::{ErrorBody, Me, SignInRequest};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use tower_sessions::Session;
use tracing::instrument;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(current_session, sign_in, sign_out))
}

/// Who is signed in.
#[utoipa::path(get, path = "/session", tag = "session",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
#[instrument(skip_all)]
async fn current_session(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> ApiResult<Json<Me>> {
    Ok(Json(auth::describe(&state, &signed_in.account).await?))
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
    let account = auth::password::sign_in(&state, &request, &client_addr).await?;
    auth::start_session(&session, &account.principal()).await?;
    Ok(Json(auth::describe(&state, &account).await?))
}

/// Signs out: the session is deleted on the server.
#[utoipa::path(delete, path = "/session", tag = "session",
    responses((status = 204), (status = 401, body = ErrorBody)))]
#[instrument(skip_all)]
async fn sign_out(State(state): State<AppState>, signed_in: SignedIn) -> ApiResult<StatusCode> {
    signed_in
        .session
        .flush()
        .await
        .map_err(|e| ApiError::Internal(format!("session delete: {e}")))?;
    let entry = crate::storage::AuditEntry::success(
        signed_in.account.organization_id(),
        "signout",
        signed_in.account.email(),
    );
    state
        .storage
        .record_audit(&signed_in.actor, &entry, state.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
