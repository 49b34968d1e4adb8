use crate::auth::rate_limit::{AddressLimit, SignInLimits};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::sealing::SealingKey;
use crate::oidc::DirectoryCache;
use crate::storage::Storage;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;

/// Everything a request handler may need, cloned cheaply into each request.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub storage: Storage,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub sign_in_limits: Arc<SignInLimits>,
    /// Single sign-on starts and callbacks per client address.
    pub sso_limit: Arc<AddressLimit>,
    /// Each directory's discovery document and keys.
    pub directories: Arc<DirectoryCache>,
    /// Microsoft Graph tokens and recent whole-directory reads, per app registration.
    pub directory_reader: Arc<crate::directory::DirectoryReader>,
    /// Members CSV imports in progress or recently finished.
    pub member_imports: Arc<crate::members::import_jobs::ImportJobs>,
    pub sealing_key: Arc<SealingKey>,
    /// The one HTTP client for calls to Entra, with timeouts.
    pub http: reqwest::Client,
}

impl AppState {
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }
}
