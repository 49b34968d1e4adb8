use super::ApiJson;
use crate::auth::{Account, ClientAddr, SignedIn};
use crate::clock::rfc3339_millis;
use crate::crypto::tokens;
use crate::domain::{EmailAddress, FieldErrors};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::StorageError;
use app::types::{
    AcceptInviteRequest, CreateInviteRequest, ErrorBody, InviteCreated, InviteInfo, Me,
};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use tower_sessions::Session;
use tracing::instrument;
use utoipa_axum::{router::OpenApiRouter, routes};

/// How long an invite link works.
pub const INVITE_LIFETIME: time::Duration = time::Duration::days(7);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_invite))
        .routes(routes!(get_invite))
        .routes(routes!(accept_invite))
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
    let (token, hash) = tokens::generate();
    let now = state.now();
    let expires_at = now + INVITE_LIFETIME;
    state
        .storage
        .create_invite(
            &id,
            (&email.display, &email.normalized),
            &hash,
            expires_at,
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

/// What an invite is for, while it is valid.
#[utoipa::path(get, path = "/invites/{token}", tag = "invites",
    params(("token" = String, Path, description = "The token from the invite link")),
    responses((status = 200, body = InviteInfo), (status = 410, body = ErrorBody)))]
#[instrument(skip_all)]
async fn get_invite(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Json<InviteInfo>> {
    let invite = state
        .storage
        .find_invite(&tokens::hash(&token), state.now())
        .await?
        .ok_or(ApiError::LinkInvalid)?;
    Ok(Json(InviteInfo {
        organization_name: invite.organization_name,
        email: invite.email,
        expires_at: rfc3339_millis(invite.expires_at),
    }))
}

/// Accepts an invite: sets the admin's name and password and signs them in. Single use.
#[utoipa::path(post, path = "/invites/{token}/accept", tag = "invites",
    params(("token" = String, Path, description = "The token from the invite link")),
    request_body = AcceptInviteRequest,
    responses((status = 200, body = Me), (status = 410, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn accept_invite(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    session: Session,
    Path(token): Path<String>,
    ApiJson(request): ApiJson<AcceptInviteRequest>,
) -> ApiResult<Json<Me>> {
    let (name, password_hash) =
        super::new_account(&request.name, &request.password, FieldErrors::default()).await?;
    let member = state
        .storage
        .accept_invite(
            &tokens::hash(&token),
            &name.0,
            &password_hash,
            &client_addr,
            state.now(),
        )
        .await
        .map_err(super::link_gone)?;
    super::signed_in_as(&state, &session, Account::Admin(member)).await
}
