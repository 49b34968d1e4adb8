//! The expiry warnings sent for connections' credentials, and the connections that serve
//! sign-ins, whose credentials are checked.

use super::audit::{self, Actor, AuditEntry};
use super::outbox::{self, NewEmail};
use super::{Storage, StorageResult};
use crate::clock::to_millis;
use time::OffsetDateTime;

/// An organization whose connection is active, with its active configuration (JSON).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServingConnection {
    pub organization_id: String,
    pub organization_name: String,
    pub active_config: String,
}

/// One warning to send: which credential, at which threshold.
#[derive(Debug, Clone)]
pub struct CredentialWarning<'a> {
    pub organization_id: &'a str,
    /// The credential's key (its kind and what identifies it).
    pub credential: &'a str,
    /// Days before expiry the warning is for (0 once expired).
    pub threshold_days: i64,
}

impl Storage {
    /// The active connections, for the expiry checks (an organization whose SSO is disabled
    /// is not warned about: nobody signs in with it).
    pub async fn serving_connections(
        &self,
        organization_id: Option<&str>,
    ) -> StorageResult<Vec<ServingConnection>> {
        Ok(sqlx::query_as(
            "SELECT c.organization_id, o.name AS organization_name, c.active_config \
             FROM sso_connection c JOIN organization o ON o.id = c.organization_id \
             WHERE c.status = 'active' AND c.active_config IS NOT NULL \
             AND ($1 IS NULL OR c.organization_id = $1) ORDER BY o.name, c.organization_id",
        )
        .bind(organization_id)
        .fetch_all(&mut *self.read().await?)
        .await?)
    }

    /// Records `warning` with its audit entry and the email to the organization's active
    /// admins, in one transaction, unless it was recorded before: answers whether this call
    /// recorded it. The table's key makes the first writer win among instances.
    pub async fn record_credential_warning(
        &self,
        warning: &CredentialWarning<'_>,
        entry: &AuditEntry<'_>,
        email: &NewEmail,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<bool> {
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO credential_warning (organization_id, credential, threshold_days, sent_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(warning.organization_id)
        .bind(warning.credential)
        .bind(warning.threshold_days)
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted != 1 {
            return Ok(false);
        }
        audit::write(&mut tx, actor, entry, now).await?;
        let admins = outbox::admin_addresses(&mut tx, warning.organization_id).await?;
        outbox::enqueue(&mut tx, &admins, email, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}
