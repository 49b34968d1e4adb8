//! Mapping members to directory users: the directory picker, members added from the
//! directory, suggestions, the health of the mapping, and CSV import and export.

use super::{members::member_view, ApiJson};
use crate::auth::web::SignedIn;
use crate::clock::{rfc3339_millis, to_millis};
use crate::error::ApiResult;
use crate::members::{import_jobs, mapping};
use crate::state::AppState;
use app::types::*;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use tracing::instrument;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_directory))
        .routes(routes!(map_to_directory_user))
        .routes(routes!(add_from_directory))
        .routes(routes!(suggestions))
        .routes(routes!(confirm_suggestions))
        .routes(routes!(mapping_health))
        .routes(routes!(start_import).layer(DefaultBodyLimit::max(IMPORT_MAX_BYTES)))
        .routes(routes!(import_status))
        .routes(routes!(apply_import))
        .routes(routes!(export_members))
}

/// Who imports: an admin cannot take away their own admin role.
fn importer(signed_in: &SignedIn) -> import_jobs::Importer<'_> {
    import_jobs::Importer {
        actor: &signed_in.actor,
        member_id: match &signed_in.account {
            crate::auth::Account::Admin(m) => Some(&m.id),
            _ => None,
        },
    }
}

/// `?q=` for the directory picker.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DirectoryQuery {
    /// The start of a name, UPN or mail.
    #[serde(default)]
    pub q: String,
}

/// Directory users whose name, UPN or mail starts with `q` (Microsoft Graph, `User.Read.All`).
/// When the directory cannot be read, `access` says why and `message` what to grant.
#[utoipa::path(get, path = "/organizations/{id}/directory/users", tag = "mapping",
    params(("id" = String, Path, description = "Organization id"), DirectoryQuery),
    responses((status = 200, body = DirectorySearch), (status = 404, body = ErrorBody)))]
#[instrument(skip_all)]
async fn search_directory(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<DirectoryQuery>,
) -> ApiResult<Json<DirectorySearch>> {
    signed_in.account.require_organization(&id)?;
    let found = mapping::search(state.directory_services(), &id, &query.q).await?;
    Ok(Json(match found {
        Ok(users) => DirectorySearch {
            access: DirectoryAccess::Readable,
            message: None,
            users: users.into_iter().map(directory_user_view).collect(),
        },
        Err(unreadable) => DirectorySearch {
            access: unreadable.access,
            message: Some(unreadable.message),
            users: Vec::new(),
        },
    }))
}

fn directory_user_view(found: mapping::FoundUser) -> DirectoryUserView {
    let mapping::FoundUser { user, mapped_to } = found;
    DirectoryUserView {
        display_name: user.name().to_string(),
        id: user.id,
        user_principal_name: user.user_principal_name,
        mail: user.mail,
        mapped_to: mapped_to.map(|h| MemberRef {
            id: h.id,
            display_name: h.display_name,
        }),
    }
}

/// Maps the member to a directory user picked in the console (read from the directory).
#[utoipa::path(post, path = "/organizations/{id}/members/{member_id}/directory-user",
    tag = "mapping",
    params(("id" = String, Path, description = "Organization id"),
        ("member_id" = String, Path, description = "Member id")),
    request_body = MapToDirectoryUserRequest,
    responses((status = 200, body = Member), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn map_to_directory_user(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, member_id)): Path<(String, String)>,
    ApiJson(request): ApiJson<MapToDirectoryUserRequest>,
) -> ApiResult<Json<Member>> {
    signed_in.account.require_organization(&id)?;
    let member = mapping::map_member(
        state.directory_services(),
        &signed_in.actor,
        &id,
        &member_id,
        &request.object_id,
    )
    .await?;
    Ok(Json(member_view(member)))
}

/// Creates members from picked directory users, each mapped to its user.
#[utoipa::path(post, path = "/organizations/{id}/members/from-directory", tag = "mapping",
    params(("id" = String, Path, description = "Organization id")),
    request_body = AddFromDirectoryRequest,
    responses((status = 200, body = AddFromDirectoryResult), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn add_from_directory(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<AddFromDirectoryRequest>,
) -> ApiResult<Json<AddFromDirectoryResult>> {
    signed_in.account.require_organization(&id)?;
    let done = mapping::add_from_directory(
        state.directory_services(),
        &signed_in.actor,
        &id,
        &request.object_ids,
    )
    .await?;
    Ok(Json(AddFromDirectoryResult {
        added: done.added.into_iter().map(member_view).collect(),
        skipped: done
            .skipped
            .into_iter()
            .map(|s| SkippedUser {
                object_id: s.object_id,
                name: s.name,
                reason: s.reason,
            })
            .collect(),
    }))
}

/// Directory users whose UPN or mail equals an unmapped member's email, for the admin to
/// review. Reads the whole directory.
#[utoipa::path(get, path = "/organizations/{id}/mapping/suggestions", tag = "mapping",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 200, body = Suggestions), (status = 404, body = ErrorBody)))]
#[instrument(skip_all)]
async fn suggestions(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Json<Suggestions>> {
    signed_in.account.require_organization(&id)?;
    let found = mapping::suggestions(state.directory_services(), &id).await?;
    Ok(Json(match found {
        Ok(list) => Suggestions {
            access: DirectoryAccess::Readable,
            message: None,
            total: list.total as i64,
            suggestions: list
                .first
                .into_iter()
                .map(|s| Suggestion {
                    member_id: s.member_id,
                    member_name: s.member_name,
                    member_email: s.member_email,
                    directory_name: s.user.name().to_string(),
                    object_id: s.user.id,
                    user_principal_name: s.user.user_principal_name,
                    matched_on: s.matched_on.into(),
                })
                .collect(),
        },
        Err(unreadable) => Suggestions {
            access: unreadable.access,
            message: Some(unreadable.message),
            suggestions: Vec::new(),
            total: 0,
        },
    }))
}

/// Maps the suggestions the admin confirmed, in one transaction.
#[utoipa::path(post, path = "/organizations/{id}/mapping/suggestions/confirm", tag = "mapping",
    params(("id" = String, Path, description = "Organization id")),
    request_body = ConfirmSuggestionsRequest,
    responses((status = 200, body = ConfirmSuggestionsResult), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn confirm_suggestions(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ConfirmSuggestionsRequest>,
) -> ApiResult<Json<ConfirmSuggestionsResult>> {
    signed_in.account.require_organization(&id)?;
    let choices: Vec<mapping::Choice<'_>> = request
        .choices
        .iter()
        .map(|c| mapping::Choice {
            member_id: &c.member_id,
            object_id: &c.object_id,
        })
        .collect();
    let done =
        mapping::confirm(state.directory_services(), &signed_in.actor, &id, &choices).await?;
    Ok(Json(ConfirmSuggestionsResult {
        mapped: done.mapped,
        skipped: done.skipped,
    }))
}

/// Counts of mapped, unmapped and stale mappings.
#[utoipa::path(get, path = "/organizations/{id}/mapping/health", tag = "mapping",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 200, body = MappingHealth), (status = 404, body = ErrorBody)))]
#[instrument(skip_all)]
async fn mapping_health(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Json<MappingHealth>> {
    signed_in.account.require_organization(&id)?;
    let health = mapping::health(state.directory_services(), &id).await?;
    let (stale, access, message, checked_at) = match health.stale {
        Ok(stale) => (
            Some(stale.count),
            DirectoryAccess::Readable,
            None,
            Some(rfc3339_millis(to_millis(stale.read_at))),
        ),
        Err(unreadable) => (None, unreadable.access, Some(unreadable.message), None),
    };
    Ok(Json(MappingHealth {
        mapped: health.mapped,
        unmapped: health.unmapped,
        stale,
        access,
        message,
        checked_at,
    }))
}

/// Starts importing a members CSV file (columns: email, display name, role, object id, sso
/// enabled): it is checked in the background; poll the import for its preview.
#[utoipa::path(post, path = "/organizations/{id}/member-imports", tag = "mapping",
    params(("id" = String, Path, description = "Organization id")),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 202, body = MemberImport), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody)))]
#[instrument(skip_all)]
async fn start_import(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    file: Bytes,
) -> ApiResult<(StatusCode, Json<MemberImport>)> {
    signed_in.account.require_organization(&id)?;
    let importer = importer(&signed_in);
    let started = import_jobs::start(
        &state.storage,
        &state.member_imports,
        importer,
        &id,
        file.into(),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(import_view(started))))
}

/// An import's progress, preview or outcome.
#[utoipa::path(get, path = "/organizations/{id}/member-imports/{import_id}", tag = "mapping",
    params(("id" = String, Path, description = "Organization id"),
        ("import_id" = String, Path, description = "Import id")),
    responses((status = 200, body = MemberImport), (status = 404, body = ErrorBody)))]
#[instrument(skip_all)]
async fn import_status(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, import_id)): Path<(String, String)>,
) -> ApiResult<Json<MemberImport>> {
    signed_in.account.require_organization(&id)?;
    Ok(Json(import_view(import_jobs::progress(
        &state.member_imports,
        &id,
        &import_id,
    )?)))
}

/// Applies a previewed import without problems, in one transaction (all or nothing).
#[utoipa::path(post, path = "/organizations/{id}/member-imports/{import_id}/apply",
    tag = "mapping",
    params(("id" = String, Path, description = "Organization id"),
        ("import_id" = String, Path, description = "Import id")),
    request_body = ApplyImportRequest,
    responses((status = 202, body = MemberImport), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn apply_import(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, import_id)): Path<(String, String)>,
    ApiJson(request): ApiJson<ApplyImportRequest>,
) -> ApiResult<(StatusCode, Json<MemberImport>)> {
    signed_in.account.require_organization(&id)?;
    let applying = import_jobs::apply(
        &state.storage,
        &state.member_imports,
        importer(&signed_in),
        &id,
        &import_id,
        request.confirm_promotions,
        state.now(),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(import_view(applying))))
}

fn import_view(progress: import_jobs::ImportProgress) -> MemberImport {
    MemberImport {
        id: progress.id,
        stage: progress.stage,
        rows_total: progress.rows_total,
        rows_done: progress.rows_done,
        to_create: progress.to_create,
        to_update: progress.to_update,
        unchanged: progress.unchanged,
        problems: progress.first_problems,
        problem_count: progress.problem_count,
        message: progress.message,
        promotions: progress.promotions,
    }
}

/// Every member with their mapping, as CSV in the import's columns.
#[utoipa::path(get, path = "/organizations/{id}/members/export", tag = "mapping",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 404, body = ErrorBody)))]
#[instrument(skip_all)]
async fn export_members(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    signed_in.account.require_organization(&id)?;
    let org = state
        .storage
        .find_organization(&id)
        .await?
        .ok_or(crate::error::ApiError::NotFound("organization"))?;
    let members = state.storage.export_members(&id).await?;
    let csv = crate::members::import::to_csv(&members)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"members-{}.csv\"", org.slug),
            ),
        ],
        csv,
    ))
}
