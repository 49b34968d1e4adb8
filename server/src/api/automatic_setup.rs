//! "Set up automatically": starts the device code sign-in, shows its progress, records the
//! admin's answer. The setup itself runs in the background on this instance
//! (`connections::automatic`).

use super::connection::organization;
use super::ApiJson;
use crate::auth::web::SignedIn;
use crate::connections::automatic;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::storage::OrganizationRecord;
use app::types::{
    AutomaticSetupState, ConfirmAutomaticSetupRequest, ErrorBody, StartAutomaticSetupRequest,
};
use axum::extract::{Path, State};
use axum::Json;
use tracing::instrument;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_automatic_setup, start_automatic_setup))
        .routes(routes!(confirm_automatic_setup))
        .routes(routes!(cancel_automatic_setup))
}

async fn current(
    state: &AppState,
    org: &OrganizationRecord,
) -> ApiResult<Json<AutomaticSetupState>> {
    let clouds = state
        .config
        .setup_clients
        .clouds(!state.config.allowed_authorities.is_empty());
    Ok(Json(AutomaticSetupState {
        clouds,
        setup: automatic::read(&state.connection_services(), org).await?,
    }))
}

/// Whether the automatic setup is offered, and the latest one's progress.
#[utoipa::path(get, path = "/organizations/{id}/connection/automatic", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 200, body = AutomaticSetupState)))]
#[instrument(skip_all)]
async fn get_automatic_setup(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Json<AutomaticSetupState>> {
    let org = organization(&state, &signed_in, &id).await?;
    current(&state, &org).await
}

/// Starts the automatic setup: answers the code the admin enters at Microsoft's page. Gatehouse
/// then waits for the sign-in, and asks the admin to confirm the directory before it creates
/// anything.
#[utoipa::path(post, path = "/organizations/{id}/connection/automatic", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    request_body = StartAutomaticSetupRequest,
    responses((status = 200, body = AutomaticSetupState), (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn start_automatic_setup(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<StartAutomaticSetupRequest>,
) -> ApiResult<Json<AutomaticSetupState>> {
    let org = organization(&state, &signed_in, &id).await?;
    let started = automatic::start(
        &state.connection_services(),
        &state.config.setup_clients,
        &org,
        &request,
    )
    .await?;
    let (driver, organization, actor) = (state.clone(), org.clone(), signed_in.actor.clone());
    tokio::spawn(async move {
        automatic::drive(
            &driver.connection_services(),
            &organization,
            started,
            &actor,
        )
        .await;
    });
    current(&state, &org).await
}

/// The admin's answer once Gatehouse shows the directory they signed in to.
#[utoipa::path(post, path = "/organizations/{id}/connection/automatic/confirm", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    request_body = ConfirmAutomaticSetupRequest,
    responses((status = 200, body = AutomaticSetupState), (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn confirm_automatic_setup(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ConfirmAutomaticSetupRequest>,
) -> ApiResult<Json<AutomaticSetupState>> {
    let org = organization(&state, &signed_in, &id).await?;
    automatic::confirm(&state.connection_services(), &org, &request).await?;
    current(&state, &org).await
}

/// Stops the setup while it waits for the sign-in or the admin's answer.
#[utoipa::path(post, path = "/organizations/{id}/connection/automatic/cancel", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    request_body = ConfirmAutomaticSetupRequest,
    responses((status = 200, body = AutomaticSetupState)))]
#[instrument(skip_all)]
async fn cancel_automatic_setup(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ConfirmAutomaticSetupRequest>,
) -> ApiResult<Json<AutomaticSetupState>> {
    let org = organization(&state, &signed_in, &id).await?;
    automatic::cancel(&state.connection_services(), &org, &request.id).await?;
    current(&state, &org).await
}
