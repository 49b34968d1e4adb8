use super::{page, PageQuery};
use crate::auth::web::SignedIn;
use crate::clock::rfc3339_millis;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::storage::{AuditRecord, PageRequest};
use app::types::{AuditEvent, ErrorBody, Page};
use axum::extract::{Path, Query, State};
use axum::Json;
use tracing::instrument;
use utoipa_axum::{router::OpenApiRouter, routes};

pub const PER_PAGE: i64 = 50;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

fn to_api(e: AuditRecord) -> AuditEvent {
    AuditEvent {
        id: e.id,
        organization_id: e.organization_id,
        actor: e.actor,
        action: e.action,
        target: e.target,
        outcome: e.outcome,
        client_addr: e.client_addr,
        detail: e.detail,
        created_at: rfc3339_millis(e.created_at),
    }
}

/// The organization's audit log, newest first.
#[utoipa::path(get, path = "/organizations/{id}/audit", tag = "audit",
    params(("id" = String, Path, description = "Organization id"), PageQuery),
    responses((status = 200, body = Page<AuditEvent>), (status = 404, body = ErrorBody)))]
#[instrument(skip_all)]
async fn list_audit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Page<AuditEvent>>> {
    signed_in.account.require_organization(&id)?;
    let paged = state
        .storage
        .list_audit(&id, PageRequest::new(query.page, PER_PAGE))
        .await?;
    Ok(Json(page(paged, to_api)))
}
