//! Each organization's active connection as sign-ins use it: its configuration read and its
//! client secret opened. Both steps of every sign-in need it, and reading the JSON and opening
//! the secret again each time cost more than finding the organization. An entry serves only
//! while the organization's stored configuration and slug are still the ones it was made from,
//! so a change is used as soon as the organization's record shows it.

use crate::connections::{self, ConnectionConfig, OpenedRegistration, StoredConnectionError};
use crate::crypto::sealing::SealingKey;
use crate::domain::AllowedAuthorities;
use crate::storage::SignInOrganization;
use app::types::Protocol;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// More organizations than this are not kept: the whole map starts over.
const MAX_ENTRIES: usize = 10_000;

/// The active configuration, and what its protocol signs in with.
pub struct ActiveConnection {
    pub config: ConnectionConfig,
    pub opened: Opened,
}

/// OpenID Connect: the app registration with its secret opened. SAML: the directory's side
/// and Gatehouse's addresses for the organization.
pub enum Opened {
    Oidc(OpenedRegistration),
    Saml {
        identity_provider: crate::saml::IdentityProvider,
        urls: crate::saml::ServiceProviderUrls,
    },
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
    /// credentials. Its secret is opened with `key`, its redirect URI is on `public_url`.
    pub fn get(
        &self,
        key: &SealingKey,
        public_url: &str,
        allowed: &AllowedAuthorities,
        target: &SignInOrganization,
    ) -> Result<Option<Arc<ActiveConnection>>, StoredConnectionError> {
        let org = &target.organization;
        self.get_or_open(target, |config| match (config.protocol, &config.saml) {
            (Protocol::Oidc, _) => Ok(connections::open_registration(
                key, public_url, allowed, org, config,
            )?
            .map(Opened::Oidc)),
            (Protocol::Saml, Some(idp)) => {
                connections::require_permitted(allowed, &config.authority_host)?;
                Ok(Some(Opened::Saml {
                    identity_provider: idp.clone(),
                    urls: crate::saml::service_provider_urls(public_url, &org.id, &org.slug),
                }))
            }
            (Protocol::Saml, None) => Ok(None),
        })
    }

    /// The cached connection while `target` still shows what it was made from; otherwise the
    /// configuration read again and its registration opened with `open`.
    fn get_or_open(
        &self,
        target: &SignInOrganization,
        open: impl FnOnce(&ConnectionConfig) -> Result<Option<Opened>, StoredConnectionError>,
    ) -> Result<Option<Arc<ActiveConnection>>, StoredConnectionError> {
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
        let Some(opened) = open(&config)? else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::OrganizationRecord;
    use std::cell::Cell;

    fn target(id: &str, slug: &str, stored: Option<&str>) -> SignInOrganization {
        SignInOrganization {
            organization: OrganizationRecord {
                id: id.into(),
                name: format!("Organization {id}"),
                slug: slug.into(),
                member_count: 0,
                created_at: 0,
                updated_at: 0,
            },
            active_config: stored.map(str::to_string),
        }
    }

    fn stored(tenant_id: &str) -> String {
        serde_json::to_string(&ConnectionConfig {
            tenant_id: Some(tenant_id.into()),
            ..ConnectionConfig::default()
        })
        .unwrap()
    }

    /// Gets the connection and tells whether it had to be opened.
    fn get(
        cache: &ActiveConnections,
        target: &SignInOrganization,
    ) -> (Option<Arc<ActiveConnection>>, bool) {
        let opened = Cell::new(false);
        let active = cache
            .get_or_open(target, |config| {
                opened.set(true);
                Ok(Some(Opened::Oidc(OpenedRegistration::for_tests(config))))
            })
            .unwrap();
        (active, opened.get())
    }

    #[test]
    fn a_connection_is_opened_once_until_its_configuration_or_slug_changes() {
        let cache = ActiveConnections::default();
        let contoso = target("o1", "contoso", Some(&stored("tenant-a")));
        let (first, opened) = get(&cache, &contoso);
        assert!(opened);
        let (again, opened) = get(&cache, &contoso);
        assert!(!opened, "the second sign-in uses the opened connection");
        assert!(Arc::ptr_eq(
            first.as_ref().unwrap(),
            again.as_ref().unwrap()
        ));

        let reconfigured = target("o1", "contoso", Some(&stored("tenant-b")));
        let (changed, opened) = get(&cache, &reconfigured);
        assert!(opened, "a changed configuration is read again");
        assert_eq!(
            changed.unwrap().config.tenant_id.as_deref(),
            Some("tenant-b")
        );

        // The redirect URI is made from the slug.
        let renamed = target("o1", "contoso-ltd", Some(&stored("tenant-b")));
        assert!(get(&cache, &renamed).1, "a changed slug opens it again");
    }

    #[test]
    fn nothing_is_kept_for_an_organization_without_a_usable_connection() {
        let cache = ActiveConnections::default();
        let (active, opened) = get(&cache, &target("o1", "contoso", None));
        assert!(active.is_none());
        assert!(!opened, "no active configuration, nothing to open");

        let incomplete = target("o1", "contoso", Some(&stored("tenant-a")));
        let none = cache.get_or_open(&incomplete, |_| Ok(None)).unwrap();
        assert!(none.is_none());
        assert!(
            get(&cache, &incomplete).1,
            "credentials that were incomplete are looked at again"
        );

        let broken = target("o2", "fabrikam", Some("not JSON"));
        assert!(cache.get_or_open(&broken, |_| unreachable!()).is_err());
    }

    #[test]
    fn past_its_bound_the_cache_starts_over() {
        let cache = ActiveConnections::default();
        let config = stored("tenant-a");
        let first = target("org-0", "org-0", Some(&config));
        get(&cache, &first);
        for i in 1..MAX_ENTRIES {
            let id = format!("org-{i}");
            get(&cache, &target(&id, &id, Some(&config)));
        }
        assert!(!get(&cache, &first).1, "still kept at the bound");
        assert_eq!(cache.entries().len(), MAX_ENTRIES);

        get(&cache, &target("one-more", "one-more", Some(&config)));
        assert_eq!(cache.entries().len(), 1, "the whole map started over");
        assert!(get(&cache, &first).1, "so the first one is opened again");
    }
}
