use super::ApiJson;
use crate::auth::{Account, ClientAddr};
use crate::clock::rfc3339_millis;
use crate::crypto::tokens;
use crate::domain::FieldErrors;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::Actor;
use app::types::{ErrorBody, FirstRunRequest, LinkStatus, Me};
use axum::extract::{Path, State};
use axum::Json;
use tower_sessions::Session;
use tracing::instrument;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(first_run_status))
        .routes(routes!(complete_first_run))
}

/// Whether a first-run link can still create the first operator.
#[utoipa::path(get, path = "/first-run/{token}", tag = "first-run",
    params(("token" = String, Path, description = "The token from the first-run link")),
    responses((status = 200, body = LinkStatus)))]
#[instrument(skip_all)]
async fn first_run_status(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Json<LinkStatus>> {
    let link = state
        .storage
        .find_first_run_link(&tokens::hash(&token), state.now())
        .await?;
    Ok(Json(LinkStatus {
        valid: link.is_some(),
        expires_at: link.map(|l| rfc3339_millis(l.expires_at)),
    }))
}

/// Creates the first operator with the first-run link and signs them in.
#[utoipa::path(post, path = "/first-run", tag = "first-run", request_body = FirstRunRequest,
    responses((status = 200, body = Me), (status = 410, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn complete_first_run(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    session: Session,
    ApiJson(request): ApiJson<FirstRunRequest>,
) -> ApiResult<Json<Me>> {
    let mut errors = FieldErrors::default();
    let email = super::checked_email(&mut errors, &request.email);
    let (name, password_hash) =
        super::new_account(&request.name, &request.password, errors).await?;
    let email = email.ok_or_else(|| ApiError::field("email", "Enter an email address."))?;
    let actor = Actor {
        label: format!("first-run:{}", email.normalized),
        client_addr,
    };
    let operator = state
        .storage
        .create_first_operator(
            &tokens::hash(&request.token),
            (&email.display, &email.normalized),
            &name.0,
            &password_hash,
            &actor,
            state.now(),
        )
        .await
        .map_err(super::link_gone)?;
    super::signed_in_as(&state, &session, Account::Operator(operator)).await
}
