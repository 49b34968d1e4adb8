//! The vendor's applications that sign people in through Gatehouse (operators only), their
//! client secrets, and the rotation of the keys that sign their ID tokens.

use super::ApiJson;
use crate::auth::web::SignedIn;
use crate::clock::rfc3339_millis;
use crate::crypto::tokens;
use crate::error::{ApiError, ApiResult};
use crate::provider::applications::{check_settings, CONFIDENTIAL, DEFAULT_REFRESH_HOURS};
use crate::state::AppState;
use crate::storage::{
    ApplicationRecord, ApplicationSecretRecord, ApplicationSettings, StorageError,
};
use app::types::{
    Application, ApplicationInput, ApplicationSecret, ApplicationSecretCreated, ApplicationUse,
    ErrorBody, OrganizationName, SigningKeyRotated,
};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use tracing::instrument;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_applications, create_application))
        .routes(routes!(get_application, update_application))
        .routes(routes!(create_secret))
        .routes(routes!(revoke_secret))
        .routes(routes!(rotate_signing_key))
        .routes(routes!(applications_used))
}

/// The application as the API shows it, with the names of the organizations it serves.
async fn view(
    state: &AppState,
    application: ApplicationRecord,
    secrets: Vec<ApplicationSecretRecord>,
) -> ApiResult<Application> {
    let organizations = match &application.organization_ids {
        None => None,
        Some(ids) => {
            let mut named = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(org) = state.storage.find_organization(id).await? {
                    named.push(OrganizationName {
                        id: org.id,
                        name: org.name,
                    });
                }
            }
            Some(named)
        }
    };
    Ok(Application {
        organizations,
        discovery_url: format!("{}{}", state.config.public_url, crate::provider::DISCOVERY),
        id: application.id,
        name: application.name,
        kind: application.kind,
        redirect_uris: application.redirect_uris,
        post_logout_redirect_uris: application.post_logout_redirect_uris,
        backchannel_logout_uri: application.backchannel_logout_uri,
        organization_ids: application.organization_ids,
        allow_password_sessions: application.allow_password_sessions,
        signing_alg: application.signing_alg,
        refresh_token_lifetime_hours: application.refresh_token_lifetime_seconds / 3600,
        secrets: secrets
            .into_iter()
            .map(|s| ApplicationSecret {
                id: s.id,
                hint: s.hint,
                created_at: rfc3339_millis(s.created_at),
                status: if s.revoked_at.is_some() {
                    "revoked"
                } else {
                    "valid"
                }
                .into(),
            })
            .collect(),
        created_at: rfc3339_millis(application.created_at),
        updated_at: rfc3339_millis(application.updated_at),
    })
}

/// The input checked: its fields' rules, and that the organizations it names exist.
async fn checked<'a>(
    state: &AppState,
    input: &'a ApplicationInput,
) -> ApiResult<ApplicationSettings<'a>> {
    let settings = ApplicationSettings {
        name: input.name.trim(),
        kind: &input.kind,
        redirect_uris: &input.redirect_uris,
        post_logout_redirect_uris: &input.post_logout_redirect_uris,
        backchannel_logout_uri: input
            .backchannel_logout_uri
            .as_deref()
            .filter(|u| !u.is_empty()),
        organization_ids: input.organization_ids.as_deref(),
        allow_password_sessions: input.allow_password_sessions,
        signing_alg: input
            .signing_alg
            .as_deref()
            .unwrap_or(crate::provider::keys::ES256),
        refresh_token_lifetime_seconds: input
            .refresh_token_lifetime_hours
            .unwrap_or(DEFAULT_REFRESH_HOURS)
            .saturating_mul(3600),
    };
    check_settings(&settings).map_err(ApiError::Validation)?;
    // An RS256 key is made (and published) before the application can see a token it signs.
    state
        .provider_services()
        .keys_for(settings.signing_alg)
        .await?;
    for id in settings.organization_ids.unwrap_or_default() {
        if state.storage.find_organization(id).await?.is_none() {
            return Err(ApiError::field(
                "organization_ids",
                format!("No organization has the id {id}."),
            ));
        }
    }
    Ok(settings)
}

async fn found(state: &AppState, id: &str) -> ApiResult<Application> {
    let application = state
        .storage
        .find_application(id)
        .await?
        .ok_or(ApiError::NotFound("application"))?;
    let secrets = state.storage.list_application_secrets(id).await?;
    view(state, application, secrets).await
}

/// Every application, by name (operators only).
#[utoipa::path(get, path = "/applications", tag = "applications",
    responses((status = 200, body = Vec<Application>), (status = 403, body = ErrorBody)))]
#[instrument(skip_all)]
async fn list_applications(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> ApiResult<Json<Vec<Application>>> {
    signed_in.account.require_operator()?;
    let mut views = Vec::new();
    for application in state.storage.list_applications().await? {
        let secrets = state
            .storage
            .list_application_secrets(&application.id)
            .await?;
        views.push(view(&state, application, secrets).await?);
    }
    Ok(Json(views))
}

/// Registers an application; its id is its client ID (operators only).
#[utoipa::path(post, path = "/applications", tag = "applications",
    request_body = ApplicationInput,
    responses((status = 201, body = Application), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn create_application(
    State(state): State<AppState>,
    signed_in: SignedIn,
    ApiJson(input): ApiJson<ApplicationInput>,
) -> ApiResult<(StatusCode, Json<Application>)> {
    signed_in.account.require_operator()?;
    let settings = checked(&state, &input).await?;
    let application = state
        .storage
        .create_application(&settings, &signed_in.actor, state.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&state, application, vec![]).await?),
    ))
}

/// One application with its secrets' hints (operators only).
#[utoipa::path(get, path = "/applications/{id}", tag = "applications",
    params(("id" = String, Path, description = "Application (client) id")),
    responses((status = 200, body = Application), (status = 404, body = ErrorBody)))]
#[instrument(skip_all)]
async fn get_application(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Json<Application>> {
    signed_in.account.require_operator()?;
    Ok(Json(found(&state, &id).await?))
}

/// Changes an application's settings (operators only).
#[utoipa::path(put, path = "/applications/{id}", tag = "applications",
    params(("id" = String, Path, description = "Application (client) id")),
    request_body = ApplicationInput,
    responses((status = 200, body = Application), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn update_application(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ApplicationInput>,
) -> ApiResult<Json<Application>> {
    signed_in.account.require_operator()?;
    let settings = checked(&state, &input).await?;
    state
        .storage
        .update_application(&id, &settings, &signed_in.actor, state.now())
        .await
        .map_err(|e| match e {
            StorageError::NotFound => ApiError::NotFound("application"),
            other => other.into(),
        })?;
    Ok(Json(found(&state, &id).await?))
}

/// Creates a client secret for a confidential application: shown in this answer only. The
/// others stay valid until revoked, so a secret is rotated without an outage.
#[utoipa::path(post, path = "/applications/{id}/secrets", tag = "applications",
    params(("id" = String, Path, description = "Application (client) id")),
    responses((status = 201, body = ApplicationSecretCreated), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn create_secret(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<ApplicationSecretCreated>)> {
    signed_in.account.require_operator()?;
    let application = state
        .storage
        .find_application(&id)
        .await?
        .ok_or(ApiError::NotFound("application"))?;
    if application.kind != CONFIDENTIAL {
        return Err(ApiError::field(
            "kind",
            "A public application has no secret: it proves itself with PKCE.",
        ));
    }
    let (secret, hash) = tokens::generate();
    let hint = secret[secret.len() - 4..].to_string();
    let record = state
        .storage
        .add_application_secret(&id, &hash, &hint, &signed_in.actor, state.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ApplicationSecretCreated {
            id: record.id,
            secret,
            hint,
        }),
    ))
}

/// Revokes a client secret at once (operators only).
#[utoipa::path(delete, path = "/applications/{id}/secrets/{secret_id}", tag = "applications",
    params(("id" = String, Path, description = "Application (client) id"),
        ("secret_id" = String, Path, description = "Secret id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
#[instrument(skip_all)]
async fn revoke_secret(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, secret_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    signed_in.account.require_operator()?;
    state
        .storage
        .revoke_application_secret(&id, &secret_id, &signed_in.actor, state.now())
        .await
        .map_err(|e| match e {
            StorageError::NotFound => ApiError::NotFound("valid secret"),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// Publishes the next ID token signing key of each algorithm in use; each signs an hour later,
/// and the current ones stay published until the tokens they signed have expired (operators
/// only).
#[utoipa::path(post, path = "/signing-keys/rotation", tag = "applications",
    responses((status = 201, body = SigningKeyRotated), (status = 403, body = ErrorBody)))]
#[instrument(skip_all)]
async fn rotate_signing_key(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> ApiResult<(StatusCode, Json<SigningKeyRotated>)> {
    signed_in.account.require_operator()?;
    let now = state.now();
    let kids = state
        .signing_keys
        .rotate(&state.storage, &state.sealing_key, now)
        .await?;
    state
        .storage
        .record_audit(
            &signed_in.actor,
            &crate::storage::AuditEntry::success(None, "signing_key.rotate", &kids.join(", ")),
            now,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SigningKeyRotated {
            kids,
            signs_from: rfc3339_millis(crate::clock::to_millis(
                now + crate::provider::keys::PUBLISH_AHEAD,
            )),
        }),
    ))
}

/// The applications the organization's people signed in to, the most recently used first
/// (operators, and the organization's admins).
#[utoipa::path(get, path = "/organizations/{id}/applications", tag = "applications",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 200, body = Vec<ApplicationUse>), (status = 404, body = ErrorBody)))]
#[instrument(skip_all)]
async fn applications_used(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ApplicationUse>>> {
    signed_in.account.require_organization(&id)?;
    let used = state.storage.applications_used_by(&id).await?;
    Ok(Json(
        used.into_iter()
            .map(|u| ApplicationUse {
                application_id: u.application_id,
                name: u.name,
                last_used_at: rfc3339_millis(u.last_used_at),
                people: u.people,
            })
            .collect(),
    ))
}
