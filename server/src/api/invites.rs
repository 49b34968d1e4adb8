use super::ApiJson;
use crate::auth::web::SignedIn;
use crate::clock::rfc3339_millis;
use crate::crypto::tokens;
use crate::domain::{EmailAddress, FieldErrors};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::{NewInvite, StorageError};
use app::types::{CreateInviteRequest, ErrorBody, InviteCreated};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use tracing::instrument;
use utoipa_axum::{router::OpenApiRouter, routes};

/// How long an invite link works.
pub const INVITE_LIFETIME: time::Duration = time::Duration::days(7);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_invite))
}

/// Invites a person to become an admin of the organization (operators only). The link is in
/// this response only.
#[utoipa::path(post, path = "/organizations/{id}/invites", tag = "invites",
    params(("id" = String, Path, description = "Organization id")),
    request_body = CreateInviteRequest,
    responses((status = 201, body = InviteCreated), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn create_invite(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<CreateInviteRequest>,
) -> ApiResult<(StatusCode, Json<InviteCreated>)> {
    signed_in.account.require_organization(&id)?;
    signed_in.account.require_operator()?;
    let email = EmailAddress::parse(&request.email).map_err(|m| ApiError::field("email", m))?;
    // A member who signs in with the directory is not made an admin silently.
    let mapped_member = state
        .storage
        .find_member_by_email(&id, &email.normalized)
        .await?
        .filter(|m| m.directory_object_id.is_some() && m.role != "admin");
    if let (Some(member), false) = (&mapped_member, request.confirm_promotion) {
        return Err(ApiError::Conflict(FieldErrors::single(
            "email",
            format!(
                "{} is a member who signs in with the directory. Accepting this invite makes them an admin with a password. Confirm to invite them anyway.",
                member.display_name
            ),
        )));
    }
    let detail = if mapped_member.is_some() {
        "confirmed: makes a member mapped to a directory user an admin"
    } else {
        ""
    };
    let (token, hash) = tokens::generate();
    let now = state.now();
    let expires_at = now + INVITE_LIFETIME;
    state
        .storage
        .create_invite(
            &NewInvite {
                organization_id: &id,
                email: (&email.display, &email.normalized),
                token_hash: &hash,
                expires_at,
                detail,
            },
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
        Json(InviteCreated {
            invite_url: format!("{}/invite/{token}", state.config.public_url),
            email: email.display,
            expires_at: rfc3339_millis(crate::clock::to_millis(expires_at)),
        }),
    ))
}
