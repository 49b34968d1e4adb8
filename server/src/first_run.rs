//! The first start: while no operator exists, each start prints a fresh one-time link that
//! creates the first operator.

use crate::clock::Clock;
use crate::crypto::tokens;
use crate::storage::{Storage, StorageResult};

/// How long a first-run link works.
pub const LINK_LIFETIME: time::Duration = time::Duration::hours(1);

/// Issues a first-run link when no operator exists yet; returns its URL.
pub async fn issue_link_if_needed(
    storage: &Storage,
    clock: &dyn Clock,
    public_url: &str,
) -> StorageResult<Option<String>> {
    if storage.operator_count().await? > 0 {
        return Ok(None);
    }
    let (token, hash) = tokens::generate();
    let now = clock.now();
    storage
        .create_first_run_link(&hash, now + LINK_LIFETIME, now)
        .await?;
    Ok(Some(format!("{public_url}/setup/{token}")))
}
