//! What Gatehouse keeps as an OpenID Provider: the keys that sign ID tokens, and each grant an
//! application received (its code, then the access token the code was exchanged for).

use super::{new_id, Storage, StorageResult};
use crate::clock::to_millis;
use time::OffsetDateTime;

/// A key that signs ID tokens; its private half sealed with the master key.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// `ES256` or `RS256`.
    pub alg: String,
    pub sealed_private_key: String,
    /// The public key as a JSON Web Key.
    pub public_jwk: String,
    pub created_at: i64,
    /// Published from `created_at`, used to sign from this time (Unix milliseconds).
    pub signs_from: i64,
    pub retired_at: Option<i64>,
}

/// A code to store for an application.
#[derive(Debug, Clone)]
pub struct NewGrant<'a> {
    pub code_hash: &'a str,
    pub application_id: &'a str,
    pub organization_id: &'a str,
    pub member_id: &'a str,
    pub session_sid: &'a str,
    pub redirect_uri: &'a str,
    pub code_challenge: Option<&'a str>,
    pub nonce: Option<&'a str>,
    /// Unix milliseconds.
    pub auth_time: i64,
    pub code_expires_at: i64,
}

/// A grant as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GrantRecord {
    pub id: String,
    pub application_id: String,
    pub organization_id: String,
    pub member_id: String,
    pub session_sid: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub code_expires_at: i64,
    pub access_expires_at: Option<i64>,
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// The code's first use: the access token is stored with its grant.
    First(Box<GrantRecord>),
    /// The code was used before: whatever it issued is revoked now.
    Again,
    Unknown,
}

const GRANT_COLUMNS: &str = "id, application_id, organization_id, member_id, session_sid, \
     redirect_uri, code_challenge, nonce, auth_time, code_expires_at, access_expires_at";

impl Storage {
    /// Keys still published: those not retired, and retired ones until `retired_before`.
    pub async fn list_signing_keys(
        &self,
        retired_before: OffsetDateTime,
    ) -> StorageResult<Vec<SigningKeyRecord>> {
        Ok(sqlx::query_as(
            "SELECT kid, alg, sealed_private_key, public_jwk, created_at, signs_from, retired_at \
             FROM signing_key WHERE retired_at IS NULL OR retired_at > $1 \
             ORDER BY signs_from, kid",
        )
        .bind(to_millis(retired_before))
        .fetch_all(&mut *self.read().await?)
        .await?)
    }

    pub async fn add_signing_key(&self, key: &SigningKeyRecord) -> StorageResult<()> {
        sqlx::query(
            "INSERT INTO signing_key (kid, alg, sealed_private_key, public_jwk, created_at, \
             signs_from, retired_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.sealed_private_key)
        .bind(&key.public_jwk)
        .bind(key.created_at)
        .bind(key.signs_from)
        .bind(key.retired_at)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    /// Retires the keys of `alg` that sign before `newest` when it starts to sign: they stay
    /// published after that until the tokens they signed have expired.
    pub async fn retire_signing_keys_before(
        &self,
        alg: &str,
        newest: &SigningKeyRecord,
    ) -> StorageResult<u64> {
        Ok(sqlx::query(
            "UPDATE signing_key SET retired_at = $1 WHERE alg = $2 AND retired_at IS NULL \
             AND kid <> $3 AND signs_from <= $1",
        )
        .bind(newest.signs_from)
        .bind(alg)
        .bind(&newest.kid)
        .execute(&mut *self.write().await?)
        .await?
        .rows_affected())
    }

    pub async fn add_grant(&self, grant: &NewGrant<'_>, now: OffsetDateTime) -> StorageResult<()> {
        sqlx::query(
            "INSERT INTO provider_grant (id, code_hash, application_id, organization_id, \
             member_id, session_sid, redirect_uri, code_challenge, nonce, auth_time, \
             code_expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(new_id())
        .bind(grant.code_hash)
        .bind(grant.application_id)
        .bind(grant.organization_id)
        .bind(grant.member_id)
        .bind(grant.session_sid)
        .bind(grant.redirect_uri)
        .bind(grant.code_challenge)
        .bind(grant.nonce)
        .bind(grant.auth_time)
        .bind(grant.code_expires_at)
        .bind(to_millis(now))
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    /// Uses the code once: its first use stores the access token it is exchanged for and
    /// answers the grant; a later use revokes the grant, so the tokens the first use issued stop
    /// working (RFC 6749 §4.1.2).
    pub async fn redeem_code(
        &self,
        code_hash: &str,
        access_token_hash: &str,
        access_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StorageResult<Redeemed> {
        let mut tx = self.begin().await?;
        let first: Option<GrantRecord> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE provider_grant SET code_used_at = $1, access_token_hash = $2, \
             access_expires_at = $3 WHERE code_hash = $4 AND code_used_at IS NULL \
             AND revoked_at IS NULL RETURNING {GRANT_COLUMNS}"
        )))
        .bind(to_millis(now))
        .bind(access_token_hash)
        .bind(to_millis(access_expires_at))
        .bind(code_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let redeemed = match first {
            Some(grant) => Redeemed::First(Box::new(grant)),
            None => {
                let again = sqlx::query(
                    "UPDATE provider_grant SET revoked_at = COALESCE(revoked_at, $1) \
                     WHERE code_hash = $2",
                )
                .bind(to_millis(now))
                .bind(code_hash)
                .execute(&mut *tx)
                .await?;
                if again.rows_affected() == 0 {
                    Redeemed::Unknown
                } else {
                    Redeemed::Again
                }
            }
        };
        tx.commit().await?;
        Ok(redeemed)
    }

    /// Revokes a grant and what it issued.
    pub async fn revoke_grant(&self, grant_id: &str, now: OffsetDateTime) -> StorageResult<()> {
        sqlx::query(
            "UPDATE provider_grant SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
        )
        .bind(to_millis(now))
        .bind(grant_id)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    /// The grant whose unexpired, unrevoked access token has this hash.
    pub async fn find_grant_by_access_token(
        &self,
        access_token_hash: &str,
        now: OffsetDateTime,
    ) -> StorageResult<Option<GrantRecord>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {GRANT_COLUMNS} FROM provider_grant WHERE access_token_hash = $1 \
             AND revoked_at IS NULL AND access_expires_at > $2"
        )))
        .bind(access_token_hash)
        .bind(to_millis(now))
        .fetch_optional(&mut *self.read().await?)
        .await?)
    }
}
