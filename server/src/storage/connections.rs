//! SSO connections: a versioned draft and the active configuration, as JSON documents.

use super::audit::{self, Actor, AuditEntry};
use super::{Storage, StorageError, StorageResult};
use crate::clock::to_millis;
use time::OffsetDateTime;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectionRecord {
    pub organization_id: String,
    pub status: String,
    pub draft_config: String,
    pub draft_version: i64,
    pub active_config: Option<String>,
    pub activated_at: Option<i64>,
    pub test_sign_in: Option<String>,
}

impl Storage {
    pub async fn find_connection(
        &self,
        organization_id: &str,
    ) -> StorageResult<Option<ConnectionRecord>> {
        Ok(sqlx::query_as(
            "SELECT organization_id, status, draft_config, draft_version, active_config, activated_at, \
             test_sign_in FROM sso_connection WHERE organization_id = $1",
        )
        .bind(organization_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Replaces the draft if it is still at `expected_version`; returns the new version.
    /// A stale version is a `Conflict("version")`: another admin saved in between.
    pub async fn save_connection_draft(
        &self,
        organization_id: &str,
        expected_version: i64,
        draft_config: &str,
        entry: &AuditEntry<'_>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<i64> {
        let at = to_millis(now);
        let mut tx = self.pool.begin().await?;
        let new_version = expected_version + 1;
        let changed = if expected_version == 0 {
            sqlx::query(
                "INSERT INTO sso_connection (organization_id, status, draft_config, draft_version, \
                 active_config, activated_at, created_at, updated_at) \
                 VALUES ($1, 'draft', $2, 1, NULL, NULL, $3, $3) ON CONFLICT (organization_id) DO NOTHING",
            )
            .bind(organization_id)
            .bind(draft_config)
            .bind(at)
            .execute(&mut *tx)
            .await?
        } else {
            sqlx::query(
                "UPDATE sso_connection SET draft_config = $1, draft_version = $2, updated_at = $3 \
                 WHERE organization_id = $4 AND draft_version = $5",
            )
            .bind(draft_config)
            .bind(new_version)
            .bind(at)
            .bind(organization_id)
            .bind(expected_version)
            .execute(&mut *tx)
            .await?
        };
        if changed.rows_affected() != 1 {
            return Err(StorageError::Conflict("version"));
        }
        audit::write(&mut tx, actor, entry, now).await?;
        tx.commit().await?;
        Ok(new_version)
    }

    /// Makes the draft at `expected_version` the active configuration, in one transaction.
    pub async fn activate_connection(
        &self,
        organization_id: &str,
        expected_version: i64,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE sso_connection SET active_config = draft_config, status = 'active', \
             activated_at = $1, updated_at = $1 WHERE organization_id = $2 AND draft_version = $3",
        )
        .bind(to_millis(now))
        .bind(organization_id)
        .bind(expected_version)
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() != 1 {
            return Err(StorageError::Conflict("version"));
        }
        audit::write(
            &mut tx,
            actor,
            &AuditEntry::success(
                Some(organization_id),
                "connection.activate",
                organization_id,
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stops SSO at once; the configuration stays for re-activation.
    pub async fn disable_connection(
        &self,
        organization_id: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let change = sqlx::query(
            "UPDATE sso_connection SET status = 'disabled', updated_at = $1 \
             WHERE organization_id = $2 AND status = 'active'",
        )
        .bind(to_millis(now))
        .bind(organization_id);
        let entry =
            AuditEntry::success(Some(organization_id), "connection.disable", organization_id);
        self.change_one_audited(change, &entry, actor, now).await
    }
}
