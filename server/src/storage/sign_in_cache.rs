//! Organizations as sign-ins read them, kept a moment in memory: every sign-in reads its
//! organization and active configuration twice (at its start and at its callback), and on
//! SQLite each read is a round trip to a connection's own thread. A change made through this
//! process (activating, disabling, renaming or deleting) empties the cache before it returns;
//! one made by another Gatehouse process on the same database is seen within `FRESH_FOR`.

use super::SignInOrganization;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long another process's change may go unseen.
const FRESH_FOR: Duration = Duration::from_secs(2);
/// More organizations than this signing in within `FRESH_FOR` are read again instead.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub(super) struct SignInCache {
    /// Bumped by every change: a read that began before it is not kept.
    generation: AtomicU64,
    /// By `"id:…"` and by `"slug:…"`.
    entries: Mutex<HashMap<String, (Instant, SignInOrganization)>>,
}

impl SignInCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, SignInOrganization)>> {
        // A panic while holding the lock leaves a map that is still whole.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn get(&self, key: &str) -> Option<SignInOrganization> {
        let entries = self.entries();
        let (fetched, found) = entries.get(key)?;
        (fetched.elapsed() < FRESH_FOR).then(|| found.clone())
    }

    /// The generation to hand back to `keep` with what a read finds.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps what a read that began at `generation` found, unless something changed since.
    pub(super) fn keep(&self, generation: u64, found: &SignInOrganization) {
        let mut entries = self.entries();
        if self.generation() != generation {
            return;
        }
        if entries.len() + 2 > MAX_ENTRIES {
            entries.retain(|_, (fetched, _)| fetched.elapsed() < FRESH_FOR);
            if entries.len() + 2 > MAX_ENTRIES {
                return;
            }
        }
        let now = Instant::now();
        let org = &found.organization;
        entries.insert(format!("id:{}", org.id), (now, found.clone()));
        entries.insert(format!("slug:{}", org.slug), (now, found.clone()));
    }

    /// Forgets everything: an organization or its connection changed.
    pub(super) fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::SignInCache;
    use crate::storage::{OrganizationRecord, SignInOrganization};

    fn contoso(config: &str) -> SignInOrganization {
        SignInOrganization {
            organization: OrganizationRecord {
                id: "o1".into(),
                name: "Contoso".into(),
                slug: "contoso".into(),
                member_count: 0,
                created_at: 0,
                updated_at: 0,
            },
            active_config: Some(config.into()),
        }
    }

    #[test]
    fn a_read_is_kept_by_id_and_slug_until_a_change() {
        let cache = SignInCache::default();
        let before = cache.generation();
        cache.keep(before, &contoso("v1"));
        let by_slug = cache.get("slug:contoso").expect("kept");
        assert_eq!(by_slug.active_config.as_deref(), Some("v1"));
        assert!(cache.get("id:o1").is_some());
        assert!(cache.get("slug:fabrikam").is_none());

        cache.clear();
        assert!(cache.get("id:o1").is_none());
        // A read that began before the change does not put the old value back.
        cache.keep(before, &contoso("v1"));
        assert!(cache.get("id:o1").is_none());
        cache.keep(cache.generation(), &contoso("v2"));
        let by_id = cache.get("id:o1").expect("kept");
        assert_eq!(by_id.active_config.as_deref(), Some("v2"));
    }
}
