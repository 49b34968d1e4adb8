use super::audit::{self, Actor, AuditEntry};
use super::{contains_pattern, new_id, unique_as, PageRequest, Paged, Storage, StorageResult};
use crate::clock::to_millis;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OrganizationRecord {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub member_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const SELECT: &str = "SELECT o.id, o.name, o.slug, o.created_at, o.updated_at, \
     (SELECT COUNT(*) FROM member m WHERE m.organization_id = o.id) AS member_count \
     FROM organization o";
/// How a sign-in names its organization.
#[derive(Debug, Clone, Copy)]
pub enum OrganizationKey<'a> {
    Slug(&'a str),
    Id(&'a str),
}

/// An organization (its `member_count` reads 0) and its active SSO configuration's JSON.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignInOrganization {
    #[sqlx(flatten)]
    pub organization: OrganizationRecord,
    pub active_config: Option<String>,
}

impl Storage {
    pub async fn create_organization(
        &self,
        name: &str,
        slug: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<OrganizationRecord> {
        let id = new_id();
        let at = to_millis(now);
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO organization (id, name, name_normalized, slug, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&id)
        .bind(name)
        .bind(name.to_lowercase())
        .bind(slug)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(unique_as("slug"))?;
        let target = format!("{name} ({slug})");
        audit::write(
            &mut tx,
            actor,
            &AuditEntry::success(Some(&id), "organization.create", &target),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(OrganizationRecord {
            id,
            name: name.into(),
            slug: slug.into(),
            member_count: 0,
            created_at: at,
            updated_at: at,
        })
    }

    pub async fn find_organization(&self, id: &str) -> StorageResult<Option<OrganizationRecord>> {
        Ok(
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE o.id = $1")))
                .bind(id)
                .fetch_optional(&mut *self.read().await?)
                .await?,
        )
    }

    /// The organization a sign-in concerns, by slug or id, with its active SSO configuration
    /// (none unless SSO is active), in one query.
    pub async fn find_sign_in_organization(
        &self,
        key: OrganizationKey<'_>,
    ) -> StorageResult<Option<SignInOrganization>> {
        let (column, value) = match key {
            OrganizationKey::Slug(slug) => ("o.slug", slug),
            OrganizationKey::Id(id) => ("o.id", id),
        };
        let sql = format!(
            "SELECT o.id, o.name, o.slug, o.created_at, o.updated_at, 0 AS member_count, \
             c.active_config FROM organization o LEFT JOIN sso_connection c \
             ON c.organization_id = o.id AND c.status = 'active' WHERE {column} = $1"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&mut *self.read().await?)
            .await?)
    }

    /// Organizations whose name or slug contains `search`, by name.
    pub async fn list_organizations(
        &self,
        search: &str,
        page: PageRequest,
    ) -> StorageResult<Paged<OrganizationRecord>> {
        let pattern = contains_pattern(search);
        const FILTER: &str =
            "WHERE o.name_normalized LIKE $1 ESCAPE '\\' OR o.slug LIKE $1 ESCAPE '\\'";
        let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} {FILTER} ORDER BY o.name_normalized, o.id LIMIT $2 OFFSET $3"
        )))
        .bind(&pattern)
        .bind(page.per_page)
        .bind(page.offset())
        .fetch_all(&mut *self.read().await?)
        .await?;
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM organization o {FILTER}"
        )))
        .bind(&pattern)
        .fetch_one(&mut *self.read().await?)
        .await?;
        Ok(Paged { items, total, page })
    }

    pub async fn rename_organization(
        &self,
        id: &str,
        name: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let change = sqlx::query(
            "UPDATE organization SET name = $1, name_normalized = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(name)
        .bind(name.to_lowercase())
        .bind(to_millis(now))
        .bind(id);
        let entry = AuditEntry::success(Some(id), "organization.rename", name);
        self.change_one_audited(change, &entry, actor, now).await
    }

    /// Deletes the organization with its members and invites; the audit log keeps its history.
    pub async fn delete_organization(
        &self,
        id: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let mut tx = self.begin().await?;
        let name: Option<String> =
            sqlx::query_scalar("SELECT name FROM organization WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let name = name.ok_or(super::StorageError::NotFound)?;
        // Explicit deletes keep this independent of the backend's foreign-key settings.
        for statement in [
            "DELETE FROM admin_invite WHERE organization_id = $1",
            "DELETE FROM setup_link WHERE organization_id = $1",
            "DELETE FROM sso_connection WHERE organization_id = $1",
            "DELETE FROM member WHERE organization_id = $1",
            "DELETE FROM organization WHERE id = $1",
        ] {
            sqlx::query(statement).bind(id).execute(&mut *tx).await?;
        }
        audit::write(
            &mut tx,
            actor,
            &AuditEntry::success(Some(id), "organization.delete", &name),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
