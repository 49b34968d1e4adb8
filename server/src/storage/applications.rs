//! The vendor's applications that sign people in through Gatehouse, and their client secrets.

use super::audit::{self, Actor, AuditEntry};
use super::writer::AnyQuery;
use super::{new_id, Storage, StorageError, StorageResult};
use crate::clock::to_millis;
use time::OffsetDateTime;

/// An application as stored; its id is its client ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRecord {
    pub id: String,
    pub name: String,
    /// `confidential` or `public`.
    pub kind: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    /// The organizations it may serve; `None`: every one.
    pub organization_ids: Option<Vec<String>>,
    pub allow_password_sessions: bool,
    /// `ES256` or `RS256`.
    pub signing_alg: String,
    pub refresh_token_lifetime_seconds: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What an operator sets on an application.
#[derive(Debug, Clone, Copy)]
pub struct ApplicationSettings<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub redirect_uris: &'a [String],
    pub post_logout_redirect_uris: &'a [String],
    pub backchannel_logout_uri: Option<&'a str>,
    pub organization_ids: Option<&'a [String]>,
    pub allow_password_sessions: bool,
    pub signing_alg: &'a str,
    pub refresh_token_lifetime_seconds: i64,
}

#[derive(sqlx::FromRow)]
struct ApplicationRow {
    id: String,
    name: String,
    kind: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    backchannel_logout_uri: Option<String>,
    organization_ids: Option<String>,
    allow_password_sessions: i64,
    signing_alg: String,
    refresh_token_lifetime_seconds: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ApplicationRow> for ApplicationRecord {
    type Error = StorageError;

    fn try_from(row: ApplicationRow) -> StorageResult<Self> {
        let list = |text: &str| serde_json::from_str::<Vec<String>>(text);
        Ok(ApplicationRecord {
            redirect_uris: list(&row.redirect_uris)?,
            post_logout_redirect_uris: list(&row.post_logout_redirect_uris)?,
            organization_ids: row.organization_ids.as_deref().map(list).transpose()?,
            id: row.id,
            name: row.name,
            kind: row.kind,
            backchannel_logout_uri: row.backchannel_logout_uri,
            allow_password_sessions: row.allow_password_sessions != 0,
            signing_alg: row.signing_alg,
            refresh_token_lifetime_seconds: row.refresh_token_lifetime_seconds,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A client secret's record: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApplicationSecretRecord {
    pub id: String,
    pub application_id: String,
    pub hint: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, name, kind, redirect_uris, post_logout_redirect_uris, \
     backchannel_logout_uri, organization_ids, allow_password_sessions, signing_alg, \
     refresh_token_lifetime_seconds, created_at, updated_at";

fn json(list: &[String]) -> String {
    serde_json::Value::from(list).to_string()
}

/// Binds an application's settings, in the order of `COLUMNS` after the id.
trait BindSettings<'q> {
    fn bind_settings(self, settings: &ApplicationSettings<'q>) -> Self;
}

impl<'q> BindSettings<'q> for AnyQuery<'q> {
    fn bind_settings(self, settings: &ApplicationSettings<'q>) -> Self {
        self.bind(settings.name)
            .bind(settings.kind)
            .bind(json(settings.redirect_uris))
            .bind(json(settings.post_logout_redirect_uris))
            .bind(settings.backchannel_logout_uri)
            .bind(settings.organization_ids.map(json))
            .bind(i64::from(settings.allow_password_sessions))
            .bind(settings.signing_alg)
            .bind(settings.refresh_token_lifetime_seconds)
    }
}

impl Storage {
    pub async fn create_application(
        &self,
        settings: &ApplicationSettings<'_>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<ApplicationRecord> {
        let id = new_id();
        let at = to_millis(now);
        let mut tx = self.begin().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO application ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)"
        )))
        .bind(&id)
        .bind_settings(settings)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let target = format!("{} ({id})", settings.name);
        audit::write(
            &mut tx,
            actor,
            &AuditEntry::success(None, "application.create", &target),
            now,
        )
        .await?;
        tx.commit().await?;
        self.find_application(&id)
            .await?
            .ok_or(StorageError::NotFound)
    }

    pub async fn update_application(
        &self,
        id: &str,
        settings: &ApplicationSettings<'_>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<ApplicationRecord> {
        let change = sqlx::query(
            "UPDATE application SET name = $1, kind = $2, redirect_uris = $3, \
             post_logout_redirect_uris = $4, backchannel_logout_uri = $5, organization_ids = $6, \
             allow_password_sessions = $7, signing_alg = $8, refresh_token_lifetime_seconds = $9, \
             updated_at = $10 WHERE id = $11",
        )
        .bind_settings(settings)
        .bind(to_millis(now))
        .bind(id);
        let target = format!("{} ({id})", settings.name);
        let entry = AuditEntry::success(None, "application.update", &target);
        self.change_one_audited(change, &entry, actor, now).await?;
        self.find_application(id)
            .await?
            .ok_or(StorageError::NotFound)
    }

    pub async fn find_application(&self, id: &str) -> StorageResult<Option<ApplicationRecord>> {
        let row: Option<ApplicationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM application WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *self.read().await?)
        .await?;
        row.map(ApplicationRecord::try_from).transpose()
    }

    /// Every application, by name.
    pub async fn list_applications(&self) -> StorageResult<Vec<ApplicationRecord>> {
        let rows: Vec<ApplicationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM application ORDER BY name, id"
        )))
        .fetch_all(&mut *self.read().await?)
        .await?;
        rows.into_iter().map(ApplicationRecord::try_from).collect()
    }

    /// Adds a client secret, of which only `secret_hash` and `hint` are kept.
    pub async fn add_application_secret(
        &self,
        application_id: &str,
        secret_hash: &str,
        hint: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<ApplicationSecretRecord> {
        let record = ApplicationSecretRecord {
            id: new_id(),
            application_id: application_id.into(),
            hint: hint.into(),
            created_at: to_millis(now),
            revoked_at: None,
        };
        let mut tx = self.begin().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM application WHERE id = $1")
            .bind(application_id)
            .fetch_optional(&mut *tx)
            .await?;
        exists.ok_or(StorageError::NotFound)?;
        sqlx::query(
            "INSERT INTO application_secret (id, application_id, secret_hash, hint, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&record.id)
        .bind(application_id)
        .bind(secret_hash)
        .bind(hint)
        .bind(record.created_at)
        .execute(&mut *tx)
        .await?;
        audit::write(
            &mut tx,
            actor,
            &AuditEntry::success(None, "application.secret_create", application_id),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// The application's secrets, newest first.
    pub async fn list_application_secrets(
        &self,
        application_id: &str,
    ) -> StorageResult<Vec<ApplicationSecretRecord>> {
        Ok(sqlx::query_as(
            "SELECT id, application_id, hint, created_at, revoked_at FROM application_secret \
             WHERE application_id = $1 ORDER BY created_at DESC, id",
        )
        .bind(application_id)
        .fetch_all(&mut *self.read().await?)
        .await?)
    }

    pub async fn revoke_application_secret(
        &self,
        application_id: &str,
        secret_id: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StorageResult<()> {
        let change = sqlx::query(
            "UPDATE application_secret SET revoked_at = $1 \
             WHERE id = $2 AND application_id = $3 AND revoked_at IS NULL",
        )
        .bind(to_millis(now))
        .bind(secret_id)
        .bind(application_id);
        let entry = AuditEntry::success(None, "application.secret_revoke", secret_id);
        self.change_one_audited(change, &entry, actor, now).await
    }

    /// Whether `secret_hash` is a valid (unrevoked) secret of the application.
    pub async fn application_secret_matches(
        &self,
        application_id: &str,
        secret_hash: &str,
    ) -> StorageResult<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM application_secret \
             WHERE application_id = $1 AND secret_hash = $2 AND revoked_at IS NULL",
        )
        .bind(application_id)
        .bind(secret_hash)
        .fetch_optional(&mut *self.read().await?)
        .await?;
        Ok(found.is_some())
    }
}

/// An application the people of an organization signed in to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApplicationUse {
    pub application_id: String,
    pub name: String,
    /// The last sign-in (Unix milliseconds).
    pub last_used_at: i64,
    /// How many of the organization's members ever signed in to it.
    pub people: i64,
}

impl Storage {
    /// The applications the organization's people signed in to, the most recently used first.
    pub async fn applications_used_by(
        &self,
        organization_id: &str,
    ) -> StorageResult<Vec<ApplicationUse>> {
        Ok(sqlx::query_as(
            "SELECT a.id AS application_id, a.name, MAX(g.created_at) AS last_used_at, \
             COUNT(DISTINCT g.member_id) AS people FROM provider_grant g \
             JOIN application a ON a.id = g.application_id \
             WHERE g.organization_id = $1 AND g.code_used_at IS NOT NULL \
             GROUP BY a.id, a.name ORDER BY last_used_at DESC, a.name LIMIT 50",
        )
        .bind(organization_id)
        .fetch_all(&mut *self.read().await?)
        .await?)
    }
}
