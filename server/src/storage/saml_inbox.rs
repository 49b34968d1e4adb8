//! SAML responses between the directory's cross-site POST to the Reply URL and the same-site
//! GET that finishes the sign-in (`sign_in::saml`): each taken once, within minutes.

use super::{Storage, StorageResult};
use crate::clock::to_millis;
use time::OffsetDateTime;

/// A held response.
#[derive(Debug, sqlx::FromRow)]
pub struct HeldResponse {
    pub organization_id: String,
    pub response: String,
    pub relay_state: Option<String>,
}

impl Storage {
    /// Holds a posted response under the hash of its handle until `expires_at`.
    pub async fn hold_saml_response(
        &self,
        handle_hash: &str,
        organization_id: &str,
        response: &str,
        relay_state: Option<&str>,
        expires_at: OffsetDateTime,
    ) -> StorageResult<()> {
        sqlx::query(
            "INSERT INTO saml_inbox (handle_hash, organization_id, response, relay_state, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(handle_hash)
        .bind(organization_id)
        .bind(response)
        .bind(relay_state)
        .bind(to_millis(expires_at))
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    /// Takes the held response (once: it is deleted), if it has not expired at `now`.
    pub async fn take_saml_response(
        &self,
        handle_hash: &str,
        now: OffsetDateTime,
    ) -> StorageResult<Option<HeldResponse>> {
        Ok(sqlx::query_as(
            "DELETE FROM saml_inbox WHERE handle_hash = $1 AND expires_at > $2 \
             RETURNING organization_id, response, relay_state",
        )
        .bind(handle_hash)
        .bind(to_millis(now))
        .fetch_optional(&mut *self.write().await?)
        .await?)
    }

    /// Drops held responses nobody came back for; answers how many.
    pub async fn delete_expired_saml_responses(&self, now: OffsetDateTime) -> StorageResult<u64> {
        Ok(sqlx::query("DELETE FROM saml_inbox WHERE expires_at <= $1")
            .bind(to_millis(now))
            .execute(&mut *self.write().await?)
            .await?
            .rows_affected())
    }
}
