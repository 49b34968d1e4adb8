use super::writer::AnyQuery;
use super::{PageRequest, Paged, Storage, StorageResult};
use crate::clock::to_millis;
use sqlx::AnyConnection;
use time::OffsetDateTime;

/// Who does something, and from where.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `operator:<email>`, `admin:<email>`, `invitee:<email>`, `anonymous`, `system`.
    pub label: String,
    pub client_addr: String,
}

impl Actor {
    pub fn system() -> Self {
        Actor {
            label: "system".into(),
            client_addr: "-".into(),
        }
    }
}

/// One audit log line to write.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub organization_id: Option<&'a str>,
    pub action: &'static str,
    pub target: &'a str,
    /// `success` or `failure`.
    pub outcome: &'static str,
    /// Why, for failures; never a secret.
    pub detail: &'a str,
}

impl<'a> AuditEntry<'a> {
    pub fn success(
        organization_id: Option<&'a str>,
        action: &'static str,
        target: &'a str,
    ) -> Self {
        AuditEntry {
            organization_id,
            action,
            target,
            outcome: "success",
            detail: "",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub organization_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
    pub client_addr: String,
    pub created_at: i64,
}

/// Records an event: bind it with `bind_insert`.
pub(super) const INSERT: &str = "INSERT INTO audit_event \
     (organization_id, actor, action, target, outcome, detail, client_addr, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// Binds `INSERT`'s values.
pub(super) fn bind_insert<'q>(
    query: AnyQuery<'q>,
    actor: &'q Actor,
    entry: &AuditEntry<'q>,
    now: OffsetDateTime,
) -> AnyQuery<'q> {
    query
        .bind(entry.organization_id)
        .bind(actor.label.as_str())
        .bind(entry.action)
        .bind(entry.target)
        .bind(entry.outcome)
        .bind(entry.detail)
        .bind(actor.client_addr.as_str())
        .bind(to_millis(now))
}

/// Writes the entry on `conn`, inside the caller's transaction when it has one.
pub(super) async fn write(
    conn: &mut AnyConnection,
    actor: &Actor,
    entry: &AuditEntry<'_>,
    now: OffsetDateTime,
) -> StorageResult<()> {
    bind_insert(sqlx::query(INSERT), actor, entry, now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Storage {
    /// Records an event that changes nothing else (for example a failed sign-in).
    pub async fn record_audit(
        &self,
        actor: &Actor,
        entry: &AuditEntry<'_>,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let mut conn = self.write().await?;
        write(&mut conn, actor, entry, now).await
    }

    /// Deletes up to `batch` of the oldest events recorded before `cutoff`: answers how many.
    /// The oldest are found by id (the order they were written in), so a round reads no more
    /// than `batch` rows however long the log is.
    pub async fn delete_audit_before(
        &self,
        cutoff: OffsetDateTime,
        batch: i64,
    ) -> StorageResult<u64> {
        Ok(sqlx::query(
            "DELETE FROM audit_event WHERE id IN \
             (SELECT id FROM audit_event ORDER BY id LIMIT $1) AND created_at < $2",
        )
        .bind(batch)
        .bind(crate::clock::to_millis(cutoff))
        .execute(&mut *self.write().await?)
        .await?
        .rows_affected())
    }

    /// An organization's events, newest first.
    pub async fn list_audit(
        &self,
        organization_id: &str,
        page: PageRequest,
    ) -> StorageResult<Paged<AuditRecord>> {
        let items = sqlx::query_as::<_, AuditRecord>(
            "SELECT id, organization_id, actor, action, target, outcome, detail, client_addr, created_at \
             FROM audit_event WHERE organization_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
        )
        .bind(organization_id)
        .bind(page.per_page)
        .bind(page.offset())
        .fetch_all(&mut *self.read().await?)
        .await?;
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_event WHERE organization_id = $1")
                .bind(organization_id)
                .fetch_one(&mut *self.read().await?)
                .await?;
        Ok(Paged { items, total, page })
    }
}
