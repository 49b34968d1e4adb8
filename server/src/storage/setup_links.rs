//! Setup links: single-use, revocable, time-limited; each creates an admin of one organization.

use super::audit::{self, Actor, AuditEntry};
use super::members::{insert_member, member_by_id, MemberRecord, NewMember};
use super::{new_id, Storage, StorageError, StorageResult};
use crate::clock::to_millis;
use time::OffsetDateTime;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SetupLinkRecord {
    pub id: String,
    pub organization_id: String,
    pub created_by: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub used_at: Option<i64>,
    pub used_by: Option<String>,
    pub created_at: i64,
}

/// What the page behind a valid link shows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenSetupLink {
    pub organization_id: String,
    pub organization_name: String,
    pub expires_at: i64,
}

impl Storage {
    pub async fn create_setup_link(
        &self,
        organization_id: &str,
        token_hash: &str,
        expires_at: OffsetDateTime,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<SetupLinkRecord> {
        let mut tx = self.begin().await?;
        super::require_organization(&mut tx, organization_id).await?;
        let record = SetupLinkRecord {
            id: new_id(),
            organization_id: organization_id.into(),
            created_by: actor.label.clone(),
            expires_at: to_millis(expires_at),
            revoked_at: None,
            used_at: None,
            used_by: None,
            created_at: to_millis(now),
        };
        sqlx::query(
            "INSERT INTO setup_link (id, token_hash, organization_id, created_by, expires_at, \
             revoked_at, used_at, used_by, created_at) VALUES ($1, $2, $3, $4, $5, NULL, NULL, NULL, $6)",
        )
        .bind(&record.id)
        .bind(token_hash)
        .bind(organization_id)
        .bind(&record.created_by)
        .bind(record.expires_at)
        .bind(record.created_at)
        .execute(&mut *tx)
        .await?;
        audit::write(
            &mut tx,
            actor,
            &AuditEntry::success(Some(organization_id), "setup_link.create", &record.id),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// The organization's setup links, newest first.
    pub async fn list_setup_links(
        &self,
        organization_id: &str,
    ) -> StorageResult<Vec<SetupLinkRecord>> {
        Ok(sqlx::query_as(
            "SELECT id, organization_id, created_by, expires_at, revoked_at, used_at, used_by, created_at \
             FROM setup_link WHERE organization_id = $1 ORDER BY created_at DESC, id",
        )
        .bind(organization_id)
        .fetch_all(&mut *self.read().await?)
        .await?)
    }

    pub async fn revoke_setup_link(
        &self,
        organization_id: &str,
        link_id: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let change = sqlx::query(
            "UPDATE setup_link SET revoked_at = $1 WHERE id = $2 AND organization_id = $3 \
             AND revoked_at IS NULL AND used_at IS NULL",
        )
        .bind(to_millis(now))
        .bind(link_id)
        .bind(organization_id);
        let entry = AuditEntry::success(Some(organization_id), "setup_link.revoke", link_id);
        self.change_one_audited(change, &entry, actor, now).await
    }

    /// The link when it is unused, unrevoked and unexpired.
    pub async fn find_open_setup_link(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> StorageResult<Option<OpenSetupLink>> {
        Ok(sqlx::query_as(
            "SELECT l.organization_id, o.name AS organization_name, l.expires_at \
             FROM setup_link l JOIN organization o ON o.id = l.organization_id \
             WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.revoked_at IS NULL AND l.expires_at > $2",
        )
        .bind(token_hash)
        .bind(to_millis(now))
        .fetch_optional(&mut *self.read().await?)
        .await?)
    }

    /// Spends the link, in `tx`: answers its organization and id, or `NotFound` when it was
    /// used, revoked or expired meanwhile. `used_by` is the email of who used it.
    async fn spend_setup_link(
        tx: &mut sqlx::AnyConnection,
        token_hash: &str,
        used_by: &str,
        now: OffsetDateTime,
    ) -> StorageResult<(String, String)> {
        let claimed: Option<(String, String)> = sqlx::query_as(
            "UPDATE setup_link SET used_at = $1, used_by = $2 \
             WHERE token_hash = $3 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1 \
             RETURNING organization_id, id",
        )
        .bind(to_millis(now))
        .bind(used_by)
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        claimed.ok_or(StorageError::NotFound)
    }

    /// Uses the link for a new account: an admin of its organization. An email that already
    /// has an account there is refused (`Conflict("email")`) and the link stays unused: a
    /// link never changes an existing account. One transaction.
    pub async fn use_setup_link(
        &self,
        token_hash: &str,
        email: (&str, &str),
        name: &str,
        password_hash: &str,
        client_addr: &str,
        now: OffsetDateTime,
    ) -> StorageResult<MemberRecord> {
        let mut tx = self.begin().await?;
        let (organization_id, link_id) =
            Self::spend_setup_link(&mut tx, token_hash, email.0, now).await?;
        let admin = NewMember {
            email: Some(email),
            display_name: name,
            role: "admin",
        };
        let record =
            insert_member(&mut tx, &organization_id, &admin, Some(password_hash), now).await?;
        let actor = Actor {
            label: format!("setup-link:{}", email.0),
            client_addr: client_addr.into(),
        };
        let entry = AuditEntry {
            detail: &link_id,
            ..AuditEntry::success(Some(&organization_id), "setup_link.use", email.0)
        };
        audit::write(&mut tx, &actor, &entry, now).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Uses the link for an account that is signed in: the active member `member_id` of the
    /// link's organization becomes an admin; nothing else about them changes. `NotFound` when
    /// the link is gone or the member is not an active member of its organization. One
    /// transaction.
    pub async fn claim_setup_link(
        &self,
        token_hash: &str,
        member_id: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<MemberRecord> {
        let mut tx = self.begin().await?;
        let member = member_by_id(&mut tx, member_id).await?;
        let (organization_id, link_id) =
            Self::spend_setup_link(&mut tx, token_hash, member.label(), now).await?;
        let promoted = sqlx::query(
            "UPDATE member SET role = 'admin', updated_at = $1 \
             WHERE id = $2 AND organization_id = $3 AND status = 'active'",
        )
        .bind(to_millis(now))
        .bind(member_id)
        .bind(&organization_id)
        .execute(&mut *tx)
        .await?;
        if promoted.rows_affected() != 1 {
            return Err(StorageError::NotFound);
        }
        let detail = format!("{link_id}: an existing account, made admin");
        let entry = AuditEntry {
            detail: &detail,
            ..AuditEntry::success(Some(&organization_id), "setup_link.use", member.label())
        };
        audit::write(&mut tx, actor, &entry, now).await?;
        let record = member_by_id(&mut tx, member_id).await?;
        tx.commit().await?;
        Ok(record)
    }
}
