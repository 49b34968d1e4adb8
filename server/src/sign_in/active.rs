//! Each organization's active connection as sign-ins use it: its configuration read and its
//! client secret opened. Both steps of every sign-in need it, and reading the JSON and opening
//! the secret again each time cost more than finding the organization. An entry serves only
//! while the organization's stored configuration and slug are still the ones it was made from,
//! so a change is used as soon as the organization's record shows it.

use crate::connections::{self, ConnectionConfig, OpenedRegistration};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::storage::SignInOrganization;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// More organizations than this are not kept: the whole map starts over.
const MAX_ENTRIES: usize = 10_000;

/// The active configuration, and its app registration with the secret opened.
pub struct ActiveConnection {
    pub config: ConnectionConfig,
    pub opened: OpenedRegistration,
}

#[derive(Default)]
pub struct ActiveConnections {
    /// By organization id.
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    /// The stored configuration (JSON) and slug the connection was made from.
    stored: String,
    slug: String,
    active: Arc<ActiveConnection>,
}

impl ActiveConnections {
    /// The organization's active connection, or `None` when it has none with complete
    /// credentials.
    pub fn get(
        &self,
        state: &AppState,
        target: &SignInOrganization,
    ) -> ApiResult<Option<Arc<ActiveConnection>>> {
        let Some(stored) = target.active_config.as_deref() else {
            return Ok(None);
        };
        let org = &target.organization;
        if let Some(entry) = self.entries().get(&org.id) {
            if entry.stored == stored && entry.slug == org.slug {
                return Ok(Some(entry.active.clone()));
            }
        }
        let config = connections::parse_active(stored)?;
        let Some(opened) = connections::open_registration(state, org, &config)? else {
            return Ok(None);
        };
        let active = Arc::new(ActiveConnection { config, opened });
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            org.id.clone(),
            Entry {
                stored: stored.to_string(),
                slug: org.slug.clone(),
                active: active.clone(),
            },
        );
        Ok(Some(active))
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves a map that is still whole.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
