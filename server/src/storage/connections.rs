//! SSO connections: a versioned draft and the active configuration, as JSON documents.

use super::audit::{self, Actor, AuditEntry};
use super::sign_in_states::{self, mark_used, UsedState};
use super::writer::Batch;
use super::{sessions, violates_key_of, SessionRecord, Storage, StorageError, StorageResult};
use crate::clock::to_millis;
use crate::crypto::tokens;
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
    /// The newest SSO sign-in of any member.
    pub last_sign_in_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}

/// The organization whose active connection has proven an email domain.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DomainOwner {
    pub organization_id: String,
    pub name: String,
    pub slug: String,
}

impl Storage {
    pub async fn find_connection(
        &self,
        organization_id: &str,
    ) -> StorageResult<Option<ConnectionRecord>> {
        Ok(sqlx::query_as(
            "SELECT organization_id, status, draft_config, draft_version, active_config, activated_at, \
             test_sign_in, (SELECT MAX(s.last_sso_sign_in_at) FROM member_last_sign_in s \
             WHERE s.organization_id = c.organization_id) AS last_sign_in_at, last_error, \
             last_error_at FROM sso_connection c WHERE organization_id = $1",
        )
        .bind(organization_id)
        .fetch_optional(&mut *self.read().await?)
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
        let mut tx = self.begin().await?;
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

    /// Makes the draft at `expected_version` the active configuration, in one transaction,
    /// with `listed_domains` as the email domains that lead to this organization's directory
    /// once proven.
    pub async fn activate_connection(
        &self,
        organization_id: &str,
        expected_version: i64,
        listed_domains: &[String],
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let mut tx = self.begin().await?;
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
        sqlx::query("DELETE FROM sso_domain WHERE organization_id = $1")
            .bind(organization_id)
            .execute(&mut *tx)
            .await?;
        for domain in listed_domains {
            sqlx::query("INSERT INTO sso_domain (domain, organization_id) VALUES ($1, $2)")
                .bind(domain)
                .bind(organization_id)
                .execute(&mut *tx)
                .await?;
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

    /// Every organization's active configuration (JSON), for the daily re-read of SAML metadata.
    pub async fn active_connection_configs(&self) -> StorageResult<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT organization_id, active_config FROM sso_connection \
             WHERE active_config IS NOT NULL ORDER BY organization_id",
        )
        .fetch_all(&mut *self.read().await?)
        .await?)
    }

    /// Replaces the active configuration, if it is still `expected`, with its audit entry: a
    /// `Conflict("version")` when it changed meanwhile (an admin activated another).
    pub async fn replace_active_config(
        &self,
        organization_id: &str,
        expected: &str,
        replacement: &str,
        entry: &AuditEntry<'_>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let change = sqlx::query(
            "UPDATE sso_connection SET active_config = $1, updated_at = $2 \
             WHERE organization_id = $3 AND active_config = $4",
        )
        .bind(replacement)
        .bind(to_millis(now))
        .bind(organization_id)
        .bind(expected);
        self.change_one_audited(change, entry, actor, now)
            .await
            .map_err(|e| match e {
                StorageError::NotFound => StorageError::Conflict("version"),
                other => other,
            })
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

    /// The organization with active SSO whose active configuration lists this email domain
    /// and that has proven it, unless its proof has been missing since before `missing_cutoff`
    /// (Unix milliseconds).
    pub async fn find_domain_owners(
        &self,
        domain: &str,
        missing_cutoff: i64,
    ) -> StorageResult<Vec<DomainOwner>> {
        Ok(sqlx::query_as(
            "SELECT o.id AS organization_id, o.name, o.slug FROM sso_domain d \
             JOIN sso_connection c ON c.organization_id = d.organization_id \
             JOIN organization o ON o.id = d.organization_id \
             JOIN email_domain p ON p.organization_id = d.organization_id AND p.domain = d.domain \
             WHERE d.domain = $1 AND c.status = 'active' AND p.proven_at IS NOT NULL \
             AND (p.missing_since IS NULL OR p.missing_since > $2) ORDER BY o.name LIMIT 2",
        )
        .bind(domain)
        .bind(missing_cutoff)
        .fetch_all(&mut *self.read().await?)
        .await?)
    }

    /// A successful SSO sign-in, all or nothing: its state kept as used, the audit entry, the
    /// member's last sign-in, and the new session (ending the one it replaces). A state used
    /// already is a `Conflict("state")` and writes nothing.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_sso_sign_in(
        &self,
        organization_id: &str,
        member_id: &str,
        entry: &AuditEntry<'_>,
        actor: &Actor,
        session: &SessionRecord<'_>,
        replaces: Option<&str>,
        used: UsedState<'_>,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let at = to_millis(now);
        let mut batch = Batch::default()
            .then(sign_in_states::MARK_USED, move |q| {
                q.bind(used.state_hash).bind(used.expires_at)
            })
            .then(audit::INSERT, move |q| {
                audit::bind_insert(q, actor, entry, now)
            })
            .then(
                "UPDATE member_last_sign_in SET last_sso_sign_in_at = $1 \
                 WHERE member_id = $2 AND organization_id = $3",
                move |q| q.bind(at).bind(member_id).bind(organization_id),
            );
        if let Some(replaces) = replaces {
            batch = batch.then(sessions::DELETE, move |q| q.bind(tokens::hash(replaces)));
        }
        let batch = batch.then(sessions::INSERT, move |q| sessions::bind_insert(q, session));
        self.writer.run(batch).await.map_err(|e| {
            if violates_key_of(&e, "used_sign_in_state") {
                StorageError::Conflict("state")
            } else if violates_key_of(&e, "web_session") {
                StorageError::Conflict("session")
            } else {
                StorageError::Database(e)
            }
        })
    }

    /// A failed SSO sign-in: the connection's last error and the audit entry, together, and
    /// the state it came back with (if it got that far) kept as used. Answers false when that
    /// state had been used before: the failure is a replay.
    pub async fn record_sso_failure(
        &self,
        organization_id: &str,
        error: &str,
        entry: &AuditEntry<'_>,
        actor: &Actor,
        used: Option<UsedState<'_>>,
        now: OffsetDateTime,
    ) -> StorageResult<bool> {
        let at = to_millis(now);
        let mut tx = self.begin().await?;
        let first_use = match used {
            Some(used) => mark_used(&mut tx, used).await?,
            None => true,
        };
        if !first_use {
            // A replay says nothing about the connection's health: it is only audited.
            let detail = format!("{} (replay: the state was used before)", entry.detail);
            let replay = AuditEntry {
                detail: &detail,
                ..*entry
            };
            audit::write(&mut tx, actor, &replay, now).await?;
            tx.commit().await?;
            return Ok(false);
        }
        sqlx::query(
            "UPDATE sso_connection SET last_error = $1, last_error_at = $2 WHERE organization_id = $3",
        )
        .bind(error)
        .bind(at)
        .bind(organization_id)
        .execute(&mut *tx)
        .await?;
        audit::write(&mut tx, actor, entry, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}
