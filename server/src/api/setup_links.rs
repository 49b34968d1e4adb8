use super::ApiJson;
use crate::auth::web::SignedIn;
use crate::clock::{rfc3339_millis, to_millis};
use crate::crypto::tokens;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::{SetupLinkRecord, StorageError};
use app::types::{CreateSetupLinkRequest, ErrorBody, SetupLink, SetupLinkCreated};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use tracing::instrument;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_setup_links, create_setup_link))
        .routes(routes!(revoke_setup_link))
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
    Ok(signed_in.account.require_operator()?)
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
