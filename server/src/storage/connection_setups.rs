//! Automatic setups in progress: their progress (what the wizard shows) and the admin's
//! answer, so that any instance can show the one another instance drives.

use super::{Storage, StorageResult};
use crate::clock::to_millis;
use time::OffsetDateTime;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectionSetupRecord {
    pub organization_id: String,
    pub id: String,
    pub progress: String,
    pub decision: Option<String>,
    pub heartbeat_at: i64,
    pub created_at: i64,
}

impl Storage {
    /// Starts setup `id` for the organization, in place of any earlier one.
    pub async fn start_connection_setup(
        &self,
        organization_id: &str,
        id: &str,
        progress: &str,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO connection_setup (organization_id, id, progress, decision, heartbeat_at, created_at) \
             VALUES ($1, $2, $3, NULL, $4, $4) ON CONFLICT (organization_id) DO UPDATE SET \
             id = excluded.id, progress = excluded.progress, decision = NULL, \
             heartbeat_at = excluded.heartbeat_at, created_at = excluded.created_at",
        )
        .bind(organization_id)
        .bind(id)
        .bind(progress)
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes setup `id`'s progress; answers false when another setup has replaced it.
    pub async fn write_connection_setup(
        &self,
        organization_id: &str,
        id: &str,
        progress: &str,
        now: OffsetDateTime,
    ) -> StorageResult<bool> {
        let mut tx = self.begin().await?;
        let changed = sqlx::query(
            "UPDATE connection_setup SET progress = $1, heartbeat_at = $2 \
             WHERE organization_id = $3 AND id = $4",
        )
        .bind(progress)
        .bind(to_millis(now))
        .bind(organization_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// Records the admin's answer to setup `id`, once; answers whether it was recorded.
    pub async fn decide_connection_setup(
        &self,
        organization_id: &str,
        id: &str,
        decision: &str,
    ) -> StorageResult<bool> {
        let mut tx = self.begin().await?;
        let changed = sqlx::query(
            "UPDATE connection_setup SET decision = $1 \
             WHERE organization_id = $2 AND id = $3 AND decision IS NULL",
        )
        .bind(decision)
        .bind(organization_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// The organization's latest setup.
    pub async fn find_connection_setup(
        &self,
        organization_id: &str,
    ) -> StorageResult<Option<ConnectionSetupRecord>> {
        Ok(
            sqlx::query_as("SELECT * FROM connection_setup WHERE organization_id = $1")
                .bind(organization_id)
                .fetch_optional(&mut *self.read().await?)
                .await?,
        )
    }
}
