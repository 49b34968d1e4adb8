//! An organization's SSO connection: the configuration model, and the wizard's steps — save
//! the values pasted from Entra, verify them live, set the policy, activate, disable.

pub mod automatic;
pub mod expiry;
pub mod rotation;
pub mod saml;
pub mod test_sign_in;

use crate::clock::{to_millis, Clock};
use crate::crypto::certificates;
use crate::crypto::sealing::SealingKey;
use crate::domain::{parse_date, AllowedAuthorities, Domain, FieldErrors, Guid};
use crate::entra::authority;
use crate::entra::client_credential::{ClientCertificate, ClientCredential};
use crate::entra::verify::{self, Candidate};
use crate::storage::{
    Actor, AuditEntry, ConnectionRecord, OrganizationRecord, Storage, StorageError,
};
use app::types::{
    CheckResult, ClientCredentialKind, Cloud, MemberRole, Protocol, SaveCredentialsRequest,
    SavePolicyRequest, SsoMode, TestSignInView, VersionRequest,
};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One configuration as stored (JSON). The secret is sealed with the master key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConnectionConfig {
    /// OpenID Connect (an app registration) or SAML (an Enterprise application).
    #[serde(default)]
    pub protocol: Protocol,
    /// The directory's SAML side, for a SAML connection.
    #[serde(default)]
    pub saml: Option<crate::saml::IdentityProvider>,
    /// SAML: whether sign-ins started at the directory (unsolicited responses) are accepted.
    #[serde(default)]
    pub allow_idp_initiated: bool,
    pub cloud: Cloud,
    /// The resolved authority host, such as `https://login.microsoftonline.com`.
    pub authority_host: String,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub secret: Option<StoredSecret>,
    /// A certificate Gatehouse generated for the app registration. Gatehouse authenticates
    /// with it when there is no secret (saving with the certificate removes the secret; saving
    /// a secret removes the certificate).
    #[serde(default)]
    pub certificate: Option<StoredCertificate>,
    /// The app registration's object id, when Gatehouse created it (the automatic setup): how a
    /// re-run finds it, and what Graph's `addKey` and `removeKey` name.
    #[serde(default)]
    pub application_object_id: Option<String>,
    pub policy: Policy,
    pub verification: Option<Verification>,
}

impl ConnectionConfig {
    /// What Gatehouse authenticates with: the secret, else the certificate.
    pub fn credential_kind(&self) -> Option<ClientCredentialKind> {
        match (&self.secret, &self.certificate) {
            (Some(_), _) => Some(ClientCredentialKind::Secret),
            (None, Some(_)) => Some(ClientCredentialKind::Certificate),
            (None, None) => None,
        }
    }
}

/// A certificate Gatehouse made, with its private key sealed with the master key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredCertificate {
    /// The private key, PKCS#8 DER, sealed.
    pub sealed_key: String,
    /// The certificate, DER in base64: what the admin uploads.
    pub certificate_der_base64: String,
    /// SHA-1, upper-case hex, as Entra shows it.
    pub thumbprint: String,
    /// `YYYY-MM-DD`.
    pub expires_on: String,
    /// The certificate's key id on the app registration, when Gatehouse added it through
    /// Microsoft Graph (what `removeKey` names).
    #[serde(default)]
    pub key_id: Option<String>,
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

/// A domain the policy lists. Its proof is kept apart (`domains`); `verified` is what the
/// test sign-in once wrote, and is no longer read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailDomain {
    pub domain: String,
    #[serde(default)]
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

pub(crate) fn certificate_context(organization_id: &str) -> String {
    format!("connection:{organization_id}:client-certificate")
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
    #[error("stored date: {0}")]
    Date(String),
    #[error("stored certificate: {0}")]
    Certificate(String),
    /// Neither one of Entra's clouds nor on the operator's list (any more).
    #[error("the authority {0} is not allowed")]
    AuthorityNotAllowed(String),
}

/// Why a step of the wizard was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The input, or the step in the connection's current state, is not acceptable; each
    /// field says why.
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// Someone else saved the connection since the version the request names.
    #[error("the connection changed since it was read")]
    ChangedMeanwhile,
    /// A test sign-in's answer came back a second time.
    #[error("the test sign-in was already answered")]
    AlreadyAnswered,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Stored(#[from] StoredConnectionError),
    #[error(transparent)]
    Domains(#[from] crate::domains::DomainError),
}

impl ConnectionError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ConnectionError::Invalid(FieldErrors::single(field, message))
    }
}

pub type ConnectionResult<T> = Result<T, ConnectionError>;

/// What the wizard's steps need, lent from the application's state.
#[derive(Clone, Copy)]
pub struct ConnectionServices<'a> {
    pub storage: &'a Storage,
    pub clock: &'a dyn Clock,
    /// For the live checks against the directory.
    pub http: &'a reqwest::Client,
    /// Seals and opens the client secrets.
    pub sealing_key: &'a SealingKey,
    /// Gatehouse's base URL, which the addresses registered in Entra are on.
    pub public_url: &'a str,
    /// Authorities besides Entra's clouds that admins may choose.
    pub allowed_authorities: &'a AllowedAuthorities,
    /// The email domain proofs, which follow the connection's directory.
    pub domains: crate::domains::DomainServices<'a>,
}

impl ConnectionServices<'_> {
    fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }
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

/// The credential `config` authenticates with, opened; `None` when it has none.
fn open_credential(
    key: &SealingKey,
    organization_id: &str,
    config: &ConnectionConfig,
) -> Result<Option<ClientCredential>, StoredConnectionError> {
    if let Some(secret) = &config.secret {
        return Ok(Some(ClientCredential::Secret(open_secret(
            key,
            organization_id,
            secret,
        )?)));
    }
    let Some(certificate) = &config.certificate else {
        return Ok(None);
    };
    let der = base64::engine::general_purpose::STANDARD
        .decode(&certificate.certificate_der_base64)
        .map_err(|e| StoredConnectionError::Certificate(e.to_string()))?;
    Ok(Some(ClientCredential::Certificate(ClientCertificate {
        key_pkcs8_der: key.open(
            &certificate.sealed_key,
            &certificate_context(organization_id),
        )?,
        sha256_thumbprint: certificates::sha256_thumbprint(&der)
            .map_err(|e| StoredConnectionError::Certificate(e.to_string()))?,
    })))
}

/// A configuration's app registration with its credential opened, for one sign-in's calls.
pub struct OpenedRegistration {
    authority_host: String,
    tenant_id: String,
    client_id: String,
    credential: ClientCredential,
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
            credential: ClientCredential::Secret("test secret".into()),
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
            credential: &self.credential,
            redirect_uri: &self.redirect_uri,
        }
    }
}

/// The registration `config` describes, or `None` while its credentials are incomplete; its
/// redirect URI is on `public_url`.
pub fn open_registration(
    key: &SealingKey,
    public_url: &str,
    allowed: &AllowedAuthorities,
    org: &OrganizationRecord,
    config: &ConnectionConfig,
) -> Result<Option<OpenedRegistration>, StoredConnectionError> {
    let (Some(tenant_id), Some(client_id), Some(_)) = (
        &config.tenant_id,
        &config.client_id,
        config.credential_kind(),
    ) else {
        return Ok(None);
    };
    require_permitted(allowed, &config.authority_host)?;
    let Some(credential) = open_credential(key, &org.id, config)? else {
        return Ok(None);
    };
    Ok(Some(OpenedRegistration {
        authority_host: config.authority_host.clone(),
        tenant_id: tenant_id.clone(),
        client_id: client_id.clone(),
        credential,
        redirect_uri: entra_urls(public_url, &org.slug).redirect_uri,
    }))
}

/// A stored configuration is used only while its authority is one of Entra's clouds or on the
/// operator's list: taking an authority off the list stops every call to it.
pub(crate) fn require_permitted(
    allowed: &AllowedAuthorities,
    authority_host: &str,
) -> Result<(), StoredConnectionError> {
    if authority::permitted(allowed, authority_host) {
        Ok(())
    } else {
        Err(StoredConnectionError::AuthorityNotAllowed(
            authority_host.to_string(),
        ))
    }
}

fn parse_config(json: &str) -> Result<ConnectionConfig, StoredConnectionError> {
    Ok(serde_json::from_str(json)?)
}

fn to_json(config: &ConnectionConfig) -> Result<String, StoredConnectionError> {
    Ok(serde_json::to_string(config)?)
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
    pub credential: ClientCredential,
}

pub async fn directory_app(
    storage: &crate::storage::Storage,
    key: &SealingKey,
    allowed: &AllowedAuthorities,
    organization_id: &str,
) -> Result<Option<DirectoryApp>, StoredConnectionError> {
    let Some(record) = storage.find_connection(organization_id).await? else {
        return Ok(None);
    };
    let candidates = [record.active_config.as_deref(), Some(&record.draft_config)];
    for json in candidates.into_iter().flatten() {
        let config = parse_active(json)?;
        let credential = open_credential(key, organization_id, &config)?;
        if let (Some(tenant_id), Some(client_id), Some(credential)) =
            (config.tenant_id, config.client_id, credential)
        {
            require_permitted(allowed, &config.authority_host)?;
            return Ok(Some(DirectoryApp {
                cloud: config.cloud,
                authority_host: config.authority_host,
                tenant_id,
                client_id,
                credential,
            }));
        }
    }
    Ok(None)
}

/// The directory (tenant) ID members of this organization map into: the active
/// configuration's, else the draft's.
pub async fn directory_tenant_id(
    storage: &Storage,
    organization_id: &str,
) -> Result<Option<String>, StoredConnectionError> {
    let Some(record) = storage.find_connection(organization_id).await? else {
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

pub(crate) struct Loaded {
    pub(crate) record: Option<ConnectionRecord>,
    pub(crate) draft: ConnectionConfig,
}

pub(crate) async fn load(storage: &Storage, org: &OrganizationRecord) -> ConnectionResult<Loaded> {
    let record = storage.find_connection(&org.id).await?;
    let draft = match &record {
        Some(r) => parse_config(&r.draft_config)?,
        None => ConnectionConfig::default(),
    };
    Ok(Loaded { record, draft })
}

/// An organization's connection as the wizard and the overview show it.
pub struct Connection {
    /// `None` until the first credentials are saved.
    pub record: Option<ConnectionRecord>,
    pub draft: ConnectionConfig,
    pub active: Option<ConnectionConfig>,
    /// The addresses to register in Entra.
    pub urls: EntraUrls,
    /// The same for SAML-based sign-on.
    pub saml_urls: crate::saml::ServiceProviderUrls,
    /// The draft's last test sign-in, when made with its current credentials.
    pub test_sign_in: Option<TestSignInView>,
    /// Per field: what was saved but looks wrong.
    pub warnings: BTreeMap<String, String>,
}

/// The organization's connection now.
pub async fn read(
    services: &ConnectionServices<'_>,
    org: &OrganizationRecord,
    warnings: BTreeMap<String, String>,
) -> ConnectionResult<Connection> {
    let Loaded { record, draft } = load(services.storage, org).await?;
    let active = match record.as_ref().and_then(|r| r.active_config.as_deref()) {
        Some(json) => Some(parse_config(json)?),
        None => None,
    };
    Ok(Connection {
        test_sign_in: record
            .as_ref()
            .and_then(|r| current_test_sign_in(r, &draft)),
        urls: entra_urls(services.public_url, &org.slug),
        saml_urls: crate::saml::service_provider_urls(services.public_url, &org.id, &org.slug),
        record,
        draft,
        active,
        warnings,
    })
}

/// Saves `config` as the draft at `version`, with its audit entry.
pub(crate) async fn store_draft(
    services: &ConnectionServices<'_>,
    org: &OrganizationRecord,
    version: i64,
    config: &ConnectionConfig,
    entry: &AuditEntry<'_>,
    actor: &Actor,
) -> ConnectionResult<()> {
    services
        .storage
        .save_connection_draft(
            &org.id,
            version,
            &to_json(config)?,
            entry,
            actor,
            services.now(),
        )
        .await
        .map_err(version_conflict)?;
    Ok(())
}

/// The answer to a step that needs the credentials saved first; `step` names the field.
fn not_saved(step: &str) -> ConnectionError {
    ConnectionError::field(step, "Save the directory, client ID and secret first.")
}

fn version_conflict(e: StorageError) -> ConnectionError {
    match e {
        StorageError::Conflict("version") => ConnectionError::ChangedMeanwhile,
        other => other.into(),
    }
}

/// Step 2: the values pasted from Entra. Checked field by field; a verified domain is resolved
/// to the directory GUID through discovery. Changing any credential clears the verification.
pub async fn save_credentials(
    services: &ConnectionServices<'_>,
    org: &OrganizationRecord,
    request: &SaveCredentialsRequest,
    actor: &Actor,
) -> ConnectionResult<Connection> {
    let Loaded { draft, .. } = load(services.storage, org).await?;
    let mut errors = FieldErrors::default();
    let mut warnings = BTreeMap::new();
    let today = services.now().date();

    let authority_host = match services.allowed_authorities.entra_authority(request.cloud) {
        Some(host) => Some(host),
        None => errors.check(
            "authority_host",
            services
                .allowed_authorities
                .authority(&request.authority_host),
        ),
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

    let with_certificate = request.credential == ClientCredentialKind::Certificate;
    if with_certificate && draft.certificate.is_none() {
        errors.add(
            "credential",
            "Generate Gatehouse's certificate first, then upload it to the app in Entra.",
        );
    }
    let new_secret = request
        .client_secret
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty() && !with_certificate);
    if with_certificate {
        // The certificate stands in for the secret: nothing to check here.
    } else if let Some(secret) = new_secret {
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
    let expires_on = if with_certificate {
        draft.certificate.as_ref().map(|c| c.expires_on.clone())
    } else if request.secret_expires_on.trim().is_empty() && new_secret.is_none() {
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
        return Err(ConnectionError::Invalid(errors));
    }
    let (Some(authority_host), Some(client_id), Some(expires_on)) =
        (authority_host, client_id, expires_on)
    else {
        return Err(ConnectionError::Invalid(errors));
    };

    let urls = entra_urls(services.public_url, &org.slug);
    let tenant_id = match tenant_guid {
        Some(guid) => guid.0,
        None => verify::discover(
            services.http,
            &authority_host,
            tenant_input,
            &urls.redirect_uri,
        )
        .await
        .map(|d| d.tenant_id)
        .map_err(|f| {
            ConnectionError::field(
                "tenant",
                format!("No directory found for {tenant_input}. {}", f.message),
            )
        })?,
    };

    // One credential per configuration: the certificate, or the secret.
    let (secret, certificate) = if with_certificate {
        (None, draft.certificate.clone())
    } else {
        let secret = match new_secret {
            Some(value) => Some(
                seal_secret(services.sealing_key, &org.id, value, expires_on)
                    .map_err(StoredConnectionError::from)?,
            ),
            None => draft
                .secret
                .clone()
                .map(|s| StoredSecret { expires_on, ..s }),
        };
        (secret, None)
    };
    let credentials_changed = draft.authority_host != authority_host
        || draft.tenant_id.as_deref() != Some(tenant_id.as_str())
        || draft.client_id.as_deref() != Some(client_id.0.as_str())
        || new_secret.is_some()
        || draft.credential_kind() != Some(request.credential);
    let same_app = draft.client_id.as_deref() == Some(client_id.0.as_str());
    let updated = ConnectionConfig {
        protocol: Protocol::Oidc,
        saml: None,
        allow_idp_initiated: false,
        cloud: request.cloud,
        authority_host,
        tenant_id: Some(tenant_id),
        client_id: Some(client_id.0),
        secret,
        certificate,
        // The app Gatehouse created stays known while the client ID is its.
        application_object_id: draft.application_object_id.clone().filter(|_| same_app),
        verification: if credentials_changed {
            None
        } else {
            draft.verification.clone()
        },
        policy: draft.policy.clone(),
    };
    let detail = if with_certificate {
        "credentials with Gatehouse's certificate"
    } else if new_secret.is_some() {
        "credentials and a new client secret"
    } else {
        "credentials"
    };
    let entry = AuditEntry {
        detail,
        ..AuditEntry::success(Some(&org.id), "connection.draft.credentials", &org.slug)
    };
    store_draft(services, org, request.version, &updated, &entry, actor).await?;
    if credentials_changed {
        // The email domains' proofs follow the directory: checked again at once.
        let directory_now = crate::domains::directory_proof(
            &updated.authority_host,
            updated.tenant_id.as_deref().unwrap_or_default(),
        );
        crate::domains::recheck_after_credentials_change(
            services.domains,
            &org.id,
            &directory_now,
            actor,
        )
        .await?;
    }
    read(services, org, warnings).await
}

/// Step 2, with a certificate instead of a secret: Gatehouse makes an RSA key and a
/// certificate valid two years for the app, seals the key with the draft, and offers the
/// certificate (`.cer`) for the admin to upload under "Certificates & secrets". A new one
/// replaces the draft's previous certificate; the draft authenticates with it once the admin
/// saves the credentials with it.
pub async fn generate_certificate(
    services: &ConnectionServices<'_>,
    org: &OrganizationRecord,
    request: &VersionRequest,
    actor: &Actor,
) -> ConnectionResult<Connection> {
    let Loaded { draft, .. } = load(services.storage, org).await?;
    let common_name = format!("Gatehouse for {}", org.name);
    let now = services.now();
    let made = tokio::task::spawn_blocking(move || certificates::make(&common_name, now))
        .await
        .map_err(|e| StoredConnectionError::Certificate(e.to_string()))?
        .map_err(|e| StoredConnectionError::Certificate(e.to_string()))?;
    let thumbprint = certificates::sha1_thumbprint(&made.certificate_der)
        .map_err(|e| StoredConnectionError::Certificate(e.to_string()))?;
    let certificate = StoredCertificate {
        sealed_key: services
            .sealing_key
            .seal(&made.key_pkcs8_der, &certificate_context(&org.id))
            .map_err(StoredConnectionError::from)?,
        certificate_der_base64: base64::engine::general_purpose::STANDARD
            .encode(&made.certificate_der),
        thumbprint: thumbprint.clone(),
        expires_on: made.expires_on.to_string(),
        key_id: None,
    };
    // Replacing the certificate the draft authenticates with needs a new verification.
    let in_use = draft.credential_kind() == Some(ClientCredentialKind::Certificate);
    let updated = ConnectionConfig {
        certificate: Some(certificate),
        verification: if in_use {
            None
        } else {
            draft.verification.clone()
        },
        ..draft
    };
    let detail = format!("certificate {thumbprint}");
    let entry = AuditEntry {
        detail: &detail,
        ..AuditEntry::success(Some(&org.id), "connection.draft.certificate", &org.slug)
    };
    store_draft(services, org, request.version, &updated, &entry, actor).await?;
    read(services, org, BTreeMap::new()).await
}

/// The draft's certificate (DER), for the admin to upload; `None` when it has none.
pub async fn draft_certificate(
    services: &ConnectionServices<'_>,
    org: &OrganizationRecord,
) -> ConnectionResult<Option<Vec<u8>>> {
    let Loaded { draft, .. } = load(services.storage, org).await?;
    draft
        .certificate
        .map(|c| {
            base64::engine::general_purpose::STANDARD
                .decode(c.certificate_der_base64)
                .map_err(|e| StoredConnectionError::Certificate(e.to_string()).into())
        })
        .transpose()
}

/// Step 3: runs the live checks on the draft's values and keeps the result with the draft.
pub async fn verify_draft(
    services: &ConnectionServices<'_>,
    org: &OrganizationRecord,
    request: &VersionRequest,
    actor: &Actor,
) -> ConnectionResult<Connection> {
    let Loaded { draft, .. } = load(services.storage, org).await?;
    if draft.protocol == Protocol::Saml {
        return saml::verify_draft(services, org, request, actor, draft).await;
    }
    let (Some(tenant_id), Some(client_id), Some(credential)) = (
        &draft.tenant_id,
        &draft.client_id,
        open_credential(services.sealing_key, &org.id, &draft)?,
    ) else {
        return Err(not_saved("verify"));
    };
    if !authority::permitted(services.allowed_authorities, &draft.authority_host) {
        return Err(ConnectionError::field(
            "authority_host",
            "This authority host is no longer allowed: choose one of Entra's clouds.",
        ));
    }
    let expires_on = draft
        .secret
        .as_ref()
        .map(|s| &s.expires_on)
        .or(draft.certificate.as_ref().map(|c| &c.expires_on))
        .map(|on| parse_date(on).map_err(StoredConnectionError::Date))
        .transpose()?
        .ok_or_else(|| not_saved("verify"))?;
    let urls = entra_urls(services.public_url, &org.slug);
    let candidate = Candidate {
        cloud: draft.cloud,
        authority_host: &draft.authority_host,
        tenant_id,
        client_id,
        credential: &credential,
        expires_on,
    };
    let checks = verify::run_checks(
        services.http,
        &candidate,
        services.now().date(),
        &urls.redirect_uri,
    )
    .await;
    keep_verification(services, org, request, actor, draft, checks).await
}

/// Keeps the checks' result with the draft (passed when none failed or was skipped), audited.
async fn keep_verification(
    services: &ConnectionServices<'_>,
    org: &OrganizationRecord,
    request: &VersionRequest,
    actor: &Actor,
    draft: ConnectionConfig,
    checks: Vec<CheckResult>,
) -> ConnectionResult<Connection> {
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
            checked_at: to_millis(services.now()),
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
    store_draft(services, org, request.version, &updated, &entry, actor).await?;
    read(services, org, BTreeMap::new()).await
}

/// Step 5: who may sign in with SSO. A domain another organization has proven cannot be
/// listed; the others wait for their proof (`domains`).
pub async fn save_policy(
    services: &ConnectionServices<'_>,
    org: &OrganizationRecord,
    request: &SavePolicyRequest,
    actor: &Actor,
) -> ConnectionResult<Connection> {
    let Loaded { draft, record } = load(services.storage, org).await?;
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
                domains.push(EmailDomain {
                    domain,
                    verified: false,
                });
            }
            Ok(_) => {}
            Err(e) => errors.add("email_domains", format!("“{raw}”: {e}")),
        }
    }
    let names: Vec<String> = domains.iter().map(|d| d.domain.clone()).collect();
    for taken in services
        .storage
        .domains_proven_elsewhere(&org.id, &names)
        .await?
    {
        errors.add(
            "email_domains",
            format!("“{taken}” has been proven by another organization, so it cannot be listed here. If it is yours, ask your Gatehouse operator."),
        );
    }
    if !errors.is_empty() {
        return Err(ConnectionError::Invalid(errors));
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
    store_draft(services, org, request.version, &updated, &entry, actor).await?;
    // A domain listed after the test sign-in is proven by the directory's verified domains
    // that test read.
    if let Some(test) = record.and_then(|r| current_test_sign_in(&r, &updated)) {
        prove_listed_domains(
            services.storage,
            services.now(),
            org,
            &updated,
            &test,
            actor,
        )
        .await?;
    }
    read(services, org, BTreeMap::new()).await
}

/// Proves the draft's listed email domains that its directory has verified, as the draft's
/// passed test sign-in read them from Microsoft Graph.
async fn prove_listed_domains(
    storage: &Storage,
    now: time::OffsetDateTime,
    org: &OrganizationRecord,
    draft: &ConnectionConfig,
    test: &TestSignInView,
    actor: &Actor,
) -> ConnectionResult<()> {
    let Some(tenant) = draft.tenant_id.as_deref() else {
        return Ok(());
    };
    if !test.passed || test.directory_domains.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = draft
        .policy
        .email_domains
        .iter()
        .map(|d| d.domain.clone())
        .collect();
    crate::domains::prove_by_directory(
        storage,
        now,
        &org.id,
        &listed,
        &test.directory_domains,
        &crate::domains::directory_proof(&draft.authority_host, tenant),
        actor,
    )
    .await?;
    Ok(())
}

/// Step 6: the draft becomes the active configuration, atomically. It must have passed
/// verification and a test sign-in with its current credentials.
pub async fn activate(
    services: &ConnectionServices<'_>,
    org: &OrganizationRecord,
    request: &VersionRequest,
    actor: &Actor,
) -> ConnectionResult<Connection> {
    let Loaded { draft, record } = load(services.storage, org).await?;
    let Some(record) = record else {
        return Err(not_saved("activate"));
    };
    if !draft.verification.as_ref().is_some_and(|v| v.passed) {
        return Err(ConnectionError::field(
            "activate",
            "Verify the connection, and fix what failed, before activating it.",
        ));
    }
    if !current_test_sign_in(&record, &draft).is_some_and(|t| t.passed) {
        return Err(ConnectionError::field(
            "activate",
            "Run a test sign-in that passes with these credentials before activating them.",
        ));
    }
    let listed_domains: Vec<String> = draft
        .policy
        .email_domains
        .iter()
        .map(|d| d.domain.clone())
        .collect();
    // The credential that served until now, if another: the admin removes it in Entra.
    let replaced = record
        .active_config
        .as_deref()
        .map(parse_active)
        .transpose()?
        .map(|old| replaced_credential(&old, &draft))
        .unwrap_or_default();
    services
        .storage
        .activate_connection(
            &org.id,
            request.version,
            &listed_domains,
            actor,
            services.now(),
        )
        .await
        .map_err(version_conflict)?;
    // A credential that is already near its expiry is warned about now, not at the next
    // daily round; the activation stands either way.
    if let Err(e) = expiry::warn_due(services, Some(&org.id)).await {
        tracing::warn!(organization = %org.id, error = %e, "checking the new credentials' expiry failed");
    }
    let mut notices = BTreeMap::new();
    if let Some(notice) = replaced {
        notices.insert("activate".to_string(), notice);
    }
    read(services, org, notices).await
}

/// What to tell the admin when `new` authenticates with another credential than `old` did:
/// the old one still works in Entra until they remove it there.
fn replaced_credential(old: &ConnectionConfig, new: &ConnectionConfig) -> Option<String> {
    let client = |config: &ConnectionConfig| {
        expiry::credentials(config)
            .into_iter()
            .find(|c| c.kind != expiry::CredentialKind::SamlSigningCertificate)
    };
    let (old, new) = (client(old)?, client(new)?);
    (old != new).then(|| {
        format!(
            "{} now signs people in. {} still works in Entra: remove it from the app under Certificates & secrets once nothing else uses it.",
            new.describe(),
            old.describe()
        )
    })
}

/// After an automatic rotation: a draft that authenticates with the rotated certificate
/// (usually the activated one, unchanged) takes the new one too, so that activating it later
/// does not bring back the removed key. Its verification stays: the app is the same.
async fn follow_rotation_in_draft(
    services: &ConnectionServices<'_>,
    organization_id: &str,
    old_thumbprint: &str,
    new: &StoredCertificate,
) -> Result<(), StoredConnectionError> {
    let Some(record) = services.storage.find_connection(organization_id).await? else {
        return Ok(());
    };
    let draft = parse_config(&record.draft_config)?;
    if draft.certificate.as_ref().map(|c| c.thumbprint.as_str()) != Some(old_thumbprint) {
        return Ok(());
    }
    let updated = ConnectionConfig {
        certificate: Some(new.clone()),
        ..draft
    };
    let detail = format!("certificate {} after its rotation", new.thumbprint);
    let entry = AuditEntry {
        detail: &detail,
        ..AuditEntry::success(
            Some(organization_id),
            "connection.draft.certificate",
            organization_id,
        )
    };
    // A draft saved meanwhile keeps what the admin saved.
    match services
        .storage
        .save_connection_draft(
            organization_id,
            record.draft_version,
            &to_json(&updated)?,
            &entry,
            &Actor::system(),
            services.now(),
        )
        .await
    {
        Ok(_) | Err(StorageError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Turns SSO off at once; password sign-in for admins and operators keeps working.
pub async fn disable(
    services: &ConnectionServices<'_>,
    org: &OrganizationRecord,
    actor: &Actor,
) -> ConnectionResult<Connection> {
    services
        .storage
        .disable_connection(&org.id, actor, services.now())
        .await
        .map_err(|e| match e {
            StorageError::NotFound => {
                ConnectionError::field("disable", "SSO is not active for this organization.")
            }
            other => other.into(),
        })?;
    read(services, org, BTreeMap::new()).await
}
