use super::ApiJson;
use crate::auth::web::SignedIn;
use crate::connections;
use crate::error::{ApiError, ApiResult};
use crate::sign_in::web::attempt_cookie;
use crate::state::AppState;
use crate::storage::OrganizationRecord;
use app::types::{
    ConnectionView, ErrorBody, SaveCredentialsRequest, SavePolicyRequest, TestSignInStart,
    VersionRequest,
};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::BTreeMap;
use tracing::instrument;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_connection))
        .routes(routes!(save_credentials))
        .routes(routes!(verify_connection))
        .routes(routes!(save_policy))
        .routes(routes!(activate_connection))
        .routes(routes!(disable_connection))
        .routes(routes!(start_test_sign_in))
}

async fn organization(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
) -> ApiResult<OrganizationRecord> {
    signed_in.account.require_organization(id)?;
    state
        .storage
        .find_organization(id)
        .await?
        .ok_or(ApiError::NotFound("organization"))
}

/// The organization's SSO connection: the values to register in Entra, the draft and the
/// active configuration (secrets only as hints).
#[utoipa::path(get, path = "/organizations/{id}/connection", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 200, body = ConnectionView), (status = 404, body = ErrorBody)))]
#[instrument(skip_all)]
async fn get_connection(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectionView>> {
    let org = organization(&state, &signed_in, &id).await?;
    Ok(Json(
        connections::view(&state, &org, BTreeMap::new()).await?,
    ))
}

/// Saves the directory, client ID, client secret (write-only) and its expiry in the draft.
#[utoipa::path(put, path = "/organizations/{id}/connection/draft/credentials", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    request_body = SaveCredentialsRequest,
    responses((status = 200, body = ConnectionView), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn save_credentials(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<SaveCredentialsRequest>,
) -> ApiResult<Json<ConnectionView>> {
    let org = organization(&state, &signed_in, &id).await?;
    Ok(Json(
        connections::save_credentials(&state, &org, &request, &signed_in.actor).await?,
    ))
}

/// Checks the draft live: the directory, the app and its secret, the secret's expiry.
#[utoipa::path(post, path = "/organizations/{id}/connection/draft/verify", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    request_body = VersionRequest,
    responses((status = 200, body = ConnectionView), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn verify_connection(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<VersionRequest>,
) -> ApiResult<Json<ConnectionView>> {
    let org = organization(&state, &signed_in, &id).await?;
    Ok(Json(
        connections::verify_draft(&state, &org, &request, &signed_in.actor).await?,
    ))
}

/// Saves who may sign in with SSO in the draft.
#[utoipa::path(put, path = "/organizations/{id}/connection/draft/policy", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    request_body = SavePolicyRequest,
    responses((status = 200, body = ConnectionView), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn save_policy(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<SavePolicyRequest>,
) -> ApiResult<Json<ConnectionView>> {
    let org = organization(&state, &signed_in, &id).await?;
    Ok(Json(
        connections::save_policy(&state, &org, &request, &signed_in.actor).await?,
    ))
}

/// Makes the verified draft the active configuration, atomically.
#[utoipa::path(post, path = "/organizations/{id}/connection/activate", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    request_body = VersionRequest,
    responses((status = 200, body = ConnectionView), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn activate_connection(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<VersionRequest>,
) -> ApiResult<Json<ConnectionView>> {
    let org = organization(&state, &signed_in, &id).await?;
    Ok(Json(
        connections::activate(&state, &org, &request, &signed_in.actor).await?,
    ))
}

/// Turns SSO off at once.
#[utoipa::path(post, path = "/organizations/{id}/connection/disable", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 200, body = ConnectionView), (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn disable_connection(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectionView>> {
    let org = organization(&state, &signed_in, &id).await?;
    Ok(Json(
        connections::disable(&state, &org, &signed_in.actor).await?,
    ))
}

/// Starts a test sign-in with the draft's values: answers the directory address to open. The
/// result comes back to the wizard; no session is created for the identity that signs in.
#[utoipa::path(post, path = "/organizations/{id}/connection/test-sign-in", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 200, body = TestSignInStart), (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn start_test_sign_in(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let org = organization(&state, &signed_in, &id).await?;
    let (authorize_url, attempt) = connections::test_sign_in::start(&state, &org).await?;
    let mut response = Json(TestSignInStart { authorize_url }).into_response();
    let https = state.config.is_https();
    attempt_cookie::hand_over(&attempt, &state.sealing_key, https, response.headers_mut())?;
    Ok(response)
}
