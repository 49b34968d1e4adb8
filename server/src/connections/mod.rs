//! An organization's SSO connection: the configuration model, and the wizard's steps — save
//! the values pasted from Entra, verify them live, set the policy, activate, disable.

pub mod test_sign_in;

use crate::clock::{rfc3339_millis, to_millis};
use crate::crypto::sealing::SealingKey;
use crate::domain::{parse_date, AuthorityHost, Domain, FieldErrors, Guid};
use crate::entra::verify::{self, Candidate};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::{Actor, AuditEntry, ConnectionRecord, OrganizationRecord, StorageError};
use app::types::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One configuration as stored (JSON). The secret is sealed with the master key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConnectionConfig {
    pub cloud: Cloud,
    /// The resolved authority host, such as `https://login.microsoftonline.com`.
    pub authority_host: String,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub secret: Option<StoredSecret>,
    pub policy: Policy,
    pub verification: Option<Verification>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredSecret {
    pub sealed: String,
    pub last4: String,
    /// `YYYY-MM-DD`.
    pub expires_on: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Policy {
    pub mode: SsoMode,
    pub allow_admins: bool,
    pub create_members: bool,
    pub new_member_role: MemberRole,
    pub email_domains: Vec<EmailDomain>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            mode: SsoMode::Everyone,
            allow_admins: true,
            create_members: false,
            new_member_role: MemberRole::Member,
            email_domains: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailDomain {
    pub domain: String,
    pub verified: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verification {
    pub checked_at: i64,
    pub passed: bool,
    pub checks: Vec<CheckResult>,
}

/// The addresses an admin registers in Entra for this organization.
pub struct EntraUrls {
    pub redirect_uri: String,
    pub home_page_url: String,
    pub logout_url: String,
}

pub fn entra_urls(public_url: &str, slug: &str) -> EntraUrls {
    EntraUrls {
        redirect_uri: format!("{public_url}/auth/callback"),
        home_page_url: format!("{public_url}/o/{slug}/sso"),
        logout_url: format!("{public_url}/auth/logout"),
    }
}

fn secret_context(organization_id: &str) -> String {
    format!("connection:{organization_id}:client-secret")
}

/// Seals a client secret Value for one organization, keeping its hint (last four characters)
/// and its expiry date (`YYYY-MM-DD`).
pub fn seal_secret(
    key: &crate::crypto::sealing::SealingKey,
    organization_id: &str,
    value: &str,
    expires_on: String,
) -> Result<StoredSecret, crate::crypto::sealing::SealingError> {
    let chars: Vec<char> = value.chars().collect();
    Ok(StoredSecret {
        sealed: key.seal(value.as_bytes(), &secret_context(organization_id))?,
        last4: chars[chars.len().saturating_sub(4)..].iter().collect(),
        expires_on,
    })
}

/// Why a stored configuration or its client secret could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum StoredConnectionError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("opening the client secret: {0}")]
    Sealing(#[from] crate::crypto::sealing::SealingError),
    #[error("the client secret is not text: {0}")]
    NotText(#[from] std::string::FromUtf8Error),
    #[error("stored connection: {0}")]
    Unreadable(#[from] serde_json::Error),
}

/// The client secret in clear, for a call to the directory; it never leaves this process.
fn open_secret(
    key: &SealingKey,
    organization_id: &str,
    secret: &StoredSecret,
) -> Result<String, StoredConnectionError> {
    let bytes = key.open(&secret.sealed, &secret_context(organization_id))?;
    Ok(String::from_utf8(bytes)?)
}

/// A configuration's app registration with its secret opened, for one sign-in's calls.
pub struct OpenedRegistration {
    authority_host: String,
    tenant_id: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
}

#[cfg(test)]
impl OpenedRegistration {
    /// A registration for `config` with a made-up secret and redirect URI.
    pub(crate) fn for_tests(config: &ConnectionConfig) -> Self {
        OpenedRegistration {
            authority_host: config.authority_host.clone(),
            tenant_id: config.tenant_id.clone().unwrap_or_default(),
            client_id: config.client_id.clone().unwrap_or_default(),
            client_secret: "test secret".into(),
            redirect_uri: "https://gatehouse.example/auth/callback".into(),
        }
    }
}

impl OpenedRegistration {
    pub fn registration(&self) -> crate::oidc::Registration<'_> {
        crate::oidc::Registration {
            authority_host: &self.authority_host,
            tenant_id: &self.tenant_id,
            client_id: &self.client_id,
            client_secret: &self.client_secret,
            redirect_uri: &self.redirect_uri,
        }
    }
}

/// The registration `config` describes, or `None` while its credentials are incomplete; its
/// redirect URI is on `public_url`.
pub fn open_registration(
    key: &SealingKey,
    public_url: &str,
    org: &OrganizationRecord,
    config: &ConnectionConfig,
) -> Result<Option<OpenedRegistration>, StoredConnectionError> {
    let (Some(tenant_id), Some(client_id), Some(secret)) =
        (&config.tenant_id, &config.client_id, &config.secret)
    else {
        return Ok(None);
    };
    Ok(Some(OpenedRegistration {
        authority_host: config.authority_host.clone(),
        tenant_id: tenant_id.clone(),
        client_id: client_id.clone(),
        client_secret: open_secret(key, &org.id, secret)?,
        redirect_uri: entra_urls(public_url, &org.slug).redirect_uri,
    }))
}

fn parse_config(json: &str) -> ApiResult<ConnectionConfig> {
    serde_json::from_str(json).map_err(|e| ApiError::Internal(format!("stored connection: {e}")))
}

fn to_json(config: &ConnectionConfig) -> ApiResult<String> {
    serde_json::to_string(config)
        .map_err(|e| ApiError::Internal(format!("connection to JSON: {e}")))
}

fn status_of(record: Option<&ConnectionRecord>) -> ConnectionStatus {
    match record.map(|r| r.status.as_str()) {
        None => ConnectionStatus::None,
        Some("active") => ConnectionStatus::Active,
        Some("disabled") => ConnectionStatus::Disabled,
        Some(_) => ConnectionStatus::Draft,
    }
}

impl ConnectionConfig {
    fn view(&self, today: time::Date) -> ConnectionConfigView {
        ConnectionConfigView {
            cloud: self.cloud,
            authority_host: self.authority_host.clone(),
            tenant_id: self.tenant_id.clone(),
            client_id: self.client_id.clone(),
            secret: self.secret.as_ref().map(|s| SecretHint {
                last4: s.last4.clone(),
                expires_on: s.expires_on.clone(),
                days_left: parse_date(&s.expires_on)
                    .map(|d| (d - today).whole_days())
                    .unwrap_or(0),
            }),
            policy: PolicyView {
                mode: self.policy.mode,
                allow_admins: self.policy.allow_admins,
                create_members: self.policy.create_members,
                new_member_role: self.policy.new_member_role,
                email_domains: self
                    .policy
                    .email_domains
                    .iter()
                    .map(|d| EmailDomainView {
                        domain: d.domain.clone(),
                        verified: d.verified,
                    })
                    .collect(),
            },
            verification: self.verification.as_ref().map(|v| VerificationView {
                checked_at: rfc3339_millis(v.checked_at),
                passed: v.passed,
                checks: v.checks.clone(),
            }),
        }
    }
}

/// The active configuration as stored (see `Storage::find_sign_in_organization`).
pub fn parse_active(json: &str) -> Result<ConnectionConfig, StoredConnectionError> {
    Ok(serde_json::from_str(json)?)
}

/// The app registration Gatehouse reads the organization's directory with (Microsoft Graph,
/// app-only): the active configuration's, else the draft's once its credentials are complete.
pub struct DirectoryApp {
    pub cloud: Cloud,
    pub authority_host: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
}

pub async fn directory_app(
    storage: &crate::storage::Storage,
    key: &SealingKey,
    organization_id: &str,
) -> Result<Option<DirectoryApp>, StoredConnectionError> {
    let Some(record) = storage.find_connection(organization_id).await? else {
        return Ok(None);
    };
    let candidates = [record.active_config.as_deref(), Some(&record.draft_config)];
    for json in candidates.into_iter().flatten() {
        let config = parse_active(json)?;
        if let (Some(tenant_id), Some(client_id), Some(secret)) =
            (config.tenant_id, config.client_id, config.secret.as_ref())
        {
            return Ok(Some(DirectoryApp {
                cloud: config.cloud,
                authority_host: config.authority_host,
                tenant_id,
                client_id,
                client_secret: open_secret(key, organization_id, secret)?,
            }));
        }
    }
    Ok(None)
}

/// The directory (tenant) ID members of this organization map into: the active
/// configuration's, else the draft's.
pub async fn directory_tenant_id(
    state: &AppState,
    organization_id: &str,
) -> ApiResult<Option<String>> {
    let Some(record) = state.storage.find_connection(organization_id).await? else {
        return Ok(None);
    };
    let active = match record.active_config.as_deref() {
        Some(json) => parse_config(json)?.tenant_id,
        None => None,
    };
    Ok(match active {
        Some(t) => Some(t),
        None => parse_config(&record.draft_config)?.tenant_id,
    })
}

/// The draft's last test sign-in, when it was made with the draft's current credentials.
fn current_test_sign_in(
    record: &ConnectionRecord,
    draft: &ConnectionConfig,
) -> Option<TestSignInView> {
    let stored: test_sign_in::StoredResult =
        serde_json::from_str(record.test_sign_in.as_deref()?).ok()?;
    (stored.credentials == test_sign_in::credentials_fingerprint(draft)).then_some(stored.view)
}

struct Loaded {
    record: Option<ConnectionRecord>,
    draft: ConnectionConfig,
}

async fn load(state: &AppState, org: &OrganizationRecord) -> ApiResult<Loaded> {
    let record = state.storage.find_connection(&org.id).await?;
    let draft = match &record {
        Some(r) => parse_config(&r.draft_config)?,
        None => ConnectionConfig::default(),
    };
    Ok(Loaded { record, draft })
}

/// The connection as the wizard and the overview show it.
pub async fn view(
    state: &AppState,
    org: &OrganizationRecord,
    warnings: BTreeMap<String, String>,
) -> ApiResult<ConnectionView> {
    let Loaded { record, draft } = load(state, org).await?;
    let today = state.now().date();
    let urls = entra_urls(&state.config.public_url, &org.slug);
    let active = match record.as_ref().and_then(|r| r.active_config.as_deref()) {
        Some(json) => Some(parse_config(json)?.view(today)),
        None => None,
    };
    Ok(ConnectionView {
        status: status_of(record.as_ref()),
        redirect_uri: urls.redirect_uri,
        home_page_url: urls.home_page_url,
        logout_url: urls.logout_url,
        draft_version: record.as_ref().map(|r| r.draft_version).unwrap_or(0),
        draft: record.as_ref().map(|_| draft.view(today)),
        active,
        activated_at: record
            .as_ref()
            .and_then(|r| r.activated_at)
            .map(rfc3339_millis),
        test_sign_in: record
            .as_ref()
            .and_then(|r| current_test_sign_in(r, &draft)),
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
    })
}

/// Saves `config` as the draft at `version` with its audit entry, and answers the new view.
async fn save_draft(
    state: &AppState,
    org: &OrganizationRecord,
    version: i64,
    config: &ConnectionConfig,
    entry: &AuditEntry<'_>,
    actor: &Actor,
    warnings: BTreeMap<String, String>,
) -> ApiResult<ConnectionView> {
    state
        .storage
        .save_connection_draft(
            &org.id,
            version,
            &to_json(config)?,
            entry,
            actor,
            state.now(),
        )
        .await
        .map_err(version_conflict)?;
    view(state, org, warnings).await
}

/// The answer to a step that needs the credentials saved first; `step` names the field.
fn not_saved(step: &str) -> ApiError {
    ApiError::field(step, "Save the directory, client ID and secret first.")
}

fn version_conflict(e: StorageError) -> ApiError {
    match e {
        StorageError::Conflict("version") => ApiError::Conflict(FieldErrors::single(
            "version",
            "Someone else changed this connection since you opened it. Reload to see their changes, then make yours again.",
        )),
        other => other.into(),
    }
}

/// Step 2: the values pasted from Entra. Checked field by field; a verified domain is resolved
/// to the directory GUID through discovery. Changing any credential clears the verification.
pub async fn save_credentials(
    state: &AppState,
    org: &OrganizationRecord,
    request: &SaveCredentialsRequest,
    actor: &Actor,
) -> ApiResult<ConnectionView> {
    let Loaded { draft, .. } = load(state, org).await?;
    let mut errors = FieldErrors::default();
    let mut warnings = BTreeMap::new();
    let today = state.now().date();

    let authority_host = match request.cloud.authority_host() {
        Some(host) => Some(host.to_string()),
        None => errors
            .check(
                "authority_host",
                AuthorityHost::parse(&request.authority_host),
            )
            .map(|h| h.0),
    };
    let client_id = errors.check(
        "client_id",
        Guid::parse(&request.client_id).map_err(|e| {
            format!("The Application (client) ID is a GUID from the app's Overview page. {e}")
        }),
    );
    let tenant_input = request.tenant.trim();
    let tenant_guid = Guid::parse(tenant_input).ok();
    if tenant_guid.is_none() {
        if let Err(e) = Domain::parse(tenant_input) {
            errors.add(
                "tenant",
                format!("Enter the Directory (tenant) ID, a GUID from the app's Overview page, or a verified domain such as contoso.onmicrosoft.com ({e})"),
            );
        }
    }

    let new_secret = request
        .client_secret
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(secret) = new_secret {
        if secret.chars().count() > 256 || secret.chars().any(char::is_whitespace) {
            errors.add(
                "client_secret",
                "A client secret Value has no spaces and at most 256 characters.",
            );
        } else if Guid::parse(secret).is_ok() {
            warnings.insert(
                "client_secret".to_string(),
                "This looks like the Secret ID (a GUID), not the secret's Value. In Entra, Certificates & secrets shows both: copy the Value column.".to_string(),
            );
        }
    } else if draft.secret.is_none() {
        errors.add("client_secret", "Paste the client secret's Value.");
    }
    let expires_on = if request.secret_expires_on.trim().is_empty() && new_secret.is_none() {
        draft.secret.as_ref().map(|s| s.expires_on.clone())
    } else {
        match parse_date(&request.secret_expires_on) {
            Ok(date) if date < today => {
                errors.add("secret_expires_on", format!("This date has passed: the secret expired on {date}. Create a new secret and paste its Value."));
                None
            }
            Ok(date) => {
                if (date - today).whole_days() > 2 * 366 {
                    warnings.insert(
                        "secret_expires_on".into(),
                        "Entra secrets last at most 24 months: check the date.".into(),
                    );
                }
                Some(date.to_string())
            }
            Err(e) => {
                errors.add("secret_expires_on", e);
                None
            }
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (Some(authority_host), Some(client_id), Some(expires_on)) =
        (authority_host, client_id, expires_on)
    else {
        return Err(ApiError::Validation(errors));
    };

    let urls = entra_urls(&state.config.public_url, &org.slug);
    let tenant_id = match tenant_guid {
        Some(guid) => guid.0,
        None => verify::discover(
            &state.http,
            &authority_host,
            tenant_input,
            &urls.redirect_uri,
        )
        .await
        .map(|d| d.tenant_id)
        .map_err(|f| {
            ApiError::field(
                "tenant",
                format!("No directory found for {tenant_input}. {}", f.message),
            )
        })?,
    };

    let secret = match new_secret {
        Some(value) => Some(
            seal_secret(&state.sealing_key, &org.id, value, expires_on)
                .map_err(|e| ApiError::Internal(e.to_string()))?,
        ),
        None => draft
            .secret
            .clone()
            .map(|s| StoredSecret { expires_on, ..s }),
    };
    let credentials_changed = draft.authority_host != authority_host
        || draft.tenant_id.as_deref() != Some(tenant_id.as_str())
        || draft.client_id.as_deref() != Some(client_id.0.as_str())
        || new_secret.is_some();
    let updated = ConnectionConfig {
        cloud: request.cloud,
        authority_host,
        tenant_id: Some(tenant_id),
        client_id: Some(client_id.0),
        secret,
        verification: if credentials_changed {
            None
        } else {
            draft.verification.clone()
        },
        policy: draft.policy.clone(),
    };
    let detail = if new_secret.is_some() {
        "credentials and a new client secret"
    } else {
        "credentials"
    };
    let entry = AuditEntry {
        detail,
        ..AuditEntry::success(Some(&org.id), "connection.draft.credentials", &org.slug)
    };
    save_draft(
        state,
        org,
        request.version,
        &updated,
        &entry,
        actor,
        warnings,
    )
    .await
}

/// Step 3: runs the live checks on the draft's values and keeps the result with the draft.
pub async fn verify_draft(
    state: &AppState,
    org: &OrganizationRecord,
    request: &VersionRequest,
    actor: &Actor,
) -> ApiResult<ConnectionView> {
    let Loaded { draft, .. } = load(state, org).await?;
    let (Some(tenant_id), Some(client_id), Some(secret)) =
        (&draft.tenant_id, &draft.client_id, &draft.secret)
    else {
        return Err(not_saved("verify"));
    };
    let plaintext = open_secret(&state.sealing_key, &org.id, secret)?;
    let expires_on = parse_date(&secret.expires_on).map_err(ApiError::Internal)?;
    let urls = entra_urls(&state.config.public_url, &org.slug);
    let candidate = Candidate {
        cloud: draft.cloud,
        authority_host: &draft.authority_host,
        tenant_id,
        client_id,
        client_secret: &plaintext,
        secret_expires_on: expires_on,
    };
    let checks = verify::run_checks(
        &state.http,
        &candidate,
        state.now().date(),
        &urls.redirect_uri,
    )
    .await;
    let passed = checks
        .iter()
        .all(|c| c.outcome == "passed" || c.outcome == "warning");
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c.outcome == "failed")
        .map(|c| c.check.as_str())
        .collect();
    let detail = failed.join(", ");
    let updated = ConnectionConfig {
        verification: Some(Verification {
            checked_at: to_millis(state.now()),
            passed,
            checks,
        }),
        ..draft
    };
    let entry = AuditEntry {
        outcome: if passed { "success" } else { "failure" },
        detail: &detail,
        ..AuditEntry::success(Some(&org.id), "connection.verify", &org.slug)
    };
    save_draft(
        state,
        org,
        request.version,
        &updated,
        &entry,
        actor,
        BTreeMap::new(),
    )
    .await
}

/// Step 5: who may sign in with SSO. Domains stay verified only if they were already proven.
pub async fn save_policy(
    state: &AppState,
    org: &OrganizationRecord,
    request: &SavePolicyRequest,
    actor: &Actor,
) -> ApiResult<ConnectionView> {
    let Loaded { draft, record } = load(state, org).await?;
    if record.is_none() {
        return Err(not_saved("policy"));
    }
    let mut errors = FieldErrors::default();
    let mut domains: Vec<EmailDomain> = Vec::new();
    for raw in request
        .email_domains
        .iter()
        .map(|d| d.trim())
        .filter(|d| !d.is_empty())
    {
        match Domain::parse(raw) {
            Ok(Domain(domain)) if !domains.iter().any(|d| d.domain == domain) => {
                let verified = draft
                    .policy
                    .email_domains
                    .iter()
                    .any(|d| d.domain == domain && d.verified);
                domains.push(EmailDomain { domain, verified });
            }
            Ok(_) => {}
            Err(e) => errors.add("email_domains", format!("“{raw}”: {e}")),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let updated = ConnectionConfig {
        policy: Policy {
            mode: request.mode,
            allow_admins: request.allow_admins,
            create_members: request.create_members,
            new_member_role: request.new_member_role,
            email_domains: domains,
        },
        ..draft
    };
    let entry = AuditEntry::success(Some(&org.id), "connection.draft.policy", &org.slug);
    save_draft(
        state,
        org,
        request.version,
        &updated,
        &entry,
        actor,
        BTreeMap::new(),
    )
    .await
}

/// Step 6: the draft becomes the active configuration, atomically. It must have passed
/// verification and a test sign-in with its current credentials.
pub async fn activate(
    state: &AppState,
    org: &OrganizationRecord,
    request: &VersionRequest,
    actor: &Actor,
) -> ApiResult<ConnectionView> {
    let Loaded { draft, record } = load(state, org).await?;
    let Some(record) = record else {
        return Err(not_saved("activate"));
    };
    if !draft.verification.as_ref().is_some_and(|v| v.passed) {
        return Err(ApiError::field(
            "activate",
            "Verify the connection, and fix what failed, before activating it.",
        ));
    }
    if !current_test_sign_in(&record, &draft).is_some_and(|t| t.passed) {
        return Err(ApiError::field(
            "activate",
            "Run a test sign-in that passes with these credentials before activating them.",
        ));
    }
    let verified_domains: Vec<String> = draft
        .policy
        .email_domains
        .iter()
        .filter(|d| d.verified)
        .map(|d| d.domain.clone())
        .collect();
    state
        .storage
        .activate_connection(
            &org.id,
            request.version,
            &verified_domains,
            actor,
            state.now(),
        )
        .await
        .map_err(version_conflict)?;
    view(state, org, BTreeMap::new()).await
}

/// Turns SSO off at once; password sign-in for admins and operators keeps working.
pub async fn disable(
    state: &AppState,
    org: &OrganizationRecord,
    actor: &Actor,
) -> ApiResult<ConnectionView> {
    state
        .storage
        .disable_connection(&org.id, actor, state.now())
        .await
        .map_err(|e| match e {
            StorageError::NotFound => {
                ApiError::field("disable", "SSO is not active for this organization.")
            }
            other => other.into(),
        })?;
    view(state, org, BTreeMap::new()).await
}
