//! What Gatehouse keeps as an OpenID Provider: the keys that sign ID tokens, and each grant an
//! application received (its code, then the access token the code was exchanged for).

use super::writer::{AnyQuery, Batch};
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
    /// Whether the person signed in with their directory (else with a password).
    pub by_directory: bool,
    pub code_expires_at: i64,
    /// The directory's claims passed on to the application (JSON), when it sent any.
    pub passed_on: Option<&'a str>,
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
    /// 1 when the person signed in with their directory.
    pub by_directory: i64,
    pub code_expires_at: i64,
    /// The directory's claims passed on to the application (JSON), when it sent any.
    pub passed_on: Option<String>,
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// The code's first use.
    First(Box<GrantRecord>),
    /// The code was used before: whatever it issued is revoked now.
    Again,
    Unknown,
}

/// What using a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// Its first use (or a second within the grace): the grant goes on with new tokens.
    Rotate(Box<GrantRecord>),
    /// Used before, after the grace: the grant is revoked now, with all it issued.
    Reused,
    /// Unknown, expired, or of a revoked grant.
    Unknown,
}

/// Tokens to store for a grant: only their hashes.
#[derive(Debug, Clone)]
pub struct IssuedTokens<'a> {
    pub access_hash: &'a str,
    /// Unix milliseconds.
    pub access_expires_at: i64,
    pub refresh_hash: &'a str,
    pub refresh_expires_at: i64,
}

/// A grant's columns, of the table named `g` in a query.
const GRANT_COLUMNS: &str = "g.id, g.application_id, g.organization_id, g.member_id, \
     g.session_sid, g.redirect_uri, g.code_challenge, g.nonce, g.auth_time, g.by_directory, \
     g.code_expires_at, g.passed_on";
/// The same, as an `UPDATE … RETURNING` names them (SQLite takes no table name there).
const GRANT_RETURNING: &str = "id, application_id, organization_id, member_id, session_sid, \
     redirect_uri, code_challenge, nonce, auth_time, by_directory, code_expires_at, passed_on";

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

    /// Stores the first key of its algorithm (one that signs from before it was made), unless
    /// another instance stored one first.
    pub async fn add_first_signing_key(&self, key: &SigningKeyRecord) -> StorageResult<()> {
        sqlx::query(
            "INSERT INTO signing_key (kid, alg, sealed_private_key, public_jwk, created_at, \
             signs_from, retired_at) VALUES ($1, $2, $3, $4, $5, $6, NULL) \
             ON CONFLICT (alg) WHERE signs_from <= created_at DO NOTHING",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.sealed_private_key)
        .bind(&key.public_jwk)
        .bind(key.created_at)
        .bind(key.signs_from)
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
             by_directory, code_expires_at, created_at, passed_on) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
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
        .bind(i64::from(grant.by_directory))
        .bind(grant.code_expires_at)
        .bind(to_millis(now))
        .bind(grant.passed_on)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    /// Uses the code once and answers its grant; a later use revokes the grant, so the tokens
    /// the first use issued stop working (RFC 6749 §4.1.2). The use is one statement: of two
    /// requests with one code, one finds it unused.
    pub async fn redeem_code(
        &self,
        code_hash: &str,
        now: OffsetDateTime,
    ) -> StorageResult<Redeemed> {
        let at = to_millis(now);
        let first: Option<GrantRecord> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE provider_grant SET code_used_at = $1 WHERE code_hash = $2 \
             AND code_used_at IS NULL AND revoked_at IS NULL RETURNING {GRANT_RETURNING}"
        )))
        .bind(at)
        .bind(code_hash)
        .fetch_optional(&mut *self.write().await?)
        .await?;
        if let Some(grant) = first {
            return Ok(Redeemed::First(Box::new(grant)));
        }
        let again = sqlx::query(
            "UPDATE provider_grant SET revoked_at = COALESCE(revoked_at, $1) WHERE code_hash = $2",
        )
        .bind(at)
        .bind(code_hash)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(if again.rows_affected() == 0 {
            Redeemed::Unknown
        } else {
            Redeemed::Again
        })
    }

    /// Uses a refresh token: its first use (or another within the grace, from `grace_from`
    /// on) answers its grant to go on with; a use after that revokes the grant (RFC 9700
    /// §4.14.2: the family ends).
    pub async fn use_refresh_token(
        &self,
        token_hash: &str,
        grace_from: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StorageResult<Refreshed> {
        let at = to_millis(now);
        let mut tx = self.begin().await?;
        let token: Option<(String, Option<i64>, i64)> = sqlx::query_as(
            "SELECT grant_id, used_at, expires_at FROM provider_refresh_token WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((grant_id, used_at, expires_at)) = token else {
            return Ok(Refreshed::Unknown);
        };
        let refreshed = match used_at {
            _ if expires_at <= at => Refreshed::Unknown,
            Some(used) if used < to_millis(grace_from) => {
                sqlx::query(
                    "UPDATE provider_grant SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
                )
                .bind(at)
                .bind(&grant_id)
                .execute(&mut *tx)
                .await?;
                Refreshed::Reused
            }
            _ => {
                sqlx::query(
                    "UPDATE provider_refresh_token SET used_at = COALESCE(used_at, $1) \
                     WHERE token_hash = $2",
                )
                .bind(at)
                .bind(token_hash)
                .execute(&mut *tx)
                .await?;
                let grant: Option<GrantRecord> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {GRANT_COLUMNS} FROM provider_grant g \
                     WHERE g.id = $1 AND g.revoked_at IS NULL"
                )))
                .bind(&grant_id)
                .fetch_optional(&mut *tx)
                .await?;
                grant.map_or(Refreshed::Unknown, |g| Refreshed::Rotate(Box::new(g)))
            }
        };
        tx.commit().await?;
        Ok(refreshed)
    }

    /// Stores the tokens a grant issues, together (one trip to SQLite's writer).
    pub async fn add_tokens(
        &self,
        grant_id: &str,
        tokens: &IssuedTokens<'_>,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let at = to_millis(now);
        let batch = Batch::default()
            .then(
                "INSERT INTO provider_access_token (token_hash, grant_id, expires_at) \
                 VALUES ($1, $2, $3)",
                move |q| {
                    q.bind(tokens.access_hash)
                        .bind(grant_id)
                        .bind(tokens.access_expires_at)
                },
            )
            .then(
                "INSERT INTO provider_refresh_token (token_hash, grant_id, expires_at, \
                 created_at) VALUES ($1, $2, $3, $4)",
                move |q| {
                    q.bind(tokens.refresh_hash)
                        .bind(grant_id)
                        .bind(tokens.refresh_expires_at)
                        .bind(at)
                },
            );
        Ok(self.writer.run(batch).await?)
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

    /// The unrevoked grant of an unexpired access token with this hash.
    pub async fn find_grant_by_access_token(
        &self,
        access_token_hash: &str,
        now: OffsetDateTime,
    ) -> StorageResult<Option<GrantRecord>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {GRANT_COLUMNS} FROM provider_access_token t \
             JOIN provider_grant g ON g.id = t.grant_id \
             WHERE t.token_hash = $1 AND t.expires_at > $2 AND g.revoked_at IS NULL"
        )))
        .bind(access_token_hash)
        .bind(to_millis(now))
        .fetch_optional(&mut *self.read().await?)
        .await?)
    }
}

/// Whose grants end.
#[derive(Debug, Clone, Copy)]
pub enum GrantsOf<'a> {
    /// Those of one Gatehouse session (its `sid` for applications).
    Session(&'a str),
    /// All of a member's, in every session.
    Member {
        organization_id: &'a str,
        member_id: &'a str,
    },
}

/// A back-channel logout token owed to an application.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LogoutRecord {
    pub application_id: String,
    pub backchannel_logout_uri: String,
    pub session_sid: String,
    pub member_id: String,
    pub next_attempt_at: i64,
    pub attempts: i64,
}

impl Storage {
    /// Revokes the grants and, in the same transaction, owes a logout token to each
    /// application with a back-channel logout URI that one of them signed in. Answers how
    /// many logouts are owed.
    pub async fn end_grants(&self, of: GrantsOf<'_>, now: OffsetDateTime) -> StorageResult<u64> {
        let (filter, first, second) = match of {
            GrantsOf::Session(sid) => ("g.session_sid = $2", sid, None),
            GrantsOf::Member {
                organization_id,
                member_id,
            } => (
                "g.organization_id = $2 AND g.member_id = $3",
                organization_id,
                Some(member_id),
            ),
        };
        let at = to_millis(now);
        let mut tx = self.begin().await?;
        let bind = |query: AnyQuery<'static>| {
            let query = query.bind(at).bind(first.to_string());
            match second {
                Some(member_id) => query.bind(member_id.to_string()),
                None => query,
            }
        };
        let owed = bind(sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO provider_logout (application_id, session_sid, member_id, created_at, \
             next_attempt_at) SELECT DISTINCT g.application_id, g.session_sid, g.member_id, $1, $1 \
             FROM provider_grant g JOIN application a ON a.id = g.application_id \
             WHERE {filter} AND g.revoked_at IS NULL AND g.code_used_at IS NOT NULL \
             AND a.backchannel_logout_uri IS NOT NULL \
             ON CONFLICT (application_id, session_sid) DO NOTHING"
        ))))
        .execute(&mut *tx)
        .await?;
        let revoke = filter.replace("g.", "");
        bind(sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE provider_grant SET revoked_at = $1 WHERE {revoke} AND revoked_at IS NULL"
        ))))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(owed.rows_affected())
    }

    /// Logout tokens due now, oldest first.
    pub async fn due_logouts(
        &self,
        now: OffsetDateTime,
        limit: i64,
    ) -> StorageResult<Vec<LogoutRecord>> {
        Ok(sqlx::query_as(
            "SELECT l.application_id, a.backchannel_logout_uri, l.session_sid, l.member_id, \
             l.next_attempt_at, l.attempts FROM provider_logout l \
             JOIN application a ON a.id = l.application_id \
             WHERE l.sent_at IS NULL AND l.gave_up_at IS NULL AND l.next_attempt_at <= $1 \
             AND a.backchannel_logout_uri IS NOT NULL ORDER BY l.next_attempt_at LIMIT $2",
        )
        .bind(to_millis(now))
        .bind(limit)
        .fetch_all(&mut *self.read().await?)
        .await?)
    }

    /// Takes the logout for one sender: moves its next attempt to `until`. False when another
    /// sender (another instance) took it first.
    pub async fn take_logout(
        &self,
        logout: &LogoutRecord,
        until: OffsetDateTime,
    ) -> StorageResult<bool> {
        let taken = sqlx::query(
            "UPDATE provider_logout SET next_attempt_at = $1 WHERE application_id = $2 \
             AND session_sid = $3 AND next_attempt_at = $4 AND sent_at IS NULL",
        )
        .bind(to_millis(until))
        .bind(&logout.application_id)
        .bind(&logout.session_sid)
        .bind(logout.next_attempt_at)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    /// A delivered logout (`error` `None`), or a failed attempt, tried again at `retry_at`
    /// or never (`None`: Gatehouse gave up).
    pub async fn logout_attempted(
        &self,
        logout: &LogoutRecord,
        error: Option<&str>,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let at = to_millis(now);
        let (sent_at, gave_up_at) = match error {
            None => (Some(at), None),
            Some(_) => (None, retry_at.is_none().then_some(at)),
        };
        sqlx::query(
            "UPDATE provider_logout SET attempts = attempts + 1, sent_at = $1, gave_up_at = $2, \
             last_error = $3, next_attempt_at = COALESCE($4, next_attempt_at) \
             WHERE application_id = $5 AND session_sid = $6",
        )
        .bind(sent_at)
        .bind(gave_up_at)
        .bind(error)
        .bind(retry_at.map(to_millis))
        .bind(&logout.application_id)
        .bind(&logout.session_sid)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }
}

impl Storage {
    /// Forgets the access and refresh tokens that have expired, and the logouts delivered or
    /// given up on more than a week ago; answers how many rows went. Grants stay: they are
    /// the record of who used which application.
    pub async fn delete_expired_provider_tokens(&self, now: OffsetDateTime) -> StorageResult<u64> {
        let at = to_millis(now);
        let week_ago = to_millis(now - time::Duration::days(7));
        let mut removed = 0;
        for (sql, cutoff) in [
            (
                "DELETE FROM provider_access_token WHERE expires_at <= $1",
                at,
            ),
            (
                "DELETE FROM provider_refresh_token WHERE expires_at <= $1",
                at,
            ),
            (
                "DELETE FROM provider_logout WHERE COALESCE(sent_at, gave_up_at) <= $1",
                week_ago,
            ),
        ] {
            removed += sqlx::query(sql)
                .bind(cutoff)
                .execute(&mut *self.write().await?)
                .await?
                .rows_affected();
        }
        Ok(removed)
    }
}
