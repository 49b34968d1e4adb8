use super::ApiJson;
use crate::auth::{Account, ClientAddr, SignedIn};
use crate::clock::{rfc3339_millis, to_millis};
use crate::crypto::tokens;
use crate::domain::FieldErrors;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::{SetupLinkRecord, StorageError};
use app::types::{
    CreateSetupLinkRequest, ErrorBody, Me, SetupLink, SetupLinkCreated, SetupLinkInfo,
    UseSetupLinkRequest,
};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use tower_sessions::Session;
use tracing::instrument;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_setup_links, create_setup_link))
        .routes(routes!(revoke_setup_link))
        .routes(routes!(get_setup_link))
        .routes(routes!(use_setup_link))
}

fn to_api(link: SetupLinkRecord, now: i64) -> SetupLink {
    let status = if link.used_at.is_some() {
        "used"
    } else if link.revoked_at.is_some() {
        "revoked"
    } else if link.expires_at <= now {
        "expired"
    } else {
        "open"
    };
    SetupLink {
        id: link.id,
        created_by: link.created_by,
        created_at: rfc3339_millis(link.created_at),
        expires_at: rfc3339_millis(link.expires_at),
        status: status.into(),
        used_by: link.used_by,
    }
}

fn operator_only(signed_in: &SignedIn, organization_id: &str) -> ApiResult<()> {
    signed_in.account.require_organization(organization_id)?;
    signed_in.account.require_operator()
}

/// Creates a setup link for the organization (operators only); it is shown only in this answer.
#[utoipa::path(post, path = "/organizations/{id}/setup-links", tag = "setup-links",
    params(("id" = String, Path, description = "Organization id")),
    request_body = CreateSetupLinkRequest,
    responses((status = 201, body = SetupLinkCreated), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn create_setup_link(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<CreateSetupLinkRequest>,
) -> ApiResult<(StatusCode, Json<SetupLinkCreated>)> {
    operator_only(&signed_in, &id)?;
    let days = request.valid_days.unwrap_or(7);
    if !(1..=30).contains(&days) {
        return Err(ApiError::field(
            "valid_days",
            "A setup link works for 1 to 30 days.",
        ));
    }
    let (token, hash) = tokens::generate();
    let now = state.now();
    let link = state
        .storage
        .create_setup_link(
            &id,
            &hash,
            now + time::Duration::days(days),
            &signed_in.actor,
            now,
        )
        .await
        .map_err(|e| match e {
            StorageError::NotFound => ApiError::NotFound("organization"),
            other => other.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(SetupLinkCreated {
            id: link.id,
            setup_url: format!("{}/connect/{token}", state.config.public_url),
            expires_at: rfc3339_millis(link.expires_at),
        }),
    ))
}

/// The organization's setup links, newest first (operators only).
#[utoipa::path(get, path = "/organizations/{id}/setup-links", tag = "setup-links",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 200, body = Vec<SetupLink>), (status = 404, body = ErrorBody)))]
#[instrument(skip_all)]
async fn list_setup_links(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<SetupLink>>> {
    operator_only(&signed_in, &id)?;
    let now = to_millis(state.now());
    let links = state.storage.list_setup_links(&id).await?;
    Ok(Json(links.into_iter().map(|l| to_api(l, now)).collect()))
}

/// Revokes an unused setup link at once (operators only).
#[utoipa::path(delete, path = "/organizations/{id}/setup-links/{link_id}", tag = "setup-links",
    params(("id" = String, Path, description = "Organization id"),
        ("link_id" = String, Path, description = "Setup link id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
#[instrument(skip_all)]
async fn revoke_setup_link(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, link_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    operator_only(&signed_in, &id)?;
    state
        .storage
        .revoke_setup_link(&id, &link_id, &signed_in.actor, state.now())
        .await
        .map_err(|e| match e {
            StorageError::NotFound => ApiError::NotFound("open setup link"),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which organization a setup link is for, while it works.
#[utoipa::path(get, path = "/setup-links/{token}", tag = "setup-links",
    params(("token" = String, Path, description = "The token from the setup link")),
    responses((status = 200, body = SetupLinkInfo), (status = 410, body = ErrorBody)))]
#[instrument(skip_all)]
async fn get_setup_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Json<SetupLinkInfo>> {
    let link = state
        .storage
        .find_open_setup_link(&tokens::hash(&token), state.now())
        .await?
        .ok_or(ApiError::LinkInvalid)?;
    Ok(Json(SetupLinkInfo {
        organization_id: link.organization_id,
        organization_name: link.organization_name,
        expires_at: rfc3339_millis(link.expires_at),
    }))
}

/// Uses a setup link: creates the person's admin account in that organization and signs them
/// in. The link then stops working.
#[utoipa::path(post, path = "/setup-links/{token}/accept", tag = "setup-links",
    params(("token" = String, Path, description = "The token from the setup link")),
    request_body = UseSetupLinkRequest,
    responses((status = 200, body = Me), (status = 410, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn use_setup_link(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    session: Session,
    Path(token): Path<String>,
    ApiJson(request): ApiJson<UseSetupLinkRequest>,
) -> ApiResult<Json<Me>> {
    let mut errors = FieldErrors::default();
    let email = super::checked_email(&mut errors, &request.email);
    let (name, password_hash) =
        super::new_account(&request.name, &request.password, errors).await?;
    let email = email.ok_or_else(|| ApiError::field("email", "Enter an email address."))?;
    let member = state
        .storage
        .use_setup_link(
            &tokens::hash(&token),
            (&email.display, &email.normalized),
            &name.0,
            &password_hash,
            &client_addr,
            state.now(),
        )
        .await
        .map_err(super::link_gone)?;
    super::signed_in_as(&state, &session, Account::Admin(member)).await
}
