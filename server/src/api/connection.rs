use super::ApiJson;
use crate::auth::web::SignedIn;
use crate::clock::rfc3339_millis;
use crate::connections::{self, Connection, ConnectionConfig};
use crate::domain::parse_date;
use crate::error::{ApiError, ApiResult};
use crate::sign_in::web::attempt_cookie;
use crate::state::AppState;
use crate::storage::OrganizationRecord;
use app::types::{
    CertificateHint, ConnectionConfigView, ConnectionStatus, ConnectionView, DomainProofState,
    EmailDomainProof, EmailDomainView, ErrorBody, ExpiringCredential, PolicyView,
    SamlCertificateView, SamlServiceProviderView, SamlView, SaveCredentialsRequest,
    SavePolicyRequest, SaveSamlRequest, SecretHint, TestSignInStart, VerificationView,
    VersionRequest,
};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::BTreeMap;
use tracing::instrument;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_connection))
        .routes(routes!(list_expiring_credentials))
        .routes(routes!(save_credentials))
        .routes(routes!(save_saml))
        .routes(routes!(generate_certificate))
        .routes(routes!(download_certificate))
        .routes(routes!(verify_connection))
        .routes(routes!(save_policy))
        .routes(routes!(activate_connection))
        .routes(routes!(disable_connection))
        .routes(routes!(start_test_sign_in))
}

/// The organization `id`, when the signed-in account may manage it.
pub(super) async fn organization(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
) -> ApiResult<OrganizationRecord> {
    signed_in.account.require_organization(id)?;
    state
        .storage
        .find_organization(id)
        .await?
        .ok_or(ApiError::NotFound("organization"))
}

fn config_view(
    organization_id: &str,
    config: &ConnectionConfig,
    today: time::Date,
    proofs: &[EmailDomainProof],
) -> ConnectionConfigView {
    let proven = |domain: &str| {
        proofs.iter().any(|p| {
            p.domain == domain
                && matches!(
                    p.state,
                    DomainProofState::Proven | DomainProofState::Missing
                )
        })
    };
    let days_left = |date: &str| {
        parse_date(date)
            .map(|d| (d - today).whole_days())
            .unwrap_or(0)
    };
    ConnectionConfigView {
        protocol: config.protocol,
        saml: config.saml.as_ref().map(|idp| SamlView {
            entity_id: idp.entity_id.clone(),
            login_url: idp.login_url.clone(),
            metadata_url: idp.metadata_url.clone(),
            certificates: idp
                .certificates
                .iter()
                .map(|c| SamlCertificateView {
                    thumbprint: c.thumbprint.clone(),
                    expires_on: c.expires_on.clone(),
                    days_left: days_left(&c.expires_on),
                })
                .collect(),
            allow_idp_initiated: config.allow_idp_initiated,
        }),
        cloud: config.cloud,
        authority_host: config.authority_host.clone(),
        tenant_id: config.tenant_id.clone(),
        client_id: config.client_id.clone(),
        secret: config.secret.as_ref().map(|s| SecretHint {
            last4: s.last4.clone(),
            expires_on: s.expires_on.clone(),
            days_left: days_left(&s.expires_on),
        }),
        certificate: config.certificate.as_ref().map(|c| CertificateHint {
            thumbprint: c.thumbprint.clone(),
            expires_on: c.expires_on.clone(),
            days_left: days_left(&c.expires_on),
            download_url: format!(
                "/api/v1/organizations/{organization_id}/connection/draft/certificate.cer"
            ),
        }),
        credential: config.credential_kind().unwrap_or_default(),
        policy: PolicyView {
            mode: config.policy.mode,
            allow_admins: config.policy.allow_admins,
            create_members: config.policy.create_members,
            new_member_role: config.policy.new_member_role,
            email_domains: config
                .policy
                .email_domains
                .iter()
                .map(|d| EmailDomainView {
                    domain: d.domain.clone(),
                    verified: proven(&d.domain),
                })
                .collect(),
        },
        verification: config.verification.as_ref().map(|v| VerificationView {
            checked_at: rfc3339_millis(v.checked_at),
            passed: v.passed,
            checks: v.checks.clone(),
        }),
    }
}

/// The connection as the API shows it: secrets only as hints, days left counted from `today`.
pub(super) fn connection_view(
    org: &OrganizationRecord,
    connection: Connection,
    today: time::Date,
    domains: Vec<EmailDomainProof>,
) -> ConnectionView {
    let Connection {
        record,
        draft,
        active,
        urls,
        saml_urls,
        test_sign_in,
        warnings,
    } = connection;
    let status = match record.as_ref().map(|r| r.status.as_str()) {
        None => ConnectionStatus::None,
        Some("active") => ConnectionStatus::Active,
        Some("disabled") => ConnectionStatus::Disabled,
        Some(_) => ConnectionStatus::Draft,
    };
    let expiring = match (&status, &active) {
        (ConnectionStatus::Active, Some(config)) => connections::expiry::expiring(config, today)
            .into_iter()
            .map(|credential| {
                expiring_view(
                    connections::expiry::ExpiringCredential {
                        organization_id: org.id.clone(),
                        organization_name: org.name.clone(),
                        credential,
                    },
                    today,
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    ConnectionView {
        status,
        redirect_uri: urls.redirect_uri,
        home_page_url: urls.home_page_url,
        logout_url: urls.logout_url,
        saml: SamlServiceProviderView {
            identifier: saml_urls.identifier,
            reply_url: saml_urls.reply_url,
            sign_on_url: saml_urls.sign_on_url,
            logout_url: saml_urls.logout_url,
            metadata_url: saml_urls.metadata_url,
        },
        draft_version: record.as_ref().map(|r| r.draft_version).unwrap_or(0),
        draft: record
            .as_ref()
            .map(|_| config_view(&org.id, &draft, today, &domains)),
        active: active
            .as_ref()
            .map(|a| config_view(&org.id, a, today, &domains)),
        activated_at: record
            .as_ref()
            .and_then(|r| r.activated_at)
            .map(rfc3339_millis),
        test_sign_in,
        last_sign_in_at: record
            .as_ref()
            .and_then(|r| r.last_sign_in_at)
            .map(rfc3339_millis),
        last_error: record.as_ref().and_then(|r| r.last_error.clone()),
        last_error_at: record
            .as_ref()
            .and_then(|r| r.last_error_at)
            .map(rfc3339_millis),
        warnings,
        domains,
        expiring,
        automatic_clouds: Vec::new(),
        automatic_running: false,
    }
}

/// A credential near its expiry, as the overview and the console show it.
pub(super) fn expiring_view(
    expiring: connections::expiry::ExpiringCredential,
    today: time::Date,
) -> ExpiringCredential {
    ExpiringCredential {
        credential: expiring.credential.describe(),
        expires_on: expiring.credential.expires_on.to_string(),
        days_left: expiring.credential.days_left(today),
        organization_id: expiring.organization_id,
        organization_name: expiring.organization_name,
    }
}

/// The credentials of every active connection that expire within 30 days or have expired,
/// soonest first (operators only).
#[utoipa::path(get, path = "/expiring-credentials", tag = "connection",
    responses((status = 200, body = Vec<ExpiringCredential>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
#[instrument(skip_all)]
async fn list_expiring_credentials(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> ApiResult<Json<Vec<ExpiringCredential>>> {
    signed_in.account.require_operator()?;
    let today = state.now().date();
    let expiring =
        connections::expiry::expiring_credentials(&state.connection_services(), None).await?;
    Ok(Json(
        expiring
            .into_iter()
            .map(|e| expiring_view(e, today))
            .collect(),
    ))
}

/// The view of `org`'s connection, with the proofs of the domains its draft or active
/// configuration lists.
async fn view(
    state: &AppState,
    org: &OrganizationRecord,
    connection: Connection,
) -> ApiResult<Json<ConnectionView>> {
    let mut listed: Vec<String> = Vec::new();
    for config in std::iter::once(&connection.draft).chain(connection.active.as_ref()) {
        for d in &config.policy.email_domains {
            if !listed.contains(&d.domain) {
                listed.push(d.domain.clone());
            }
        }
    }
    let domains = crate::domains::proofs(state.domain_services(), &org.id, &listed)
        .await?
        .into_iter()
        .map(super::email_domains::proof_view)
        .collect();
    let mut view = connection_view(org, connection, state.now().date(), domains);
    view.automatic_clouds = state
        .config
        .setup_clients
        .clouds(!state.config.allowed_authorities.is_empty());
    if !view.automatic_clouds.is_empty() {
        view.automatic_running =
            connections::automatic::running(&state.connection_services(), org).await?;
    }
    Ok(Json(view))
}

/// The organization's SSO connection: the values to register in Entra, the draft and the
/// active configuration (secrets only as hints).
#[utoipa::path(get, path = "/organizations/{id}/connection", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 200, body = ConnectionView), (status = 404, body = ErrorBody)))]
#[instrument(skip_all)]
async fn get_connection(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectionView>> {
    let org = organization(&state, &signed_in, &id).await?;
    let services = state.connection_services();
    view(
        &state,
        &org,
        connections::read(&services, &org, BTreeMap::new()).await?,
    )
    .await
}

/// Saves the directory, client ID, client secret (write-only) and its expiry in the draft.
#[utoipa::path(put, path = "/organizations/{id}/connection/draft/credentials", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    request_body = SaveCredentialsRequest,
    responses((status = 200, body = ConnectionView), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn save_credentials(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<SaveCredentialsRequest>,
) -> ApiResult<Json<ConnectionView>> {
    let org = organization(&state, &signed_in, &id).await?;
    let services = state.connection_services();
    view(
        &state,
        &org,
        connections::save_credentials(&services, &org, &request, &signed_in.actor).await?,
    )
    .await
}

/// Saves the directory's SAML side in the draft: its Federation Metadata XML, the App
/// Federation Metadata URL, or the Login URL, Microsoft Entra Identifier and Certificate
/// (Base64) pasted by hand. The connection becomes a SAML connection.
#[utoipa::path(put, path = "/organizations/{id}/connection/draft/saml", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    request_body = SaveSamlRequest,
    responses((status = 200, body = ConnectionView), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn save_saml(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<SaveSamlRequest>,
) -> ApiResult<Json<ConnectionView>> {
    let org = organization(&state, &signed_in, &id).await?;
    let services = state.connection_services();
    view(
        &state,
        &org,
        connections::saml::save(&services, &org, &request, &signed_in.actor).await?,
    )
    .await
}

/// Checks the draft live: the directory, the app and its secret, the secret's expiry.
#[utoipa::path(post, path = "/organizations/{id}/connection/draft/verify", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    request_body = VersionRequest,
    responses((status = 200, body = ConnectionView), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn verify_connection(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<VersionRequest>,
) -> ApiResult<Json<ConnectionView>> {
    let org = organization(&state, &signed_in, &id).await?;
    let services = state.connection_services();
    view(
        &state,
        &org,
        connections::verify_draft(&services, &org, &request, &signed_in.actor).await?,
    )
    .await
}

/// Saves who may sign in with SSO in the draft.
#[utoipa::path(put, path = "/organizations/{id}/connection/draft/policy", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    request_body = SavePolicyRequest,
    responses((status = 200, body = ConnectionView), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn save_policy(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<SavePolicyRequest>,
) -> ApiResult<Json<ConnectionView>> {
    let org = organization(&state, &signed_in, &id).await?;
    let services = state.connection_services();
    view(
        &state,
        &org,
        connections::save_policy(&services, &org, &request, &signed_in.actor).await?,
    )
    .await
}

/// Generates a certificate for the app registration (RSA 2048, valid two years); its private
/// key stays in Gatehouse, sealed. Download it, upload it to the app in Entra, then save the
/// credentials with `credential: certificate`.
#[utoipa::path(post, path = "/organizations/{id}/connection/draft/certificate", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    request_body = VersionRequest,
    responses((status = 200, body = ConnectionView), (status = 409, body = ErrorBody)))]
#[instrument(skip_all)]
async fn generate_certificate(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<VersionRequest>,
) -> ApiResult<Json<ConnectionView>> {
    let org = organization(&state, &signed_in, &id).await?;
    let services = state.connection_services();
    view(
        &state,
        &org,
        connections::generate_certificate(&services, &org, &request, &signed_in.actor).await?,
    )
    .await
}

/// The draft's certificate as a `.cer` file (DER), to upload under "Certificates & secrets".
#[utoipa::path(get, path = "/organizations/{id}/connection/draft/certificate.cer", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 200, content_type = "application/pkix-cert", body = Vec<u8>),
        (status = 404, body = ErrorBody)))]
#[instrument(skip_all)]
async fn download_certificate(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let org = organization(&state, &signed_in, &id).await?;
    let der = connections::draft_certificate(&state.connection_services(), &org)
        .await?
        .ok_or(ApiError::NotFound("certificate"))?;
    let disposition = format!("attachment; filename=\"gatehouse-{}.cer\"", org.slug);
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/pkix-cert".to_string(),
            ),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        der,
    )
        .into_response())
}

/// Makes the verified draft the active configuration, atomically.
#[utoipa::path(post, path = "/organizations/{id}/connection/activate", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    request_body = VersionRequest,
    responses((status = 200, body = ConnectionView), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn activate_connection(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<VersionRequest>,
) -> ApiResult<Json<ConnectionView>> {
    let org = organization(&state, &signed_in, &id).await?;
    let services = state.connection_services();
    view(
        &state,
        &org,
        connections::activate(&services, &org, &request, &signed_in.actor).await?,
    )
    .await
}

/// Turns SSO off at once.
#[utoipa::path(post, path = "/organizations/{id}/connection/disable", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 200, body = ConnectionView), (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn disable_connection(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectionView>> {
    let org = organization(&state, &signed_in, &id).await?;
    let services = state.connection_services();
    view(
        &state,
        &org,
        connections::disable(&services, &org, &signed_in.actor).await?,
    )
    .await
}

/// Starts a test sign-in with the draft's values: answers the directory address to open. The
/// result comes back to the wizard; no session is created for the identity that signs in.
#[utoipa::path(post, path = "/organizations/{id}/connection/test-sign-in", tag = "connection",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 200, body = TestSignInStart), (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn start_test_sign_in(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let org = organization(&state, &signed_in, &id).await?;
    let (authorize_url, attempt) =
        connections::test_sign_in::start(&state.sign_in_services(), &org).await?;
    let mut response = Json(TestSignInStart { authorize_url }).into_response();
    let https = state.config.is_https();
    attempt_cookie::hand_over(&attempt, &state.sealing_key, https, response.headers_mut())?;
    Ok(response)
}
