use super::{page, ApiJson};
use crate::auth::web::SignedIn;
use crate::clock::rfc3339_millis;
use crate::connections;
use crate::domain::{EmailAddress, FieldErrors, Guid, Name};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::{
    self, DirectoryIdentity, MemberListQuery, MemberRecord, MemberUpdate, NewMember, PageRequest,
    StorageError,
};
use app::types::{
    CreateMemberRequest, ErrorBody, Member, MemberFilter, MemberRole, MemberSort, MemberStatus,
    Page, UpdateMemberRequest,
};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use tracing::instrument;
use utoipa_axum::{router::OpenApiRouter, routes};

pub const PER_PAGE: i64 = 50;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members, create_member))
        .routes(routes!(update_member))
}

/// A member as the API shows it.
pub(crate) fn member_view(m: MemberRecord) -> Member {
    Member {
        role: if m.role == "admin" {
            MemberRole::Admin
        } else {
            MemberRole::Member
        },
        status: if m.status == "disabled" {
            MemberStatus::Disabled
        } else {
            MemberStatus::Active
        },
        id: m.id,
        organization_id: m.organization_id,
        email: m.email,
        display_name: m.display_name,
        directory_tenant_id: m.directory_tenant_id,
        directory_object_id: m.directory_object_id,
        directory_user_principal_name: m.directory_upn,
        sso_enabled: m.sso_enabled != 0,
        last_sso_sign_in_at: m.last_sso_sign_in_at.map(rfc3339_millis),
        created_at: rfc3339_millis(m.created_at),
        updated_at: rfc3339_millis(m.updated_at),
    }
}

/// `?q=&filter=&sort=&page=` for the members list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberQuery {
    /// Text the name, email, UPN or Object ID contains.
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    #[param(inline)]
    pub filter: MemberFilter,
    #[serde(default)]
    #[param(inline)]
    pub sort: MemberSort,
    /// 1-based page number.
    pub page: Option<i64>,
}

/// Members with search, a filter, an order and paging (50 a page).
#[utoipa::path(get, path = "/organizations/{id}/members", tag = "members",
    params(("id" = String, Path, description = "Organization id"), MemberQuery),
    responses((status = 200, body = Page<Member>), (status = 404, body = ErrorBody)))]
#[instrument(skip_all)]
async fn list_members(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<MemberQuery>,
) -> ApiResult<Json<Page<Member>>> {
    signed_in.account.require_organization(&id)?;
    let list = MemberListQuery {
        search: &query.q,
        filter: listed_members(query.filter),
        sort: list_order(query.sort),
        signed_in_since: crate::clock::to_millis(state.now() - time::Duration::days(30)),
    };
    let paged = state
        .storage
        .list_members(&id, &list, PageRequest::new(query.page, PER_PAGE))
        .await?;
    Ok(Json(page(paged, member_view)))
}

fn listed_members(filter: MemberFilter) -> storage::MemberFilter {
    match filter {
        MemberFilter::All => storage::MemberFilter::All,
        MemberFilter::Mapped => storage::MemberFilter::Mapped,
        MemberFilter::Unmapped => storage::MemberFilter::Unmapped,
        MemberFilter::SsoEnabled => storage::MemberFilter::SsoEnabled,
        MemberFilter::RecentSso => storage::MemberFilter::RecentSso,
    }
}

fn list_order(sort: MemberSort) -> storage::MemberSort {
    match sort {
        MemberSort::Name => storage::MemberSort::Name,
        MemberSort::Email => storage::MemberSort::Email,
        MemberSort::LastSignIn => storage::MemberSort::LastSignIn,
    }
}

/// Adds a member to the organization.
#[utoipa::path(post, path = "/organizations/{id}/members", tag = "members",
    params(("id" = String, Path, description = "Organization id")),
    request_body = CreateMemberRequest,
    responses((status = 201, body = Member), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn create_member(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<CreateMemberRequest>,
) -> ApiResult<(StatusCode, Json<Member>)> {
    signed_in.account.require_organization(&id)?;
    let mut errors = FieldErrors::default();
    let email = errors.check("email", EmailAddress::parse(&request.email));
    let name = errors.check("display_name", Name::parse(&request.display_name));
    let (Some(email), Some(name)) = (email, name) else {
        return Err(ApiError::Validation(errors));
    };
    let member = NewMember {
        email: Some((&email.display, &email.normalized)),
        display_name: &name.0,
        role: request.role.as_str(),
    };
    let created = state
        .storage
        .create_member(&id, &member, &signed_in.actor, state.now())
        .await
        .map_err(|e| match e {
            StorageError::NotFound => ApiError::NotFound("organization"),
            StorageError::Conflict(_) => ApiError::Conflict(FieldErrors::single(
                "email",
                "A member with this email already exists in this organization.",
            )),
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(member_view(created))))
}

/// Changes a member's name, role, status, SSO selection or directory mapping (disabling
/// blocks every sign-in of theirs; an Object ID held by another member is refused with that
/// member's name).
#[utoipa::path(patch, path = "/organizations/{id}/members/{member_id}", tag = "members",
    params(("id" = String, Path, description = "Organization id"),
        ("member_id" = String, Path, description = "Member id")),
    request_body = UpdateMemberRequest,
    responses((status = 200, body = Member), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn update_member(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, member_id)): Path<(String, String)>,
    ApiJson(request): ApiJson<UpdateMemberRequest>,
) -> ApiResult<Json<Member>> {
    signed_in.account.require_organization(&id)?;
    let name = match &request.display_name {
        Some(n) => Some(Name::parse(n).map_err(|m| ApiError::field("display_name", m))?),
        None => None,
    };
    let email = match &request.email {
        Some(e) => Some(EmailAddress::parse(e).map_err(|m| ApiError::field("email", m))?),
        None => None,
    };
    if let crate::auth::Account::Admin(me) = &signed_in.account {
        let demotes_self = me.id == member_id
            && (request.role == Some(MemberRole::Member)
                || request.status == Some(MemberStatus::Disabled));
        if demotes_self {
            return Err(ApiError::field(
                "role",
                "You cannot remove your own admin access. Ask another admin or an operator.",
            ));
        }
    }
    let object_id = match request.directory_object_id.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(text) => Some(Some(Guid::parse(text).map_err(|e| {
            ApiError::field(
                "directory_object_id",
                format!("The Object ID is a GUID from the user's page in Entra. {e}"),
            )
        })?)),
    };
    let tenant_id = match &object_id {
        Some(Some(_)) => Some(connections::directory_tenant_id(&state.storage, &id).await?.ok_or_else(
            || {
                ApiError::field(
                    "directory_object_id",
                    "Connect the organization's directory first: an Object ID belongs to one directory.",
                )
            },
        )?),
        _ => None,
    };
    let update = MemberUpdate {
        email: email
            .as_ref()
            .map(|e| (e.display.as_str(), e.normalized.as_str())),
        display_name: name.as_ref().map(|n| n.0.as_str()),
        role: request.role.map(MemberRole::as_str),
        status: request.status.map(MemberStatus::as_str),
        sso_enabled: request.sso_enabled,
        directory_identity: object_id.as_ref().map(|o| {
            o.as_ref().map(|guid| {
                DirectoryIdentity::new(tenant_id.as_deref().unwrap_or_default(), &guid.0)
            })
        }),
    };
    let updated = state
        .storage
        .update_member(&id, &member_id, &update, &signed_in.actor, state.now())
        .await
        .map_err(|e| match e {
            StorageError::NotFound => ApiError::NotFound("member"),
            other => other.into(),
        })?;
    if updated.status == "disabled" {
        // Signed out of the vendor's applications too (back-channel logout).
        crate::provider::logout::member_ended(&state.provider_services(), &id, &member_id).await?;
    }
    Ok(Json(member_view(updated)))
}
