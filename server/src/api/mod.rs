//! The JSON API under `/api/v1/`. Each concept module registers its handlers with
//! utoipa-axum's `routes!`, so the OpenAPI document served at `/api/v1/openapi.json` is built
//! from the same list as the router and cannot miss a route.

mod applications;
mod audit;
mod automatic_setup;
mod connection;
mod email_domains;
mod invites;
mod mapping;
mod members;
mod one_time_links;
mod organizations;
mod session;
mod setup_links;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequest;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse API", description = "Single sign-on setup and administration."),
    tags(
        (name = "session", description = "Signing in and out with a password"),
        (name = "first-run", description = "Creating the first operator"),
        (name = "organizations", description = "Organizations (operators)"),
        (name = "invites", description = "Admin invitations"),
        (name = "members", description = "Members of an organization"),
        (name = "mapping", description = "Mapping members to directory users: picker, suggestions, CSV"),
        (name = "audit", description = "The audit log"),
        (name = "setup-links", description = "Setup links that open the SSO wizard for one organization"),
        (name = "connection", description = "The SSO connection with the directory (setup wizard)"),
        (name = "applications", description = "The vendor's applications that sign people in through Gatehouse (OpenID Provider)"),
    )
)]
struct ApiDoc;

/// The API routes and the OpenAPI document describing exactly them (paths under `/api/v1`).
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(session::routes())
        .merge(one_time_links::routes())
        .merge(organizations::routes())
        .merge(invites::routes())
        .merge(members::routes())
        .merge(mapping::routes())
        .merge(audit::routes())
        .merge(connection::routes())
        .merge(automatic_setup::routes())
        .merge(email_domains::routes())
        .merge(setup_links::routes())
        .merge(applications::routes())
        .split_for_parts();
    doc.servers = Some(vec![utoipa::openapi::Server::new("/api/v1")]);
    let served = Arc::new(doc.clone());
    let router = router
        .route(
            "/openapi.json",
            get(move || async move { Json(served.as_ref().clone()) }),
        )
        .fallback(|| async { ApiError::NotFound("API route") });
    (router, doc)
}

/// A JSON request body whose parse errors become Gatehouse's validation errors.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `?page=` for paged lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page number.
    pub page: Option<i64>,
}

/// `?q=&page=` for searchable paged lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Text the name or email contains.
    #[serde(default)]
    pub q: String,
    /// 1-based page number.
    pub page: Option<i64>,
}

fn page<T, U>(paged: crate::storage::Paged<T>, f: impl FnMut(T) -> U) -> app::types::Page<U> {
    app::types::Page {
        items: paged.items.into_iter().map(f).collect(),
        total: paged.total,
        page: paged.page.page,
        per_page: paged.page.per_page,
    }
}
