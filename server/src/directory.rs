//! Reading an organization's directory through Microsoft Graph: app-only tokens kept until
//! shortly before they expire, and whole-directory reads kept for a few minutes so the
//! suggestions and the stale count of one visit share one read.

use crate::clock::Clock;
use crate::connections::{self, DirectoryApp, StoredConnectionError};
use crate::crypto::sealing::SealingKey;
use crate::entra::graph::{self, DirectoryUser, GraphFailure};
use crate::storage::Storage;
use app::types::DirectoryAccess;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a whole-directory read is reused.
const SCAN_LIFETIME: Duration = Duration::from_secs(300);
/// A token is renewed this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);

/// Tokens and recent whole-directory reads, per app registration.
#[derive(Default)]
pub struct DirectoryReader {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    scans: Mutex<HashMap<String, Arc<Scan>>>,
}

/// Every user of a directory, as read at one moment.
pub struct Scan {
    pub read_at: time::OffsetDateTime,
    fresh_until: Instant,
    pub users: Vec<DirectoryUser>,
}

/// Why the directory cannot be read, in words for the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub access: DirectoryAccess,
    pub message: String,
}

impl From<GraphFailure> for Unreadable {
    fn from(failure: GraphFailure) -> Self {
        Unreadable {
            access: match failure {
                GraphFailure::PermissionMissing => DirectoryAccess::PermissionMissing,
                _ => DirectoryAccess::Unavailable,
            },
            message: failure.message(),
        }
    }
}

/// What reading a directory needs, lent from the application's state.
#[derive(Clone, Copy)]
pub struct DirectoryServices<'a> {
    pub storage: &'a Storage,
    /// Opens the connection's client secret.
    pub sealing_key: &'a SealingKey,
    pub reader: &'a DirectoryReader,
    pub http: &'a reqwest::Client,
    pub clock: &'a dyn Clock,
    /// Authorities besides Entra's clouds that connections may use.
    pub allowed_authorities: &'a crate::domain::AllowedAuthorities,
}

/// The organization's directory, ready to read.
pub struct Directory<'a> {
    services: DirectoryServices<'a>,
    app: DirectoryApp,
    base: String,
    /// Identifies the registration (and its secret) in the caches.
    key: String,
}

impl<'a> Directory<'a> {
    /// The directory of the organization's connection, or why there is none.
    pub async fn of(
        services: DirectoryServices<'a>,
        organization_id: &str,
    ) -> Result<Result<Directory<'a>, Unreadable>, StoredConnectionError> {
        let found = match connections::directory_app(
            services.storage,
            services.sealing_key,
            services.allowed_authorities,
            organization_id,
        )
        .await
        {
            Err(StoredConnectionError::AuthorityNotAllowed(host)) => {
                return Ok(Err(Unreadable {
                    access: DirectoryAccess::Unavailable,
                    message: format!("Gatehouse no longer connects to {host}: set the connection up again with one of Entra's clouds."),
                }))
            }
            found => found?,
        };
        let Some(app) = found else {
            return Ok(Err(Unreadable {
                access: DirectoryAccess::NotConnected,
                message: "Connect the organization's directory first (the SSO setup wizard), then Gatehouse can read its users.".into(),
            }));
        };
        let key = hex(&Sha256::digest(
            format!(
                "{}\n{}\n{}\n{}",
                app.authority_host,
                app.tenant_id,
                app.client_id,
                app.credential.fingerprint()
            )
            .as_bytes(),
        ));
        Ok(Ok(Directory {
            services,
            base: services
                .allowed_authorities
                .graph_base(app.cloud, &app.authority_host),
            app,
            key,
        }))
    }

    pub fn tenant_id(&self) -> &str {
        &self.app.tenant_id
    }

    async fn token(&self, fresh: bool) -> Result<String, GraphFailure> {
        let reader = self.services.reader;
        if !fresh {
            let tokens = reader.tokens.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((token, until)) = tokens.get(&self.key) {
                if Instant::now() < *until {
                    return Ok(token.clone());
                }
            }
        }
        let (token, lifetime) = graph::app_token(
            self.services.http,
            &self.app.authority_host,
            &self.app.tenant_id,
            self.app.cloud,
            &self.app.client_id,
            &self.app.credential,
        )
        .await?;
        let until = Instant::now() + Duration::from_secs(lifetime).saturating_sub(TOKEN_MARGIN);
        reader
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.key.clone(), (token.clone(), until));
        Ok(token)
    }

    /// Runs a Graph call with the cached token; on a missing permission, once more with a new
    /// token (a consent granted a minute ago is only in tokens issued after it).
    async fn call<T, F, Fut>(&self, f: F) -> Result<T, Unreadable>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, GraphFailure>>,
    {
        let token = self.token(false).await?;
        match f(token).await {
            Err(GraphFailure::PermissionMissing) => {
                let token = self.token(true).await?;
                Ok(f(token).await?)
            }
            other => Ok(other?),
        }
    }

    /// Users whose name, UPN or mail starts with `text`.
    pub async fn search(&self, text: &str) -> Result<Vec<DirectoryUser>, Unreadable> {
        self.call(|token| async move {
            graph::search_users(self.services.http, &self.base, &token, text).await
        })
        .await
    }

    /// One user by Object ID.
    pub async fn user(&self, object_id: &str) -> Result<Option<DirectoryUser>, Unreadable> {
        self.call(|token| async move {
            graph::get_user(self.services.http, &self.base, &token, object_id).await
        })
        .await
    }

    /// Every user, read at most every few minutes (`fresh` reads again now).
    pub async fn scan(&self, fresh: bool) -> Result<Arc<Scan>, Unreadable> {
        if !fresh {
            let scans = self
                .services
                .reader
                .scans
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(scan) = scans.get(&self.key) {
                if Instant::now() < scan.fresh_until {
                    return Ok(scan.clone());
                }
            }
        }
        let users =
            self.call(|token| async move {
                graph::all_users(self.services.http, &self.base, &token).await
            })
            .await?;
        let scan = Arc::new(Scan {
            read_at: self.services.clock.now(),
            fresh_until: Instant::now() + SCAN_LIFETIME,
            users,
        });
        let mut scans = self
            .services
            .reader
            .scans
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        scans.retain(|_, s| Instant::now() < s.fresh_until);
        scans.insert(self.key.clone(), scan.clone());
        Ok(scan)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
