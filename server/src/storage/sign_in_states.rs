//! Which sign-in states were used. A sign-in in progress lives in the browser that started it
//! (`sign_in::attempt`); the server keeps only the states that came back, each written in the
//! transaction of the outcome it led to (the session and its audit entry, the failure, the
//! wizard's test result). A replayed state is found there when its outcome is written, and two
//! callbacks with one state can both get that far, but only the first commits: a state never
//! starts two sessions.

use super::{expect_one, Storage, StorageError, StorageResult};
use crate::clock::to_millis;
use time::OffsetDateTime;

/// How long a started sign-in may take.
pub const ATTEMPT_LIFETIME: time::Duration = time::Duration::minutes(10);

/// A state that came back, to be kept as used until its attempt would have expired anyway.
#[derive(Debug, Clone, Copy)]
pub struct UsedState<'a> {
    /// SHA-256 of the state parameter.
    pub state_hash: &'a str,
    /// Unix milliseconds.
    pub expires_at: i64,
}

/// Keeps a state as used; fails with a uniqueness violation when it was used already.
pub(super) const MARK_USED: &str =
    "INSERT INTO used_sign_in_state (state_hash, expires_at) VALUES ($1, $2)";

/// Keeps the state as used, inside the caller's transaction; false when it was used already
/// (nothing is written then). Of two transactions racing with one state, the second waits for
/// the first on the primary key and then finds it used.
pub(super) async fn mark_used(
    conn: &mut sqlx::AnyConnection,
    used: UsedState<'_>,
) -> StorageResult<bool> {
    let marked = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{MARK_USED} ON CONFLICT (state_hash) DO NOTHING"
    )))
    .bind(used.state_hash)
    .bind(used.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(marked.rows_affected() == 1)
}

impl Storage {
    /// Whether the state was used already.
    pub async fn sign_in_state_used(&self, state_hash: &str) -> StorageResult<bool> {
        let used: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM used_sign_in_state WHERE state_hash = $1")
                .bind(state_hash)
                .fetch_optional(&mut *self.read().await?)
                .await?;
        Ok(used.is_some())
    }

    /// Forgets used states whose attempts have expired; answers how many.
    pub async fn delete_expired_sign_in_states(&self, now: OffsetDateTime) -> StorageResult<u64> {
        Ok(
            sqlx::query("DELETE FROM used_sign_in_state WHERE expires_at <= $1")
                .bind(to_millis(now))
                .execute(&mut *self.write().await?)
                .await?
                .rows_affected(),
        )
    }

    /// Keeps the result of the draft's last test sign-in (it does not change the draft's
    /// version), and its state as used: a `Conflict("state")` if it was used already.
    pub async fn save_test_sign_in(
        &self,
        organization_id: &str,
        result: &str,
        used: UsedState<'_>,
    ) -> StorageResult<()> {
        let mut tx = self.begin().await?;
        if !mark_used(&mut tx, used).await? {
            return Err(StorageError::Conflict("state"));
        }
        let changed =
            sqlx::query("UPDATE sso_connection SET test_sign_in = $1 WHERE organization_id = $2")
                .bind(result)
                .bind(organization_id)
                .execute(&mut *tx)
                .await?;
        expect_one(changed)?;
        tx.commit().await?;
        Ok(())
    }
}
