//! Serde types of the JSON API under `/api/v1/`, shared by the server and the browser.
//!
//! Times are RFC 3339 strings in UTC. Secrets never appear in a response type.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

mod mapping;
pub use mapping::*;

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ErrorDetail {
    /// A stable machine-readable code: `unauthorized`, `forbidden`, `not_found`,
    /// `validation`, `conflict`, `rate_limited`, `csrf`, `internal`.
    pub code: String,
    /// A sentence a person can act on.
    pub message: String,
    /// Per-field messages for form errors, keyed by the request's field name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

/// Who is signed in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Me {
    pub kind: AccountKind,
    pub id: String,
    /// None for a member whose directory did not vouch for an email, until an admin sets one.
    pub email: Option<String>,
    pub name: String,
    /// The organization an admin or member belongs to; none for operators.
    pub organization: Option<OrganizationRef>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Operator,
    Admin,
    /// A member who signed in with the organization's directory.
    Member,
}

/// Which members a list shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MemberFilter {
    #[default]
    All,
    /// Mapped to a directory user.
    Mapped,
    Unmapped,
    /// Selected for SSO.
    SsoEnabled,
    /// Signed in with SSO in the last 30 days.
    RecentSso,
}

impl MemberFilter {
    pub const ALL: [MemberFilter; 5] = [
        MemberFilter::All,
        MemberFilter::Mapped,
        MemberFilter::Unmapped,
        MemberFilter::SsoEnabled,
        MemberFilter::RecentSso,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MemberFilter::All => "all",
            MemberFilter::Mapped => "mapped",
            MemberFilter::Unmapped => "unmapped",
            MemberFilter::SsoEnabled => "sso_enabled",
            MemberFilter::RecentSso => "recent_sso",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            MemberFilter::All => "All members",
            MemberFilter::Mapped => "Mapped to the directory",
            MemberFilter::Unmapped => "Not mapped",
            MemberFilter::SsoEnabled => "SSO enabled",
            MemberFilter::RecentSso => "Signed in with SSO in the last 30 days",
        }
    }
}

/// How a member list is ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MemberSort {
    #[default]
    Name,
    Email,
    /// Newest SSO sign-in first; never signed in last.
    LastSignIn,
}

impl MemberSort {
    pub const ALL: [MemberSort; 3] = [MemberSort::Name, MemberSort::Email, MemberSort::LastSignIn];

    pub fn as_str(self) -> &'static str {
        match self {
            MemberSort::Name => "name",
            MemberSort::Email => "email",
            MemberSort::LastSignIn => "last_sign_in",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            MemberSort::Name => "Name",
            MemberSort::Email => "Email",
            MemberSort::LastSignIn => "Last SSO sign-in",
        }
    }
}

/// What signing out ended, and where to end the directory's own session too.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SignedOut {
    /// The directory's sign-out page, when the session came from a sign-in with it.
    pub directory_sign_out_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct OrganizationRef {
    pub id: String,
    pub name: String,
    pub slug: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SignInRequest {
    pub email: String,
    pub password: String,
}

/// The email-first sign-in page's first question: how does this email sign in?
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SignInMethodRequest {
    pub email: String,
    /// A relative path on Gatehouse to open after sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to: Option<String>,
}

/// Either the organization's directory (open `sso_url`) or a password.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum SignInMethod {
    Sso {
        organization_name: String,
        /// Where the browser goes to start the sign-in with the directory.
        sso_url: String,
    },
    Password,
}

/// Whether a first-run link can still be used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct LinkStatus {
    pub valid: bool,
    pub expires_at: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct FirstRunRequest {
    pub token: String,
    pub email: String,
    pub name: String,
    pub password: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub member_count: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    /// 1-based page number.
    pub page: i64,
    pub per_page: i64,
}

impl<T> Page<T> {
    pub fn page_count(&self) -> i64 {
        if self.total == 0 {
            1
        } else {
            (self.total + self.per_page - 1) / self.per_page
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CreateOrganizationRequest {
    pub name: String,
    pub slug: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RenameOrganizationRequest {
    pub name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CreateInviteRequest {
    pub email: String,
    /// Set to invite a member who signs in with the directory: accepting makes them an admin
    /// with a password. Without it, such an invite is refused (409) so the admin can decide.
    #[serde(default)]
    pub confirm_promotion: bool,
}

/// A new invite. The link is shown once: Gatehouse keeps only a hash of its token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct InviteCreated {
    pub invite_url: String,
    pub email: String,
    pub expires_at: String,
}

/// What the invite page shows before the invitee accepts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct InviteInfo {
    pub organization_name: String,
    pub email: String,
    pub expires_at: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AcceptInviteRequest {
    pub name: String,
    pub password: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Admin,
    #[default]
    Member,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Admin => "admin",
            MemberRole::Member => "member",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    #[default]
    Active,
    Disabled,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Active => "active",
            MemberStatus::Disabled => "disabled",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Member {
    pub id: String,
    pub organization_id: String,
    /// None when the directory did not vouch for the member's email (not verified, and its
    /// domain not proven), until an admin sets one.
    pub email: Option<String>,
    pub display_name: String,
    pub role: MemberRole,
    pub status: MemberStatus,
    /// The directory (tenant) ID of the mapped directory user, once mapped.
    pub directory_tenant_id: Option<String>,
    /// The object ID of the mapped directory user, once mapped.
    pub directory_object_id: Option<String>,
    /// The mapped directory user's UPN, when Gatehouse read it from the directory.
    pub directory_user_principal_name: Option<String>,
    /// Selected for SSO (what counts in "selected members only" mode).
    pub sso_enabled: bool,
    pub last_sso_sign_in_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CreateMemberRequest {
    pub email: String,
    pub display_name: String,
    pub role: MemberRole,
}

/// A partial update: absent fields keep their value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UpdateMemberRequest {
    /// Sets the member's email (it cannot be removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<MemberRole>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<MemberStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso_enabled: Option<bool>,
    /// The directory user's Object ID (a GUID) in the connected directory; an empty string
    /// removes the mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_object_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AuditEvent {
    pub id: i64,
    pub organization_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub client_addr: String,
    pub detail: String,
    pub created_at: String,
}

/// Which Microsoft cloud the directory lives in. Each needs its own app registration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Cloud {
    #[default]
    Global,
    UsGovernment,
    China,
    /// Another authority host, given in `authority_host` (used by tests and private clouds).
    Custom,
}

impl Cloud {
    /// The authority host of a national cloud; `None` for a custom one.
    pub fn authority_host(self) -> Option<&'static str> {
        match self {
            Cloud::Global => Some("https://login.microsoftonline.com"),
            Cloud::UsGovernment => Some("https://login.microsoftonline.us"),
            Cloud::China => Some("https://login.partner.microsoftonline.cn"),
            Cloud::Custom => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Cloud::Global => "Global (login.microsoftonline.com)",
            Cloud::UsGovernment => "US Government (login.microsoftonline.us)",
            Cloud::China => "China, operated by 21Vianet (login.partner.microsoftonline.cn)",
            Cloud::Custom => "Another authority host",
        }
    }
}

/// Who may sign in with SSO.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SsoMode {
    #[default]
    Disabled,
    Everyone,
    SelectedMembers,
}

/// Where the connection stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Nothing saved yet.
    #[default]
    None,
    /// Work in progress, never activated.
    Draft,
    Active,
    Disabled,
}

impl ConnectionStatus {
    /// How the console names the status.
    pub fn label(self) -> &'static str {
        match self {
            ConnectionStatus::None => "Not set up",
            ConnectionStatus::Draft => "Draft: not active yet",
            ConnectionStatus::Active => "Active",
            ConnectionStatus::Disabled => "Disabled",
        }
    }
}

/// The credentials and directory an admin pastes from Entra. The secret is write-only: send
/// it to set or replace it, leave it out to keep the stored one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SaveCredentialsRequest {
    /// The draft version this edit starts from; a stale one is refused.
    pub version: i64,
    pub cloud: Cloud,
    /// Only for `custom`: the authority host, such as `https://login.example.net`.
    #[serde(default)]
    pub authority_host: String,
    /// The Directory (tenant) ID, or a verified domain of the directory.
    pub tenant: String,
    /// The Application (client) ID.
    pub client_id: String,
    /// The client secret's Value. Absent or empty keeps the stored secret.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The secret's expiry date as the portal shows it, `YYYY-MM-DD`.
    #[serde(default)]
    pub secret_expires_on: String,
    /// What Gatehouse authenticates with: the secret, or the certificate it generated (which
    /// the admin uploaded to the app; the secret fields are then left out).
    #[serde(default)]
    pub credential: ClientCredentialKind,
}

/// Which protocol the organization's Entra admin set up: an app registration (OpenID Connect),
/// or an Enterprise application with SAML-based sign-on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    #[default]
    Oidc,
    Saml,
}

/// The directory's SAML side, from its Federation Metadata XML (uploaded as text, or read from
/// the App Federation Metadata URL), or the three values pasted by hand (Login URL, Microsoft
/// Entra Identifier, Certificate (Base64)). Exactly one of the three ways.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SaveSamlRequest {
    pub version: i64,
    #[serde(default)]
    pub metadata_xml: Option<String>,
    #[serde(default)]
    pub metadata_url: Option<String>,
    #[serde(default)]
    pub login_url: Option<String>,
    #[serde(default)]
    pub entity_id: Option<String>,
    #[serde(default)]
    pub certificate: Option<String>,
    /// Accept sign-ins started at Entra (My Apps, "Test this application") without a request
    /// from Gatehouse. Off by default: such a response can sign a browser in unasked.
    #[serde(default)]
    pub allow_idp_initiated: bool,
}

/// A SAML signing certificate as the console shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SamlCertificateView {
    pub thumbprint: String,
    pub expires_on: String,
    pub days_left: i64,
}

/// The directory's SAML side of a configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SamlView {
    pub entity_id: String,
    pub login_url: String,
    pub metadata_url: Option<String>,
    pub certificates: Vec<SamlCertificateView>,
    pub allow_idp_initiated: bool,
}

/// What an admin registers in Entra for SAML-based sign-on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SamlServiceProviderView {
    /// "Identifier (Entity ID)".
    pub identifier: String,
    /// "Reply URL (Assertion Consumer Service URL)".
    pub reply_url: String,
    /// "Sign on URL".
    pub sign_on_url: String,
    /// "Logout Url".
    pub logout_url: String,
    /// Gatehouse's metadata ("Upload metadata file" in Entra).
    pub metadata_url: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SavePolicyRequest {
    pub version: i64,
    pub mode: SsoMode,
    pub allow_admins: bool,
    pub create_members: bool,
    pub new_member_role: MemberRole,
    /// Email domains the organization uses, for the email-first sign-in page.
    #[serde(default)]
    pub email_domains: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct VersionRequest {
    pub version: i64,
}

/// How Gatehouse authenticates to the directory's token endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClientCredentialKind {
    /// A client secret the admin pasted.
    #[default]
    Secret,
    /// A certificate Gatehouse generated (its private key never leaves Gatehouse).
    Certificate,
}

/// A certificate Gatehouse generated for the app registration: what the admin uploads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CertificateHint {
    /// SHA-1, upper-case hex: the Thumbprint column in Entra's "Certificates & secrets".
    pub thumbprint: String,
    /// `YYYY-MM-DD`.
    pub expires_on: String,
    /// Days from today until it expires (negative once expired).
    pub days_left: i64,
    /// Where to download it (`.cer`, DER).
    pub download_url: String,
}

/// What is stored about the client secret: never the secret itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SecretHint {
    /// The last four characters.
    pub last4: String,
    /// `YYYY-MM-DD`.
    pub expires_on: String,
    /// Days from today until it expires (negative once expired).
    pub days_left: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PolicyView {
    pub mode: SsoMode,
    pub allow_admins: bool,
    pub create_members: bool,
    pub new_member_role: MemberRole,
    pub email_domains: Vec<EmailDomainView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct EmailDomainView {
    pub domain: String,
    /// True once the organization proved it (see `ConnectionView::domains`).
    pub verified: bool,
}

/// Where the proof of a listed email domain stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DomainProofState {
    /// Not proven yet: email-first sign-in does not use it.
    Waiting,
    Proven,
    /// Proven, but the daily check finds its TXT record missing: it still routes sign-ins
    /// until seven days after `missing_since`.
    Missing,
    /// Its proof has been missing for seven days: it no longer routes sign-ins.
    Lapsed,
    /// Another organization has proven it: it cannot be proven here.
    ClaimedElsewhere,
}

/// A listed email domain, its proof, and the DNS record that proves it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct EmailDomainProof {
    pub domain: String,
    pub state: DomainProofState,
    /// The TXT record to add at the domain's DNS host: its name and value. Keep it in place:
    /// it is checked again every day.
    pub record_name: String,
    pub record_value: String,
    /// "its DNS record" or "approved by operator …".
    pub proven_by: Option<String>,
    pub proven_at: Option<String>,
    pub missing_since: Option<String>,
}

/// One live check of the connection, as a line of the "Verify" step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CheckResult {
    /// `directory`, `credentials`, `secret_expiry`.
    pub check: String,
    pub title: String,
    /// `passed`, `failed`, `warning`, `skipped`.
    pub outcome: String,
    /// What happened and what to do, in plain words.
    pub message: String,
    /// The provider's own error text, when there was one (shown escaped under "details").
    pub details: Option<String>,
    /// The AADSTS code the provider gave, if any.
    pub aadsts: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct VerificationView {
    pub checked_at: String,
    pub passed: bool,
    pub checks: Vec<CheckResult>,
}

/// One configuration (the draft or the active one) as the console shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ConnectionConfigView {
    #[serde(default)]
    pub protocol: Protocol,
    #[serde(default)]
    pub saml: Option<SamlView>,
    pub cloud: Cloud,
    pub authority_host: String,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub secret: Option<SecretHint>,
    /// The certificate Gatehouse generated for the app, if any.
    #[serde(default)]
    pub certificate: Option<CertificateHint>,
    /// What Gatehouse authenticates with once saved.
    #[serde(default)]
    pub credential: ClientCredentialKind,
    pub policy: PolicyView,
    /// The last verification of these exact credentials, if any.
    pub verification: Option<VerificationView>,
}

/// The organization's SSO connection: what Entra needs, the draft being edited and the
/// configuration that serves sign-ins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ConnectionView {
    pub status: ConnectionStatus,
    /// Register exactly this Redirect URI (Web platform) on the Entra app.
    pub redirect_uri: String,
    /// The Home page URL: what the My Apps tile and "Test this application" open.
    pub home_page_url: String,
    pub logout_url: String,
    /// The addresses for SAML-based sign-on.
    pub saml: SamlServiceProviderView,
    pub draft_version: i64,
    pub draft: Option<ConnectionConfigView>,
    pub active: Option<ConnectionConfigView>,
    pub activated_at: Option<String>,
    /// The draft's last test sign-in, when it was made with the draft's current credentials.
    pub test_sign_in: Option<TestSignInView>,
    /// When someone last signed in with this connection.
    pub last_sign_in_at: Option<String>,
    /// The last sign-in that failed, and why.
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// Field warnings of the last save, such as a secret that looks like a Secret ID.
    #[serde(default)]
    pub warnings: BTreeMap<String, String>,
    /// The email domains the draft or the active configuration lists, with their proofs.
    #[serde(default)]
    pub domains: Vec<EmailDomainProof>,
    /// The active connection's credentials that expire within 30 days or have expired.
    #[serde(default)]
    pub expiring: Vec<ExpiringCredential>,
    /// The clouds where "Set up automatically" is offered (the operator registered the setup
    /// client there); empty when it is not.
    #[serde(default)]
    pub automatic_clouds: Vec<Cloud>,
    /// Whether an automatic setup is under way: the wizard opens on it.
    #[serde(default)]
    pub automatic_running: bool,
}

/// Starts the automatic setup: a device code sign-in of the directory's admin, then Gatehouse
/// creates the app registration itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct StartAutomaticSetupRequest {
    pub cloud: Cloud,
    /// For a custom cloud: the authority host.
    #[serde(default)]
    pub authority_host: String,
    /// The directory's domain or GUID; empty to let the admin's sign-in find it.
    #[serde(default)]
    pub tenant: String,
    /// Whether to grant the app Microsoft Graph's `User.Read.All` application permission, for
    /// the directory picker of the members' mapping (off by default: least privilege).
    #[serde(default)]
    pub directory_picker: bool,
}

/// The admin's answer once Gatehouse shows which directory they signed in to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ConfirmAutomaticSetupRequest {
    /// The setup this answers (`AutomaticSetupView.id`).
    pub id: String,
    /// `true` creates the app in this directory; `false` stops without creating anything.
    pub proceed: bool,
    /// Whether to remove the setup client's own consent grant from the directory at the end.
    #[serde(default)]
    pub remove_setup_access: bool,
}

/// Where an automatic setup is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AutomaticSetupStage {
    /// Waiting for the admin to enter the code at Microsoft's page and sign in.
    SignIn,
    /// Signed in: the admin confirms the directory.
    Confirm,
    /// Creating the app registration.
    Working,
    /// The app exists and the draft uses it: verify, test sign-in and activate follow.
    Done,
    Failed,
    Cancelled,
}

/// The directory the admin signed in to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SetupDirectoryView {
    pub tenant_id: String,
    pub name: String,
    pub domains: Vec<String>,
    /// Who signed in.
    pub admin: Option<String>,
}

/// One step of the automatic setup and whether it is done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SetupStepView {
    pub label: String,
    pub done: bool,
}

/// Whether the automatic setup is offered, and the organization's latest one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AutomaticSetupState {
    /// The clouds whose setup client the operator registered.
    pub clouds: Vec<Cloud>,
    pub setup: Option<AutomaticSetupView>,
}

/// An automatic setup as the wizard shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AutomaticSetupView {
    pub id: String,
    pub stage: AutomaticSetupStage,
    pub user_code: Option<String>,
    pub verification_uri: Option<String>,
    /// When the code stops working (RFC 3339).
    pub code_expires_at: Option<String>,
    /// Seconds left on the code, as the server counts.
    pub code_seconds_left: Option<i64>,
    /// What is happening, or why it stopped, in words for the admin.
    pub message: Option<String>,
    pub directory: Option<SetupDirectoryView>,
    pub steps: Vec<SetupStepView>,
    /// Objects created in the directory that Gatehouse could not delete after a failure.
    #[serde(default)]
    pub leftovers: Vec<String>,
    pub directory_picker: bool,
}

/// A credential of an active connection that expires within 30 days, or has expired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ExpiringCredential {
    pub organization_id: String,
    pub organization_name: String,
    /// How an admin recognizes it: "The client secret …Ab1x".
    pub credential: String,
    /// `YYYY-MM-DD`.
    pub expires_on: String,
    /// Days from today until it expires (negative once expired).
    pub days_left: i64,
}

impl ExpiringCredential {
    /// The warning an admin or operator reads.
    pub fn warning(&self) -> String {
        let Self {
            credential,
            expires_on,
            days_left,
            ..
        } = self;
        match *days_left {
            d if d < 0 => format!(
                "{credential} expired on {expires_on}: sign-in with the directory is refused until it is replaced."
            ),
            0 => format!("{credential} expires today ({expires_on}). Replace it now, or sign-in with the directory stops."),
            1 => format!("{credential} expires on {expires_on}, in 1 day. Replace it before then, or sign-in with the directory stops."),
            d => format!("{credential} expires on {expires_on}, in {d} days. Replace it before then, or sign-in with the directory stops."),
        }
    }
}

/// A setup link as operators see it in the list (the link itself is shown only once).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SetupLink {
    pub id: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    /// `open`, `used`, `revoked` or `expired`.
    pub status: String,
    pub used_by: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CreateSetupLinkRequest {
    /// How many days the link works: 1 to 30, 7 when absent.
    #[serde(default)]
    pub valid_days: Option<i64>,
}

/// A new setup link. Gatehouse keeps only a hash of its token: this is the only time it is shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SetupLinkCreated {
    pub id: String,
    pub setup_url: String,
    pub expires_at: String,
}

/// What the setup link's page shows before the person signs up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SetupLinkInfo {
    pub organization_id: String,
    pub organization_name: String,
    pub expires_at: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UseSetupLinkRequest {
    pub email: String,
    pub name: String,
    pub password: String,
}

/// The result of the wizard's last test sign-in. A test sign-in never creates a session or
/// changes members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TestSignInView {
    pub at: String,
    pub passed: bool,
    pub name: Option<String>,
    /// `preferred_username`: the UPN.
    pub username: Option<String>,
    pub email: Option<String>,
    /// Whether the email's domain owner verified it (`xms_edov`).
    pub email_verified: bool,
    pub object_id: Option<String>,
    pub tenant_id: Option<String>,
    /// Which member this identity maps to, or why none.
    pub mapping: String,
    /// Whether the draft's policy would let this person in, and why.
    pub decision: String,
    /// What went wrong, in plain words, when the sign-in failed.
    pub error: Option<String>,
    pub aadsts: Option<String>,
    /// The provider's own text, shown escaped.
    pub details: Option<String>,
    /// The directory's verified domains, read from Microsoft Graph (on Entra's clouds only):
    /// each listed email domain among them is proven.
    #[serde(default)]
    pub directory_domains: Vec<String>,
    /// Why the directory's verified domains were not read, when they were not.
    #[serde(default)]
    pub directory_domains_note: Option<String>,
    /// What a SAML response carried besides the identity.
    #[serde(default)]
    pub saml: Option<SamlClaimsView>,
}

/// The NameID and every attribute of a SAML test sign-in, as sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SamlClaimsView {
    pub name_id: Option<String>,
    pub name_id_format: Option<String>,
    pub attributes: Vec<SamlAttributeView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SamlAttributeView {
    pub name: String,
    pub values: Vec<String>,
}

/// Where to send the browser for a test sign-in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TestSignInStart {
    pub authorize_url: String,
}

/// How long an application's refresh tokens work unless the operator says otherwise: 30 days.
pub const DEFAULT_REFRESH_HOURS: i64 = 24 * 30;

/// What an operator sets on one of the vendor's applications.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApplicationInput {
    pub name: String,
    /// `confidential` (a server that keeps a client secret) or `public` (a native or
    /// single-page app: PKCE instead of a secret).
    pub kind: String,
    /// Where Gatehouse may send people back, each matched exactly.
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// The organizations whose people may use it; absent: every organization.
    #[serde(default)]
    pub organization_ids: Option<Vec<String>>,
    /// Whether people signed in with a password (operators, break-glass admins) reach it.
    #[serde(default)]
    pub allow_password_sessions: bool,
    /// How long its refresh tokens work, in hours (never past the end of the person's
    /// Gatehouse session); `DEFAULT_REFRESH_HOURS` when absent.
    #[serde(default)]
    pub refresh_token_lifetime_hours: Option<i64>,
    /// How its ID tokens are signed: `ES256` (when absent) or `RS256`, for libraries that know
    /// only RSA.
    #[serde(default)]
    pub signing_alg: Option<String>,
}

/// A client secret as the console shows it: never the secret itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApplicationSecret {
    pub id: String,
    /// The secret's last four characters.
    pub hint: String,
    pub created_at: String,
    /// `valid` or `revoked`.
    pub status: String,
}

/// One of the vendor's applications, with what its developers configure it with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Application {
    /// The client ID.
    pub id: String,
    pub name: String,
    pub kind: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub organization_ids: Option<Vec<String>>,
    /// The organizations it serves, named (`None`: every organization).
    pub organizations: Option<Vec<OrganizationName>>,
    pub allow_password_sessions: bool,
    /// How its ID tokens are signed.
    pub signing_alg: String,
    pub refresh_token_lifetime_hours: i64,
    /// Gatehouse's OpenID Connect discovery document: all an OpenID Connect library needs.
    pub discovery_url: String,
    pub secrets: Vec<ApplicationSecret>,
    pub created_at: String,
    pub updated_at: String,
}

/// A new client secret: shown in this answer only; Gatehouse keeps a hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApplicationSecretCreated {
    pub id: String,
    pub secret: String,
    pub hint: String,
}

/// A signing key rotation: the new keys (one per algorithm in use) are published now and sign
/// from `signs_from`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SigningKeyRotated {
    pub kids: Vec<String>,
    pub signs_from: String,
}

/// An application an organization's people signed in to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApplicationUse {
    pub application_id: String,
    pub name: String,
    pub last_used_at: String,
    /// How many of the organization's members ever signed in to it.
    pub people: i64,
}

/// An organization as a choice in a list: its id and name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct OrganizationName {
    pub id: String,
    pub name: String,
}
