use crate::auth::rate_limit::{AddressLimit, SignInLimits};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::sealing::SealingKey;
use crate::oidc::DirectoryCache;
use crate::storage::Storage;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;

/// Everything a request handler may need: one shared allocation, so that the clone every
/// request takes (and drops) is one reference count, not a copy of every field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }

    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// What reading an organization's directory needs.
    pub fn directory_services(&self) -> crate::directory::DirectoryServices<'_> {
        crate::directory::DirectoryServices {
            storage: &self.storage,
            sealing_key: &self.sealing_key,
            reader: &self.directory_reader,
            http: &self.http,
            clock: self.clock.as_ref(),
            allowed_authorities: &self.config.allowed_authorities,
        }
    }
}

impl AppState {
    /// What the sign-in flow (and the wizard's test sign-in) works with.
    pub fn sign_in_services(&self) -> crate::sign_in::SignInServices<'_> {
        crate::sign_in::SignInServices {
            storage: &self.storage,
            clock: self.clock.as_ref(),
            directories: &self.directories,
            http: &self.http,
            active_connections: &self.active_connections,
            sealing_key: &self.sealing_key,
            public_url: &self.config.public_url,
            clock_skew: self.config.clock_skew,
            allowed_authorities: &self.config.allowed_authorities,
        }
    }

    /// What email domain proofs work with.
    pub fn domain_services(&self) -> crate::domains::DomainServices<'_> {
        crate::domains::DomainServices {
            storage: &self.storage,
            clock: self.clock.as_ref(),
            txt: &self.txt_lookup,
            http: &self.http,
            public_url: &self.config.public_url,
        }
    }

    /// What the wizard's steps work with.
    pub fn connection_services(&self) -> crate::connections::ConnectionServices<'_> {
        crate::connections::ConnectionServices {
            storage: &self.storage,
            clock: self.clock.as_ref(),
            http: &self.http,
            sealing_key: &self.sealing_key,
            public_url: &self.config.public_url,
            allowed_authorities: &self.config.allowed_authorities,
            domains: self.domain_services(),
        }
    }
}

impl AppState {
    /// What Gatehouse as a provider for the vendor's applications works with.
    pub fn provider_services(&self) -> crate::provider::ProviderServices<'_> {
        crate::provider::ProviderServices {
            storage: &self.storage,
            clock: self.clock.as_ref(),
            sealing_key: &self.sealing_key,
            keys: &self.signing_keys,
            issuer: &self.config.public_url,
            session_lifetime: self.config.session_lifetime,
            http: &self.application_http,
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What server-rendered pages read.
impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// What every `AppState` clone shares.
pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub storage: Storage,
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    pub sign_in_limits: SignInLimits,
    /// Single sign-on starts and callbacks per client address.
    pub sso_limit: AddressLimit,
    /// Uses of one-time links (first run, invites, setup links) per client address.
    pub link_limit: AddressLimit,
    /// Each organization's active connection, read and opened for sign-ins.
    pub active_connections: crate::sign_in::active::ActiveConnections,
    /// Each directory's discovery document and keys.
    pub directories: DirectoryCache,
    /// Microsoft Graph tokens and recent whole-directory reads, per app registration.
    pub directory_reader: crate::directory::DirectoryReader,
    /// The keys that sign the ID tokens Gatehouse issues to applications.
    pub signing_keys: crate::provider::SigningKeys,
    /// Members CSV imports in progress or recently finished.
    pub member_imports: crate::members::import_jobs::ImportJobs,
    pub sealing_key: SealingKey,
    /// The one HTTP client for calls to Entra, with timeouts.
    pub http: reqwest::Client,
    /// The HTTP client for calls to the vendor's applications (back-channel logout), which
    /// operators register: timeouts, no redirects.
    pub application_http: reqwest::Client,
    /// TXT lookups for email domain proofs.
    pub txt_lookup: crate::domains::dns::TxtLookup,
    /// The operator's SMTP server, when set.
    pub mailer: Option<crate::mail::Mailer>,
    /// This running instance, as the leases on background jobs name it (random per start).
    pub instance: Arc<str>,
}
