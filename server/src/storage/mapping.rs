//! Mapping members to directory users in bulk: the counts of the mapping, the rows suggestions
//! and stale checks need, confirmed suggestions, and CSV imports applied in one transaction.

use super::audit::{self, Actor, AuditEntry};
use super::{new_id, placeholders, unique_as, Storage, StorageError, StorageResult};
use crate::clock::to_millis;
use std::sync::atomic::{AtomicU64, Ordering};
use time::OffsetDateTime;

/// What an import compares its rows with: one member, in few columns.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ExistingMember {
    pub id: String,
    pub email_normalized: String,
    pub display_name: String,
    pub role: String,
    pub directory_object_id: Option<String>,
    pub sso_enabled: i64,
}

/// A member an import creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedMember {
    pub email: String,
    pub email_normalized: String,
    pub display_name: String,
    pub role: &'static str,
    pub object_id: Option<String>,
    pub sso_enabled: bool,
}

/// A member an import changes (every field as it will be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedUpdate {
    pub id: String,
    pub display_name: String,
    pub role: &'static str,
    pub object_id: Option<String>,
    pub object_changed: bool,
    pub sso_enabled: bool,
}

/// What an import does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportChanges {
    pub creates: Vec<ImportedMember>,
    pub updates: Vec<ImportedUpdate>,
    pub unchanged: u64,
    /// Of the updates, members mapped to a directory user who become admins (the admin
    /// confirms those).
    pub promotions: u64,
}

/// An unmapped member, for suggestions.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UnmappedMember {
    pub id: String,
    pub display_name: String,
    /// `None` for a member without an email (`email_normalized` is empty then).
    pub email: Option<String>,
    pub email_normalized: String,
}

/// A mapped member's directory user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MappedMember {
    pub id: String,
    pub display_name: String,
    pub directory_object_id: String,
}

/// A confirmed suggestion: the member, the directory user's Object ID and UPN.
pub struct ConfirmedMapping<'a> {
    pub member_id: &'a str,
    pub object_id: &'a str,
    pub user_principal_name: Option<&'a str>,
}

/// From this many rows written, an import refreshes the planner's statistics at once instead
/// of waiting for the database's own maintenance.
const LARGE_IMPORT: u64 = 10_000;

/// Rows per multi-row INSERT of an import (12 values each; both databases allow far more).
const INSERT_CHUNK: usize = 200;

impl Storage {
    /// Mapped and unmapped members of the organization.
    pub async fn mapping_counts(&self, organization_id: &str) -> StorageResult<(i64, i64)> {
        let (mapped, total): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(directory_object_id), COUNT(*) FROM member WHERE organization_id = $1",
        )
        .bind(organization_id)
        .fetch_one(&mut *self.read().await?)
        .await?;
        Ok((mapped, total - mapped))
    }

    /// Members mapped to a directory other than `tenant_id` (the organization connected
    /// another one since): none of them can sign in until mapped again.
    pub async fn count_mapped_elsewhere(
        &self,
        organization_id: &str,
        tenant_id: &str,
    ) -> StorageResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM member WHERE organization_id = $1 \
             AND directory_object_id IS NOT NULL AND directory_tenant_id <> $2",
        )
        .bind(organization_id)
        .bind(tenant_id)
        .fetch_one(&mut *self.read().await?)
        .await?)
    }

    pub async fn unmapped_members(
        &self,
        organization_id: &str,
    ) -> StorageResult<Vec<UnmappedMember>> {
        Ok(sqlx::query_as(
            "SELECT id, display_name, email, email_normalized FROM member \
             WHERE organization_id = $1 AND directory_object_id IS NULL",
        )
        .bind(organization_id)
        .fetch_all(&mut *self.read().await?)
        .await?)
    }

    /// Members mapped into `tenant_id`.
    pub async fn mapped_members(
        &self,
        organization_id: &str,
        tenant_id: &str,
    ) -> StorageResult<Vec<MappedMember>> {
        Ok(sqlx::query_as(
            "SELECT id, display_name, directory_object_id FROM member \
             WHERE organization_id = $1 AND directory_tenant_id = $2 \
             AND directory_object_id IS NOT NULL",
        )
        .bind(organization_id)
        .bind(tenant_id)
        .fetch_all(&mut *self.read().await?)
        .await?)
    }

    /// The members holding these Object IDs, as (Object ID, member).
    pub async fn holders_of(
        &self,
        organization_id: &str,
        tenant_id: &str,
        object_ids: &[String],
    ) -> StorageResult<Vec<MappedMember>> {
        let mut holders = Vec::new();
        for chunk in object_ids.chunks(500) {
            let sql = format!(
                "SELECT id, display_name, directory_object_id FROM member \
                 WHERE organization_id = $1 AND directory_tenant_id = $2 \
                 AND directory_object_id IN ({})",
                placeholders(3, chunk.len(), 1)
            );
            let mut query = sqlx::query_as::<_, MappedMember>(sqlx::AssertSqlSafe(sql))
                .bind(organization_id)
                .bind(tenant_id);
            for id in chunk {
                query = query.bind(id);
            }
            holders.extend(query.fetch_all(&mut *self.read().await?).await?);
        }
        Ok(holders)
    }

    /// Maps each still-unmapped member to its confirmed directory user, in one transaction;
    /// returns how many were mapped and why the others were not.
    pub async fn confirm_mappings(
        &self,
        organization_id: &str,
        tenant_id: &str,
        choices: &[ConfirmedMapping<'_>],
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<(i64, Vec<String>)> {
        let mut tx = self.begin().await?;
        let mut mapped = 0;
        let mut skipped = Vec::new();
        for choice in choices {
            let holder: Option<String> = sqlx::query_scalar(
                "SELECT display_name FROM member WHERE organization_id = $1 \
                 AND directory_tenant_id = $2 AND directory_object_id = $3",
            )
            .bind(organization_id)
            .bind(tenant_id)
            .bind(choice.object_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(holder) = holder {
                skipped.push(format!(
                    "{holder} already has Object ID {}.",
                    choice.object_id
                ));
                continue;
            }
            let done = sqlx::query(
                "UPDATE member SET directory_tenant_id = $1, directory_object_id = $2, \
                 directory_upn = $3, updated_at = $4 \
                 WHERE organization_id = $5 AND id = $6 AND directory_object_id IS NULL",
            )
            .bind(tenant_id)
            .bind(choice.object_id)
            .bind(choice.user_principal_name)
            .bind(to_millis(now))
            .bind(organization_id)
            .bind(choice.member_id)
            .execute(&mut *tx)
            .await
            .map_err(unique_as("directory_object_id"))?;
            if done.rows_affected() == 1 {
                mapped += 1;
            } else {
                skipped.push(format!(
                    "Member {} is already mapped or no longer exists.",
                    choice.member_id
                ));
            }
        }
        let detail = format!("{mapped} confirmed suggestions mapped");
        let entry = AuditEntry {
            detail: &detail,
            ..AuditEntry::success(Some(organization_id), "member.map_suggestions", "members")
        };
        audit::write(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok((mapped, skipped))
    }

    /// Every member of the organization, as an import compares them.
    pub async fn import_snapshot(
        &self,
        organization_id: &str,
    ) -> StorageResult<Vec<ExistingMember>> {
        snapshot(&mut *self.read().await?, organization_id).await
    }

    /// Applies an import in one transaction: `replan` sees the members as they are inside it and
    /// says what to change, or why not (then nothing is written). `progress` counts rows written.
    pub async fn apply_member_import<E>(
        &self,
        organization_id: &str,
        tenant_id: Option<&str>,
        replan: impl FnOnce(&[ExistingMember]) -> Result<ImportChanges, E>,
        progress: &AtomicU64,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<Result<ImportChanges, E>> {
        let at = to_millis(now);
        let mut tx = self.begin().await?;
        super::require_organization(&mut tx, organization_id).await?;
        let existing = snapshot(&mut tx, organization_id).await?;
        let changes = match replan(&existing) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        drop(existing);
        // Object IDs that move are released first, so a swap never meets itself.
        for update in changes.updates.iter().filter(|u| u.object_changed) {
            sqlx::query(
                "UPDATE member SET directory_tenant_id = NULL, directory_object_id = NULL, \
                 directory_upn = NULL WHERE id = $1",
            )
            .bind(&update.id)
            .execute(&mut *tx)
            .await?;
        }
        let mut written = 0;
        for update in &changes.updates {
            let tenant = update.object_id.as_ref().and(tenant_id);
            let query = if update.object_changed {
                sqlx::query(
                    "UPDATE member SET display_name = $1, display_name_normalized = $2, role = $3, \
                     sso_enabled = $4, updated_at = $5, directory_tenant_id = $6, \
                     directory_object_id = $7 WHERE id = $8",
                )
                .bind(&update.display_name)
                .bind(update.display_name.to_lowercase())
                .bind(update.role)
                .bind(i64::from(update.sso_enabled))
                .bind(at)
                .bind(tenant)
                .bind(update.object_id.as_deref())
                .bind(&update.id)
            } else {
                sqlx::query(
                    "UPDATE member SET display_name = $1, display_name_normalized = $2, role = $3, \
                     sso_enabled = $4, updated_at = $5 WHERE id = $6",
                )
                .bind(&update.display_name)
                .bind(update.display_name.to_lowercase())
                .bind(update.role)
                .bind(i64::from(update.sso_enabled))
                .bind(at)
                .bind(&update.id)
            };
            query
                .execute(&mut *tx)
                .await
                .map_err(unique_as("directory_object_id"))?;
            written += 1;
            if written % 500 == 0 {
                progress.store(written, Ordering::Relaxed);
            }
        }
        // On SQLite the searchable text goes in with the row (PostgreSQL computes its own).
        let with_search_text = self.backend == super::Backend::Sqlite;
        let width = if with_search_text { 14 } else { 13 };
        for chunk in changes.creates.chunks(INSERT_CHUNK) {
            let sql =
                format!(
                "INSERT INTO member (id, organization_id, email, email_normalized, display_name, \
                 display_name_normalized, role, status, sso_enabled, directory_tenant_id, \
                 directory_object_id, created_at, updated_at{}) VALUES {}",
                if with_search_text { ", search_text" } else { "" },
                placeholders(1, chunk.len(), width)
            );
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
            for member in chunk {
                let name_normalized = member.display_name.to_lowercase();
                // As the migrations' triggers write it for a member without a UPN.
                let search_text = with_search_text
                    .then(|| format!("{name_normalized} {} ", member.email_normalized));
                insert = insert
                    .bind(new_id())
                    .bind(organization_id)
                    .bind(&member.email)
                    .bind(&member.email_normalized)
                    .bind(&member.display_name)
                    .bind(name_normalized)
                    .bind(member.role)
                    .bind("active")
                    .bind(i64::from(member.sso_enabled))
                    .bind(member.object_id.as_ref().and(tenant_id))
                    .bind(member.object_id.as_deref())
                    .bind(at)
                    .bind(at);
                if let Some(text) = search_text {
                    insert = insert.bind(text);
                }
            }
            insert.execute(&mut *tx).await.map_err(unique_as("email"))?;
            written += chunk.len() as u64;
            progress.store(written, Ordering::Relaxed);
        }
        let mut detail = format!(
            "{} created, {} updated, {} unchanged",
            changes.creates.len(),
            changes.updates.len(),
            changes.unchanged
        );
        if changes.promotions > 0 {
            detail.push_str(&format!(
                "; confirmed: {} members mapped to a directory user made admins",
                changes.promotions
            ));
        }
        let entry = AuditEntry {
            detail: &detail,
            ..AuditEntry::success(Some(organization_id), "member.import", "CSV file")
        };
        audit::write(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        progress.store(written, Ordering::Relaxed);
        if written >= LARGE_IMPORT {
            self.refresh_member_statistics().await;
        }
        Ok(Ok(changes))
    }

    /// Brings the query planner's statistics (and PostgreSQL's visibility map, which index-only
    /// scans need) up to date after a large change. Best effort: the data is already committed.
    async fn refresh_member_statistics(&self) {
        let statement = match self.backend {
            super::Backend::Sqlite => "ANALYZE member",
            super::Backend::Postgres => "VACUUM (ANALYZE) member",
        };
        let refreshed = match self.write().await {
            Ok(mut conn) => sqlx::query(statement)
                .execute(&mut *conn)
                .await
                .map(drop)
                .map_err(StorageError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = refreshed {
            tracing::warn!(error = %e, "refreshing member statistics after an import failed");
        }
    }

    /// Every member with their mapping, in email order, for an export.
    pub async fn export_members(
        &self,
        organization_id: &str,
    ) -> StorageResult<Vec<super::MemberRecord>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM member WHERE organization_id = $1 ORDER BY email_normalized",
            super::members::COLUMNS
        )))
        .bind(organization_id)
        .fetch_all(&mut *self.read().await?)
        .await?)
    }
}

async fn snapshot(
    conn: &mut sqlx::AnyConnection,
    organization_id: &str,
) -> StorageResult<Vec<ExistingMember>> {
    Ok(sqlx::query_as(
        "SELECT id, email_normalized, display_name, role, directory_object_id, sso_enabled \
         FROM member WHERE organization_id = $1",
    )
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await?)
}
