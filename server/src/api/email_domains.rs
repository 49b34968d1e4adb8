//! Proving an organization's email domains: a check of the domain's DNS TXT record (admins
//! and operators), or an operator's approval. The domains and their records are listed in the
//! connection's view (`ConnectionView::domains`).

use crate::auth::web::SignedIn;
use crate::clock::rfc3339_millis;
use crate::domains;
use crate::error::ApiResult;
use crate::state::AppState;
use app::types::{EmailDomainProof, ErrorBody};
use axum::extract::{Path, State};
use axum::Json;
use tracing::instrument;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check_domain))
        .routes(routes!(approve_domain))
}

/// A domain's proof as the console shows it: the record to add, and how and when it was proven.
pub(crate) fn proof_view(proof: domains::Proof) -> EmailDomainProof {
    let proven_by = proof.method().map(|method| match method {
        domains::ProofMethod::Operator(operator) => format!("an operator's approval ({operator})"),
        domains::ProofMethod::Directory => "the directory's own verified domains".to_string(),
        domains::ProofMethod::Dns => "its DNS record".to_string(),
    });
    let record = proof.record;
    EmailDomainProof {
        record_name: domains::record_name(&record.domain),
        record_value: record.challenge,
        domain: record.domain,
        state: proof.state,
        proven_by,
        proven_at: record.proven_at.map(rfc3339_millis),
        missing_since: record.missing_since.map(rfc3339_millis),
    }
}

/// The domain's proof as it stands now.
async fn proof_of(state: &AppState, org: &str, domain: &str) -> ApiResult<Json<EmailDomainProof>> {
    let proofs = domains::proofs(state.domain_services(), org, &[domain.to_string()]).await?;
    let proof = proofs
        .into_iter()
        .next()
        .ok_or(crate::error::ApiError::NotFound("email domain"))?;
    Ok(Json(proof_view(proof)))
}

/// Looks the domain's `_gatehouse-challenge` TXT record up now; the domain is proven when it
/// holds the value shown. 422 says what was found (no record, or no answer from the DNS).
#[utoipa::path(post, path = "/organizations/{id}/email-domains/{domain}/check",
    tag = "connection",
    params(("id" = String, Path, description = "Organization id"),
        ("domain" = String, Path, description = "A domain the organization lists")),
    responses((status = 200, body = EmailDomainProof), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn check_domain(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, domain)): Path<(String, String)>,
) -> ApiResult<Json<EmailDomainProof>> {
    signed_in.account.require_organization(&id)?;
    domains::check_dns(state.domain_services(), &id, &domain, &signed_in.actor).await?;
    proof_of(&state, &id, &domain).await
}

/// An operator proves the domain without a DNS record (audited, with who approved).
#[utoipa::path(post, path = "/organizations/{id}/email-domains/{domain}/approve",
    tag = "connection",
    params(("id" = String, Path, description = "Organization id"),
        ("domain" = String, Path, description = "A domain the organization lists")),
    responses((status = 200, body = EmailDomainProof), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[instrument(skip_all)]
async fn approve_domain(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, domain)): Path<(String, String)>,
) -> ApiResult<Json<EmailDomainProof>> {
    signed_in.account.require_operator()?;
    domains::approve(
        state.domain_services(),
        &id,
        &domain,
        signed_in.account.label(),
        &signed_in.actor,
    )
    .await?;
    proof_of(&state, &id, &domain).await
}
