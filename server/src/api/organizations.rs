use super::{page, ApiJson, SearchQuery};
use crate::auth::web::SignedIn;
use crate::clock::rfc3339_millis;
use crate::domain::{FieldErrors, Name, Slug};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::{OrganizationRecord, PageRequest, StorageError};
use app::types::{
    CreateOrganizationRequest, ErrorBody, Organization, Page, RenameOrganizationRequest,
};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use tracing::instrument;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_organizations, create_organization))
        .routes(routes!(
            get_organization,
            rename_organization,
            delete_organization
        ))
}

pub const PER_PAGE: i64 = 25;

pub(super) fn to_api(o: OrganizationRecord) -> Organization {
    Organization {
        id: o.id,
        name: o.name,
        slug: o.slug,
        member_count: o.member_count,
        created_at: rfc3339_millis(o.created_at),
        updated_at: rfc3339_millis(o.updated_at),
    }
}

fn not_found(e: StorageError) -> ApiError {
    match e {
        StorageError::NotFound => ApiError::NotFound("organization"),
        other => other.into(),
    }
}

/// Organizations by name, with search and paging (operators only).
#[utoipa::path(get, path = "/organizations", tag = "organizations", params(SearchQuery),
    responses((status = 200, body = Page<Organization>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
#[instrument(skip_all)]
async fn list_organizations(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<SearchQuery>,
) -> ApiResult<Json<Page<Organization>>> {
    signed_in.account.require_operator()?;
    let paged = state
        .storage
        .list_organizations(&query.q, PageRequest::new(query.page, PER_PAGE))
        .await?;
    Ok(Json(page(paged, to_api)))
}

/// Creates an organization (operators only).
#[utoipa::path(post, path = "/organizations", tag = "organizations",
    request_body = CreateOrganizationRequest,
    responses((status = 201, body = Organization), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn create_organization(
    State(state): State<AppState>,
    signed_in: SignedIn,
    ApiJson(request): ApiJson<CreateOrganizationRequest>,
) -> ApiResult<(StatusCode, Json<Organization>)> {
    signed_in.account.require_operator()?;
    let mut errors = FieldErrors::default();
    let name = errors.check("name", Name::parse(&request.name));
    let slug = errors.check("slug", Slug::parse(&request.slug));
    let (Some(name), Some(slug)) = (name, slug) else {
        return Err(ApiError::Validation(errors));
    };
    let org = state
        .storage
        .create_organization(&name.0, &slug.0, &signed_in.actor, state.now())
        .await?;
    Ok((StatusCode::CREATED, Json(to_api(org))))
}

/// One organization (operators, or its own admins).
#[utoipa::path(get, path = "/organizations/{id}", tag = "organizations",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 200, body = Organization), (status = 404, body = ErrorBody)))]
#[instrument(skip_all)]
async fn get_organization(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Json<Organization>> {
    signed_in.account.require_organization(&id)?;
    let org = state
        .storage
        .find_organization(&id)
        .await?
        .ok_or(ApiError::NotFound("organization"))?;
    Ok(Json(to_api(org)))
}

/// Renames an organization (operators only); the slug stays.
#[utoipa::path(patch, path = "/organizations/{id}", tag = "organizations",
    params(("id" = String, Path, description = "Organization id")),
    request_body = RenameOrganizationRequest,
    responses((status = 200, body = Organization), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn rename_organization(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<RenameOrganizationRequest>,
) -> ApiResult<Json<Organization>> {
    signed_in.account.require_organization(&id)?;
    signed_in.account.require_operator()?;
    let name = Name::parse(&request.name).map_err(|m| ApiError::field("name", m))?;
    state
        .storage
        .rename_organization(&id, &name.0, &signed_in.actor, state.now())
        .await
        .map_err(not_found)?;
    let org = state
        .storage
        .find_organization(&id)
        .await?
        .ok_or(ApiError::NotFound("organization"))?;
    Ok(Json(to_api(org)))
}

/// Deletes an organization with its members (operators only).
#[utoipa::path(delete, path = "/organizations/{id}", tag = "organizations",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
#[instrument(skip_all)]
async fn delete_organization(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    signed_in.account.require_organization(&id)?;
    signed_in.account.require_operator()?;
    state
        .storage
        .delete_organization(&id, &signed_in.actor, state.now())
        .await
        .map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}
