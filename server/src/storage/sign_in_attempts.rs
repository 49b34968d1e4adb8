//! OpenID Connect sign-ins in progress: single use, ten minutes.

use super::{OrganizationRecord, SignInOrganization, Storage, StorageError, StorageResult};
use crate::clock::to_millis;
use time::OffsetDateTime;

/// How long a started sign-in may take.
pub const ATTEMPT_LIFETIME: time::Duration = time::Duration::minutes(10);

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignInAttempt {
    pub organization_id: String,
    pub purpose: String,
    pub browser_key_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where to go after a sign-in, already checked to be a relative path on Gatehouse.
    pub return_to: Option<String>,
}

/// A sign-in attempt just used, and its organization (`None` if it was deleted meanwhile).
#[derive(Debug, Clone)]
pub struct UsedAttempt {
    pub attempt: SignInAttempt,
    pub organization: Option<SignInOrganization>,
}

#[derive(sqlx::FromRow)]
struct UsedAttemptRow {
    #[sqlx(flatten)]
    attempt: SignInAttempt,
    organization_name: Option<String>,
    organization_slug: Option<String>,
    organization_created_at: Option<i64>,
    organization_updated_at: Option<i64>,
    active_config: Option<String>,
}

impl UsedAttemptRow {
    fn into_used(self) -> UsedAttempt {
        let organization = match (
            self.organization_name,
            self.organization_slug,
            self.organization_created_at,
            self.organization_updated_at,
        ) {
            (Some(name), Some(slug), Some(created_at), Some(updated_at)) => {
                Some(SignInOrganization {
                    organization: OrganizationRecord {
                        id: self.attempt.organization_id.clone(),
                        name,
                        slug,
                        member_count: 0,
                        created_at,
                        updated_at,
                    },
                    active_config: self.active_config,
                })
            }
            _ => None,
        };
        UsedAttempt {
            attempt: self.attempt,
            organization,
        }
    }
}

impl Storage {
    pub async fn create_sign_in_attempt(
        &self,
        state_hash: &str,
        attempt: &SignInAttempt,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        sqlx::query(
            "INSERT INTO sign_in_attempt (state_hash, organization_id, purpose, browser_key_hash, \
             nonce, pkce_verifier, return_to, created_at, expires_at, used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",
        )
        .bind(state_hash)
        .bind(&attempt.organization_id)
        .bind(&attempt.purpose)
        .bind(&attempt.browser_key_hash)
        .bind(&attempt.nonce)
        .bind(&attempt.pkce_verifier)
        .bind(&attempt.return_to)
        .bind(to_millis(now))
        .bind(to_millis(now + ATTEMPT_LIFETIME))
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    /// Uses the attempt: it answers once, and only before it expires. Answers it with its
    /// organization as it is now, read by the same statement.
    pub async fn consume_sign_in_attempt(
        &self,
        state_hash: &str,
        now: OffsetDateTime,
    ) -> StorageResult<Option<UsedAttempt>> {
        let row: Option<UsedAttemptRow> = sqlx::query_as(
            "UPDATE sign_in_attempt SET used_at = $1 \
             WHERE state_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             RETURNING organization_id, purpose, browser_key_hash, nonce, pkce_verifier, \
             return_to, \
             (SELECT o.name FROM organization o WHERE o.id = sign_in_attempt.organization_id) \
             AS organization_name, \
             (SELECT o.slug FROM organization o WHERE o.id = sign_in_attempt.organization_id) \
             AS organization_slug, \
             (SELECT o.created_at FROM organization o \
              WHERE o.id = sign_in_attempt.organization_id) AS organization_created_at, \
             (SELECT o.updated_at FROM organization o \
              WHERE o.id = sign_in_attempt.organization_id) AS organization_updated_at, \
             (SELECT c.active_config FROM sso_connection c \
              WHERE c.organization_id = sign_in_attempt.organization_id \
              AND c.status = 'active') AS active_config",
        )
        .bind(to_millis(now))
        .bind(state_hash)
        .fetch_optional(&mut *self.write().await?)
        .await?;
        Ok(row.map(UsedAttemptRow::into_used))
    }

    /// Deletes attempts that were used or have expired; answers how many.
    pub async fn delete_finished_sign_in_attempts(
        &self,
        now: OffsetDateTime,
    ) -> StorageResult<u64> {
        Ok(
            sqlx::query(
                "DELETE FROM sign_in_attempt WHERE used_at IS NOT NULL OR expires_at <= $1",
            )
            .bind(to_millis(now))
            .execute(&mut *self.write().await?)
            .await?
            .rows_affected(),
        )
    }

    /// Keeps the result of the draft's last test sign-in (it does not change the draft's version).
    pub async fn save_test_sign_in(
        &self,
        organization_id: &str,
        result: &str,
    ) -> StorageResult<()> {
        let changed =
            sqlx::query("UPDATE sso_connection SET test_sign_in = $1 WHERE organization_id = $2")
                .bind(result)
                .bind(organization_id)
                .execute(&mut *self.write().await?)
                .await?;
        if changed.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StorageError::NotFound)
        }
    }

    /// The member mapped to this directory user, if any.
    pub async fn find_member_by_directory_identity(
        &self,
        organization_id: &str,
        tenant_id: &str,
        object_id: &str,
    ) -> StorageResult<Option<super::MemberRecord>> {
        super::members::find_by_directory_identity(
            &mut *self.read().await?,
            organization_id,
            tenant_id,
            object_id,
        )
        .await
    }
}
