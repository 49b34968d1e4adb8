//! The email domains organizations list for email-first sign-in, and their proofs. A proven
//! domain belongs to one organization (a unique index); unproven listings block no one.

use super::audit::{self, Actor, AuditEntry};
use super::outbox::{self, NewEmail};
use super::{unique_as, Storage, StorageError, StorageResult};
use crate::clock::to_millis;
use time::OffsetDateTime;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EmailDomainRecord {
    pub organization_id: String,
    pub domain: String,
    /// The value the domain's `_gatehouse-challenge` TXT record must hold.
    pub challenge: String,
    pub proven_at: Option<i64>,
    /// `dns`, `directory:<authority>/<tenant>` or `operator:<email>`.
    pub proven_by: Option<String>,
    pub checked_at: Option<i64>,
    pub missing_since: Option<i64>,
}

const COLUMNS: &str =
    "organization_id, domain, challenge, proven_at, proven_by, checked_at, missing_since";

impl Storage {
    /// The organization's rows, after adding one (with a fresh `new_challenge()`) for each
    /// listed domain that has none yet. Nothing is written when every domain has its row, so
    /// showing the connection stays a read.
    pub async fn list_email_domains(
        &self,
        organization_id: &str,
        domains: &[String],
        new_challenge: impl Fn() -> String,
    ) -> StorageResult<Vec<EmailDomainRecord>> {
        let rows = self.email_domains(organization_id).await?;
        let missing: Vec<&String> = domains
            .iter()
            .filter(|d| !rows.iter().any(|r| &r.domain == *d))
            .collect();
        if missing.is_empty() {
            return Ok(rows);
        }
        let mut tx = self.begin().await?;
        for domain in missing {
            sqlx::query(
                "INSERT INTO email_domain (organization_id, domain, challenge) \
                 VALUES ($1, $2, $3) ON CONFLICT (organization_id, domain) DO NOTHING",
            )
            .bind(organization_id)
            .bind(domain)
            .bind(new_challenge())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.email_domains(organization_id).await
    }

    pub async fn email_domains(
        &self,
        organization_id: &str,
    ) -> StorageResult<Vec<EmailDomainRecord>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM email_domain WHERE organization_id = $1 ORDER BY domain"
        )))
        .bind(organization_id)
        .fetch_all(&mut *self.read().await?)
        .await?)
    }

    /// Whether the organization has proven `domain`, and its proof has not been missing since
    /// before `missing_cutoff` (Unix milliseconds).
    pub async fn is_domain_proven(
        &self,
        organization_id: &str,
        domain: &str,
        missing_cutoff: i64,
    ) -> StorageResult<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT proven_at FROM email_domain WHERE organization_id = $1 AND domain = $2 \
             AND proven_at IS NOT NULL AND (missing_since IS NULL OR missing_since > $3)",
        )
        .bind(organization_id)
        .bind(domain)
        .bind(missing_cutoff)
        .fetch_optional(&mut *self.read().await?)
        .await?;
        Ok(found.is_some())
    }

    /// Of `domains`, those another organization has proven.
    pub async fn domains_proven_elsewhere(
        &self,
        organization_id: &str,
        domains: &[String],
    ) -> StorageResult<Vec<String>> {
        let mut taken = Vec::new();
        let mut conn = self.read().await?;
        for domain in domains {
            let other: Option<String> = sqlx::query_scalar(
                "SELECT domain FROM email_domain \
                 WHERE domain = $1 AND organization_id <> $2 AND proven_at IS NOT NULL",
            )
            .bind(domain)
            .bind(organization_id)
            .fetch_optional(&mut *conn)
            .await?;
            taken.extend(other);
        }
        Ok(taken)
    }

    /// Marks the listed domain proven `by` (`dns` or `operator:<email>`), with its audit entry.
    /// `Conflict("domain")` when another organization proved it first; `NotFound` when the
    /// organization does not list it.
    pub async fn prove_email_domain(
        &self,
        organization_id: &str,
        domain: &str,
        by: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let at = to_millis(now);
        let mut tx = self.begin().await?;
        let changed = sqlx::query(
            "UPDATE email_domain SET proven_at = $1, proven_by = $2, checked_at = $1, \
             missing_since = NULL WHERE organization_id = $3 AND domain = $4",
        )
        .bind(at)
        .bind(by)
        .bind(organization_id)
        .bind(domain)
        .execute(&mut *tx)
        .await
        .map_err(unique_as("domain"))?;
        if changed.rows_affected() != 1 {
            return Err(StorageError::NotFound);
        }
        let entry = AuditEntry {
            detail: by,
            ..AuditEntry::success(Some(organization_id), "email_domain.proven", domain)
        };
        audit::write(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every domain proven by its DNS record or by a directory (of one organization, or of
    /// all), for the re-checks. An operator's approval is not checked again.
    pub async fn checkable_proofs(
        &self,
        organization_id: Option<&str>,
    ) -> StorageResult<Vec<EmailDomainRecord>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM email_domain \
             WHERE (proven_by = 'dns' OR proven_by LIKE 'directory:%') \
             AND ($1 IS NULL OR organization_id = $1) ORDER BY domain"
        )))
        .bind(organization_id)
        .fetch_all(&mut *self.read().await?)
        .await?)
    }

    /// Records a re-check of `record`'s proof: `present`, or missing since its first miss
    /// (now, when this is the first, which is audited and written to the organization's active
    /// admins as `warning`).
    pub async fn record_domain_recheck(
        &self,
        record: &EmailDomainRecord,
        present: bool,
        warning: impl FnOnce() -> NewEmail,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let at = to_millis(now);
        let first_miss = !present && record.missing_since.is_none();
        let missing_since = if present {
            None
        } else {
            record.missing_since.or(Some(at))
        };
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE email_domain SET checked_at = $1, missing_since = $2 \
             WHERE organization_id = $3 AND domain = $4",
        )
        .bind(at)
        .bind(missing_since)
        .bind(&record.organization_id)
        .bind(&record.domain)
        .execute(&mut *tx)
        .await?;
        if first_miss {
            let entry = AuditEntry {
                outcome: "failure",
                detail: "the proof is missing (its TXT record, or the directory no longer lists the domain as verified): email-first sign-in stops in 7 days unless it is back",
                ..AuditEntry::success(
                    Some(&record.organization_id),
                    "email_domain.proof_missing",
                    &record.domain,
                )
            };
            audit::write(&mut tx, actor, &entry, now).await?;
            let admins = outbox::admin_addresses(&mut tx, &record.organization_id).await?;
            outbox::enqueue(&mut tx, &admins, &warning(), now).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
