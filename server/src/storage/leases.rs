//! Leases on background jobs, so that one instance at a time does each.

use super::{Storage, StorageResult};

impl Storage {
    /// Takes (or renews) the lease on `name` for `holder` until `until` (Unix milliseconds):
    /// answers whether `holder` holds it now. Another holder's lease is taken only once it has
    /// expired at `now`.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> StorageResult<bool> {
        Ok(sqlx::query(
            "INSERT INTO lease (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE lease.holder = excluded.holder OR lease.expires_at <= $4",
        )
        .bind(name)
        .bind(holder)
        .bind(until)
        .bind(now)
        .execute(&mut *self.write().await?)
        .await?
        .rows_affected()
            == 1)
    }

    /// Gives the lease up (an instance that stops), so another takes it at once.
    pub async fn release_lease(&self, name: &str, holder: &str) -> StorageResult<()> {
        sqlx::query("DELETE FROM lease WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&mut *self.write().await?)
            .await?;
        Ok(())
    }

    /// Who holds the lease on `name`, and until when (Unix milliseconds).
    pub async fn lease_holder(&self, name: &str) -> StorageResult<Option<(String, i64)>> {
        Ok(
            sqlx::query_as("SELECT holder, expires_at FROM lease WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *self.read().await?)
                .await?,
        )
    }
}
