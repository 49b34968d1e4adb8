//! Operators and the first-run link that creates the first one.

use super::audit::{self, Actor, AuditEntry};
use super::{new_id, unique_as, Storage, StorageError, StorageResult};
use crate::clock::to_millis;
use time::OffsetDateTime;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OperatorRecord {
    pub id: String,
    pub email: String,
    pub name: String,
    pub created_at: i64,
}

/// A valid first-run link's expiry.
#[derive(Debug, Clone, Copy)]
pub struct FirstRunLink {
    pub expires_at: i64,
}

impl Storage {
    pub async fn operator_count(&self) -> StorageResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM operator")
            .fetch_one(&mut *self.read().await?)
            .await?)
    }

    /// Stores a new first-run link; older unused ones stop working.
    pub async fn create_first_run_link(
        &self,
        token_hash: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM first_run_link WHERE used_at IS NULL")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO first_run_link (token_hash, expires_at, used_at, created_at) \
             VALUES ($1, $2, NULL, $3)",
        )
        .bind(token_hash)
        .bind(to_millis(expires_at))
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The link when it is unused, unexpired and no operator exists yet.
    pub async fn find_first_run_link(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> StorageResult<Option<FirstRunLink>> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT expires_at FROM first_run_link \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             AND NOT EXISTS (SELECT 1 FROM operator)",
        )
        .bind(token_hash)
        .bind(to_millis(now))
        .fetch_optional(&mut *self.read().await?)
        .await?;
        Ok(row.map(|(expires_at,)| FirstRunLink { expires_at }))
    }

    /// Uses the first-run link and creates the first operator, in one transaction.
    pub async fn create_first_operator(
        &self,
        token_hash: &str,
        email: (&str, &str),
        name: &str,
        password_hash: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<OperatorRecord> {
        let (email_display, email_normalized) = email;
        let at = to_millis(now);
        let mut tx = self.begin().await?;
        let claimed = sqlx::query(
            "UPDATE first_run_link SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             AND NOT EXISTS (SELECT 1 FROM operator)",
        )
        .bind(at)
        .bind(token_hash)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            return Err(StorageError::NotFound);
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO operator (id, email, email_normalized, name, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&id)
        .bind(email_display)
        .bind(email_normalized)
        .bind(name)
        .bind(password_hash)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(unique_as("email"))?;
        audit::write(
            &mut tx,
            actor,
            &AuditEntry::success(None, "operator.create", email_display),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(OperatorRecord {
            id,
            email: email_display.to_string(),
            name: name.to_string(),
            created_at: at,
        })
    }

    pub async fn find_operator(&self, id: &str) -> StorageResult<Option<OperatorRecord>> {
        Ok(
            sqlx::query_as("SELECT id, email, name, created_at FROM operator WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *self.read().await?)
                .await?,
        )
    }

    /// The operator with this email and its password hash, for password sign-in.
    pub async fn find_operator_credentials(
        &self,
        email_normalized: &str,
    ) -> StorageResult<Option<(OperatorRecord, String)>> {
        let row: Option<(String, String, String, i64, String)> = sqlx::query_as(
            "SELECT id, email, name, created_at, password_hash FROM operator WHERE email_normalized = $1",
        )
        .bind(email_normalized)
        .fetch_optional(&mut *self.read().await?)
        .await?;
        Ok(row.map(|(id, email, name, created_at, hash)| {
            (
                OperatorRecord {
                    id,
                    email,
                    name,
                    created_at,
                },
                hash,
            )
        }))
    }
}
