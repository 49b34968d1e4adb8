//! The typed client of the JSON API that the pages use. In the browser it calls the API with
//! gloo-net. During server rendering the same calls go to Gatehouse's own API in-process
//! (`ServerApi`, which the server provides), with the cookies and client address of the request
//! being rendered: the same routes, guards and views, so a page's first HTML holds its data.

use crate::types::*;
use serde::{de::DeserializeOwned, Serialize};

/// An API call that did not succeed, with the server's error body when there was one.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct ApiFailure {
    pub status: u16,
    pub detail: ErrorDetail,
}

impl ApiFailure {
    pub fn is_unauthorized(&self) -> bool {
        self.status == 401
    }

    /// The message for one form field, if the server named it.
    pub fn field(&self, name: &str) -> Option<String> {
        self.detail.fields.get(name).cloned()
    }

    /// A problem found in the browser before anything was sent, named for one field.
    pub fn local(field: &str, message: String) -> Self {
        ApiFailure {
            status: 0,
            detail: ErrorDetail {
                code: "invalid".into(),
                message: message.clone(),
                fields: [(field.to_string(), message)].into_iter().collect(),
            },
        }
    }

    fn network(message: String) -> Self {
        ApiFailure {
            status: 0,
            detail: ErrorDetail {
                code: "network".into(),
                message: format!("Gatehouse could not be reached: {message}"),
                fields: Default::default(),
            },
        }
    }
}

pub type ApiResult<T> = Result<T, ApiFailure>;

#[cfg(any(feature = "hydrate", feature = "ssr"))]
const BASE: &str = "/api/v1";

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

/// What a request carries.
#[cfg_attr(not(any(feature = "hydrate", feature = "ssr")), allow(dead_code))]
enum Payload<'a, B> {
    Json(Option<&'a B>),
    /// A CSV file's text.
    Csv(String),
}

async fn call<B: Serialize, T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: Option<&B>,
) -> ApiResult<T> {
    send(method, path, Payload::Json(body)).await
}

/// In the browser there is one thread: the request's future is marked `Send` so that pages can
/// load it into resources that the server renders too.
#[cfg(feature = "hydrate")]
fn send<'a, B: Serialize, T: DeserializeOwned + 'a>(
    method: Method,
    path: &'a str,
    payload: Payload<'a, B>,
) -> send_wrapper::SendWrapper<impl std::future::Future<Output = ApiResult<T>> + 'a> {
    send_wrapper::SendWrapper::new(send_from_browser(method, path, payload))
}

#[cfg(feature = "hydrate")]
async fn send_from_browser<B: Serialize, T: DeserializeOwned>(
    method: Method,
    path: &str,
    payload: Payload<'_, B>,
) -> ApiResult<T> {
    use gloo_net::http::Request;
    let url = format!("{BASE}{path}");
    let builder = match method {
        Method::Get => Request::get(&url),
        Method::Post => Request::post(&url),
        Method::Put => Request::put(&url),
        Method::Patch => Request::patch(&url),
        Method::Delete => Request::delete(&url),
    }
    .header("Accept", "application/json");
    let sent = match payload {
        Payload::Json(Some(body)) => match builder.json(body) {
            Ok(request) => request.send().await,
            Err(e) => return Err(ApiFailure::network(e.to_string())),
        },
        Payload::Json(None) => builder.send().await,
        Payload::Csv(text) => match builder.header("Content-Type", "text/csv").body(text) {
            Ok(request) => request.send().await,
            Err(e) => return Err(ApiFailure::network(e.to_string())),
        },
    };
    let response = sent.map_err(|e| ApiFailure::network(e.to_string()))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| ApiFailure::network(e.to_string()))?;
    answer(status, &text)
}

/// An API answer: its JSON on success, else the server's error body.
#[cfg(any(feature = "hydrate", feature = "ssr"))]
fn answer<T: DeserializeOwned>(status: u16, text: &str) -> ApiResult<T> {
    if (200..300).contains(&status) {
        let text = if text.is_empty() { "null" } else { text };
        serde_json::from_str(text).map_err(|e| ApiFailure::network(e.to_string()))
    } else {
        let detail = serde_json::from_str::<ErrorBody>(text)
            .map(|b| b.error)
            .unwrap_or_else(|_| ErrorDetail {
                code: "http".into(),
                message: format!("Gatehouse answered with status {status}."),
                fields: Default::default(),
            });
        Err(ApiFailure { status, detail })
    }
}

/// Gatehouse's own API, called in-process while a page renders on the server.
#[cfg(feature = "ssr")]
#[derive(Clone)]
pub struct ServerApi(
    #[allow(clippy::type_complexity)]
    pub  std::sync::Arc<
        dyn Fn(
                http::Request<String>,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = http::Response<String>> + Send>,
            > + Send
            + Sync,
    >,
);

/// The headers of the page's request that an API call carries along: who is signed in, and
/// where the request came from.
#[cfg(all(feature = "ssr", not(feature = "hydrate")))]
const CARRIED_HEADERS: [&str; 3] = ["cookie", "x-forwarded-for", "x-request-id"];

#[cfg(all(feature = "ssr", not(feature = "hydrate")))]
async fn send<B: Serialize, T: DeserializeOwned>(
    method: Method,
    path: &str,
    payload: Payload<'_, B>,
) -> ApiResult<T> {
    use leptos::prelude::use_context;
    let (Some(api), Some(page)) = (
        use_context::<ServerApi>(),
        use_context::<http::request::Parts>(),
    ) else {
        return Err(ApiFailure::network(
            "not available while rendering on the server".into(),
        ));
    };
    let response_options = use_context::<leptos_axum::ResponseOptions>();
    let method = match method {
        Method::Get => http::Method::GET,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Patch => http::Method::PATCH,
        Method::Delete => http::Method::DELETE,
    };
    let (content_type, body) = match payload {
        Payload::Json(Some(body)) => (
            "application/json",
            serde_json::to_string(body).map_err(|e| ApiFailure::network(e.to_string()))?,
        ),
        Payload::Json(None) => ("application/json", String::new()),
        Payload::Csv(text) => ("text/csv", text),
    };
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("{BASE}{path}"))
        .header(http::header::ACCEPT, "application/json")
        .header(http::header::CONTENT_TYPE, content_type);
    for name in CARRIED_HEADERS {
        for value in page.headers.get_all(name) {
            request = request.header(name, value.clone());
        }
    }
    let mut request = request
        .body(body)
        .map_err(|e| ApiFailure::network(e.to_string()))?;
    *request.extensions_mut() = page.extensions.clone();
    let response = (api.0)(request).await;
    // A renewed session cookie reaches the browser with the page.
    if let Some(options) = response_options {
        for cookie in response.headers().get_all(http::header::SET_COOKIE) {
            options.append_header(http::header::SET_COOKIE, cookie.clone());
        }
    }
    answer(response.status().as_u16(), response.body())
}

#[cfg(not(any(feature = "hydrate", feature = "ssr")))]
async fn send<B: Serialize, T: DeserializeOwned>(
    _method: Method,
    _path: &str,
    _payload: Payload<'_, B>,
) -> ApiResult<T> {
    Err(ApiFailure::network("no way to reach Gatehouse here".into()))
}

async fn get<T: DeserializeOwned>(path: &str) -> ApiResult<T> {
    call::<(), T>(Method::Get, path, None).await
}

/// Percent-encodes a query value.
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub async fn me() -> ApiResult<Me> {
    get("/session").await
}

pub async fn sign_in(request: &SignInRequest) -> ApiResult<Me> {
    call(Method::Post, "/session", Some(request)).await
}

pub async fn sign_out() -> ApiResult<SignedOut> {
    call::<(), SignedOut>(Method::Delete, "/session", None).await
}

pub async fn sign_in_method(request: &SignInMethodRequest) -> ApiResult<SignInMethod> {
    call(Method::Post, "/sign-in/method", Some(request)).await
}

pub async fn first_run_status(token: &str) -> ApiResult<LinkStatus> {
    get(&format!("/first-run/{}", encode_query(token))).await
}

pub async fn complete_first_run(request: &FirstRunRequest) -> ApiResult<Me> {
    call(Method::Post, "/first-run", Some(request)).await
}

pub async fn list_organizations(query: &str, page: i64) -> ApiResult<Page<Organization>> {
    get(&format!(
        "/organizations?q={}&page={page}",
        encode_query(query)
    ))
    .await
}

/// Credentials of active connections expiring within 30 days (operators).
pub async fn list_expiring_credentials() -> ApiResult<Vec<ExpiringCredential>> {
    get("/expiring-credentials").await
}

pub async fn organization(id: &str) -> ApiResult<Organization> {
    get(&format!("/organizations/{id}")).await
}

pub async fn create_organization(request: &CreateOrganizationRequest) -> ApiResult<Organization> {
    call(Method::Post, "/organizations", Some(request)).await
}

pub async fn rename_organization(
    id: &str,
    request: &RenameOrganizationRequest,
) -> ApiResult<Organization> {
    call(
        Method::Patch,
        &format!("/organizations/{id}"),
        Some(request),
    )
    .await
}

pub async fn delete_organization(id: &str) -> ApiResult<()> {
    call::<(), ()>(Method::Delete, &format!("/organizations/{id}"), None).await
}

pub async fn create_invite(
    org_id: &str,
    request: &CreateInviteRequest,
) -> ApiResult<InviteCreated> {
    call(
        Method::Post,
        &format!("/organizations/{org_id}/invites"),
        Some(request),
    )
    .await
}

pub async fn invite(token: &str) -> ApiResult<InviteInfo> {
    get(&format!("/invites/{}", encode_query(token))).await
}

pub async fn accept_invite(token: &str, request: &AcceptInviteRequest) -> ApiResult<Me> {
    call(
        Method::Post,
        &format!("/invites/{}/accept", encode_query(token)),
        Some(request),
    )
    .await
}

pub async fn list_members(
    org_id: &str,
    query: &str,
    filter: MemberFilter,
    sort: MemberSort,
    page: i64,
) -> ApiResult<Page<Member>> {
    get(&format!(
        "/organizations/{org_id}/members?q={}&filter={}&sort={}&page={page}",
        encode_query(query),
        filter.as_str(),
        sort.as_str(),
    ))
    .await
}

pub async fn create_member(org_id: &str, request: &CreateMemberRequest) -> ApiResult<Member> {
    call(
        Method::Post,
        &format!("/organizations/{org_id}/members"),
        Some(request),
    )
    .await
}

pub async fn update_member(
    org_id: &str,
    member_id: &str,
    request: &UpdateMemberRequest,
) -> ApiResult<Member> {
    call(
        Method::Patch,
        &format!("/organizations/{org_id}/members/{member_id}"),
        Some(request),
    )
    .await
}

pub async fn audit_log(org_id: &str, page: i64) -> ApiResult<Page<AuditEvent>> {
    get(&format!("/organizations/{org_id}/audit?page={page}")).await
}

fn connection_path(org_id: &str, rest: &str) -> String {
    format!("/organizations/{org_id}/connection{rest}")
}

pub async fn connection(org_id: &str) -> ApiResult<ConnectionView> {
    get(&connection_path(org_id, "")).await
}

pub async fn save_saml(org_id: &str, request: &SaveSamlRequest) -> ApiResult<ConnectionView> {
    call(
        Method::Put,
        &connection_path(org_id, "/draft/saml"),
        Some(request),
    )
    .await
}

pub async fn save_credentials(
    org_id: &str,
    request: &SaveCredentialsRequest,
) -> ApiResult<ConnectionView> {
    call(
        Method::Put,
        &connection_path(org_id, "/draft/credentials"),
        Some(request),
    )
    .await
}

/// Whether the automatic setup is offered, and the latest one.
pub async fn automatic_setup(org_id: &str) -> ApiResult<AutomaticSetupState> {
    get(&connection_path(org_id, "/automatic")).await
}

/// Starts the automatic setup (a device code sign-in).
pub async fn start_automatic_setup(
    org_id: &str,
    request: &StartAutomaticSetupRequest,
) -> ApiResult<AutomaticSetupState> {
    call(
        Method::Post,
        &connection_path(org_id, "/automatic"),
        Some(request),
    )
    .await
}

/// Answers "create it in this directory?" (`proceed`), or stops the setup.
pub async fn answer_automatic_setup(
    org_id: &str,
    request: &ConfirmAutomaticSetupRequest,
) -> ApiResult<AutomaticSetupState> {
    let rest = if request.proceed {
        "/automatic/confirm"
    } else {
        "/automatic/cancel"
    };
    call(Method::Post, &connection_path(org_id, rest), Some(request)).await
}

/// Makes a certificate for the app registration (the draft keeps its sealed key).
pub async fn generate_certificate(org_id: &str, version: i64) -> ApiResult<ConnectionView> {
    call(
        Method::Post,
        &connection_path(org_id, "/draft/certificate"),
        Some(&VersionRequest { version }),
    )
    .await
}

pub async fn verify_connection(org_id: &str, version: i64) -> ApiResult<ConnectionView> {
    call(
        Method::Post,
        &connection_path(org_id, "/draft/verify"),
        Some(&VersionRequest { version }),
    )
    .await
}

/// Looks the domain's TXT record up now; the answer is its proof as it stands.
pub async fn check_email_domain(org_id: &str, domain: &str) -> ApiResult<EmailDomainProof> {
    call::<(), EmailDomainProof>(
        Method::Post,
        &format!(
            "/organizations/{org_id}/email-domains/{}/check",
            encode_query(domain)
        ),
        None,
    )
    .await
}

/// An operator proves the domain without a DNS record.
pub async fn approve_email_domain(org_id: &str, domain: &str) -> ApiResult<EmailDomainProof> {
    call::<(), EmailDomainProof>(
        Method::Post,
        &format!(
            "/organizations/{org_id}/email-domains/{}/approve",
            encode_query(domain)
        ),
        None,
    )
    .await
}

pub async fn save_policy(org_id: &str, request: &SavePolicyRequest) -> ApiResult<ConnectionView> {
    call(
        Method::Put,
        &connection_path(org_id, "/draft/policy"),
        Some(request),
    )
    .await
}

pub async fn activate_connection(org_id: &str, version: i64) -> ApiResult<ConnectionView> {
    call(
        Method::Post,
        &connection_path(org_id, "/activate"),
        Some(&VersionRequest { version }),
    )
    .await
}

pub async fn disable_connection(org_id: &str) -> ApiResult<ConnectionView> {
    call(
        Method::Post,
        &connection_path(org_id, "/disable"),
        Some(&serde_json::json!({})),
    )
    .await
}

pub async fn create_setup_link(
    org_id: &str,
    request: &CreateSetupLinkRequest,
) -> ApiResult<SetupLinkCreated> {
    call(
        Method::Post,
        &format!("/organizations/{org_id}/setup-links"),
        Some(request),
    )
    .await
}

pub async fn setup_links(org_id: &str) -> ApiResult<Vec<SetupLink>> {
    get(&format!("/organizations/{org_id}/setup-links")).await
}

pub async fn revoke_setup_link(org_id: &str, link_id: &str) -> ApiResult<()> {
    call::<(), ()>(
        Method::Delete,
        &format!("/organizations/{org_id}/setup-links/{link_id}"),
        None,
    )
    .await
}

pub async fn setup_link(token: &str) -> ApiResult<SetupLinkInfo> {
    get(&format!("/setup-links/{}", encode_query(token))).await
}

pub async fn use_setup_link(token: &str, request: &UseSetupLinkRequest) -> ApiResult<Me> {
    call(
        Method::Post,
        &format!("/setup-links/{}/accept", encode_query(token)),
        Some(request),
    )
    .await
}

/// Makes the signed-in account an admin of the setup link's organization.
pub async fn claim_setup_link(token: &str) -> ApiResult<Me> {
    call::<(), Me>(
        Method::Post,
        &format!("/setup-links/{}/claim", encode_query(token)),
        None,
    )
    .await
}

pub async fn start_test_sign_in(org_id: &str) -> ApiResult<TestSignInStart> {
    call(
        Method::Post,
        &connection_path(org_id, "/test-sign-in"),
        Some(&serde_json::json!({})),
    )
    .await
}

fn org_path(org_id: &str, rest: &str) -> String {
    format!("/organizations/{org_id}{rest}")
}

pub async fn search_directory(org_id: &str, text: &str) -> ApiResult<DirectorySearch> {
    get(&org_path(
        org_id,
        &format!("/directory/users?q={}", encode_query(text)),
    ))
    .await
}

pub async fn map_to_directory_user(
    org_id: &str,
    member_id: &str,
    object_id: &str,
) -> ApiResult<Member> {
    call(
        Method::Post,
        &org_path(org_id, &format!("/members/{member_id}/directory-user")),
        Some(&MapToDirectoryUserRequest {
            object_id: object_id.into(),
        }),
    )
    .await
}

pub async fn add_from_directory(
    org_id: &str,
    object_ids: Vec<String>,
) -> ApiResult<AddFromDirectoryResult> {
    call(
        Method::Post,
        &org_path(org_id, "/members/from-directory"),
        Some(&AddFromDirectoryRequest { object_ids }),
    )
    .await
}

pub async fn suggestions(org_id: &str) -> ApiResult<Suggestions> {
    get(&org_path(org_id, "/mapping/suggestions")).await
}

pub async fn confirm_suggestions(
    org_id: &str,
    choices: Vec<SuggestionChoice>,
) -> ApiResult<ConfirmSuggestionsResult> {
    call(
        Method::Post,
        &org_path(org_id, "/mapping/suggestions/confirm"),
        Some(&ConfirmSuggestionsRequest { choices }),
    )
    .await
}

pub async fn mapping_health(org_id: &str) -> ApiResult<MappingHealth> {
    get(&org_path(org_id, "/mapping/health")).await
}

/// Starts an import of a members CSV file (its text).
pub async fn start_import(org_id: &str, csv: String) -> ApiResult<MemberImport> {
    send::<(), _>(
        Method::Post,
        &org_path(org_id, "/member-imports"),
        Payload::Csv(csv),
    )
    .await
}

pub async fn member_import(org_id: &str, import_id: &str) -> ApiResult<MemberImport> {
    get(&org_path(org_id, &format!("/member-imports/{import_id}"))).await
}

pub async fn apply_import(
    org_id: &str,
    import_id: &str,
    request: &ApplyImportRequest,
) -> ApiResult<MemberImport> {
    call(
        Method::Post,
        &org_path(org_id, &format!("/member-imports/{import_id}/apply")),
        Some(request),
    )
    .await
}

/// The address of the members export (a CSV download).
pub fn members_export_url(org_id: &str) -> String {
    format!("/api/v1/organizations/{org_id}/members/export")
}

pub async fn list_applications() -> ApiResult<Vec<Application>> {
    get("/applications").await
}

pub async fn application(id: &str) -> ApiResult<Application> {
    get(&format!("/applications/{}", encode_query(id))).await
}

pub async fn create_application(request: &ApplicationInput) -> ApiResult<Application> {
    call(Method::Post, "/applications", Some(request)).await
}

pub async fn update_application(id: &str, request: &ApplicationInput) -> ApiResult<Application> {
    call(
        Method::Put,
        &format!("/applications/{}", encode_query(id)),
        Some(request),
    )
    .await
}

pub async fn create_application_secret(id: &str) -> ApiResult<ApplicationSecretCreated> {
    call::<(), _>(
        Method::Post,
        &format!("/applications/{}/secrets", encode_query(id)),
        None,
    )
    .await
}

pub async fn revoke_application_secret(id: &str, secret_id: &str) -> ApiResult<()> {
    call::<(), ()>(
        Method::Delete,
        &format!(
            "/applications/{}/secrets/{}",
            encode_query(id),
            encode_query(secret_id)
        ),
        None,
    )
    .await
}

pub async fn applications_used(org_id: &str) -> ApiResult<Vec<ApplicationUse>> {
    get(&format!(
        "/organizations/{}/applications",
        encode_query(org_id)
    ))
    .await
}
