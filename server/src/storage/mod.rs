//! All SQL lives here. One `Storage` over sqlx's `Any` driver runs the same statements on SQLite
//! and PostgreSQL (`$n` placeholders work on both); each backend has its own migrations.

mod accounts;
mod applications;
mod audit;
pub mod backup;
mod connection_setups;
mod connections;
mod credential_warnings;
mod email_domains;
mod leases;
mod mapping;
mod members;
mod organizations;
mod outbox;
mod provider;
mod readers;
mod saml_inbox;
mod search_halves;
mod sessions;
mod setup_links;
mod sign_in_states;
mod writer;

pub use accounts::{FirstRunLink, OperatorRecord};
pub use applications::{
    ApplicationRecord, ApplicationSecretRecord, ApplicationSettings, ApplicationUse,
};
pub use audit::{Actor, AuditEntry, AuditRecord};
pub use connection_setups::ConnectionSetupRecord;
pub use connections::{ConnectionRecord, DomainOwner};
pub use credential_warnings::{CredentialWarning, ServingConnection};
pub use email_domains::EmailDomainRecord;
pub use mapping::{
    ConfirmedMapping, ExistingMember, ImportChanges, ImportedMember, ImportedUpdate, MappedMember,
    UnmappedMember,
};
pub use members::{
    DirectoryIdentity, InviteRecord, MemberFilter, MemberListQuery, MemberRecord, MemberSort,
    MemberUpdate, NewInvite, NewMember,
};
pub use organizations::{OrganizationKey, OrganizationRecord, SignInOrganization};
pub use outbox::{NewEmail, OutboxEmail};
pub use provider::{
    GrantRecord, GrantsOf, IssuedTokens, LogoutRecord, NewGrant, Redeemed, Refreshed,
    SigningKeyRecord,
};
pub use saml_inbox::HeldResponse;
pub use sessions::SessionRecord;
pub use setup_links::{OpenSetupLink, SetupLinkRecord};
pub use sign_in_states::{UsedState, ATTEMPT_LIFETIME};

use sqlx::any::{AnyPoolOptions, AnyQueryResult};
use std::time::Duration;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the value names the field it concerns.
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// A directory user already mapped to another member; the value is that member's name.
    #[error("already mapped to {0}")]
    HeldBy(String),
    #[error("the database URL must start with sqlite: or postgres:")]
    UnsupportedUrl,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored JSON value that does not read back.
    #[error("stored value unreadable: {0}")]
    Unreadable(#[from] serde_json::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Backups of this kind are for SQLite; PostgreSQL has `pg_dump`.
    #[error("this is not a SQLite database: back up PostgreSQL with pg_dump and restore it with pg_restore")]
    NotSqlite,
    /// A file that cannot be restored; the value says why.
    #[error("not a backup Gatehouse can restore: {0}")]
    NotABackup(String),
}

pub type StorageResult<T> = Result<T, StorageError>;

/// A page request: 1-based page number and page size.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub page: i64,
    pub per_page: i64,
}

impl PageRequest {
    pub fn new(page: Option<i64>, per_page: i64) -> Self {
        PageRequest {
            page: page.unwrap_or(1).max(1),
            per_page,
        }
    }

    fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}

/// One page of rows and the total count of matching rows.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: PageRequest,
}

/// A pooled PostgreSQL connection idle longer than this is pinged before it is used again.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct Storage {
    /// Reads: on PostgreSQL sqlx's pool, on SQLite eight connections held outside it.
    readers: readers::Readers,
    /// Writes: on SQLite one connection, so writers queue here; on PostgreSQL the pool itself.
    writer: writer::Writer,
    backend: Backend,
    /// Where SQLite splits each organization's search index for a search's two halves.
    search_splits: search_halves::SearchSplits,
}

/// How many connections read SQLite at the same time.
const SQLITE_READERS: usize = 8;

/// How long SQLite's write-ahead log may grow (in 4 KiB pages) before the writer copies the
/// rest into the database file itself.
const LOG_BOUND_PAGES: i64 = 10_000;

/// PostgreSQL's pool, for reads and writes.
fn postgres_pool_options() -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(readers::ACQUIRE_TIMEOUT)
        // sqlx pings every connection it hands out by default: a round trip per query. A
        // connection is checked only after it sat idle long enough to have been dropped.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > IDLE_BEFORE_PING {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// A connection to the SQLite database, with the settings every one has.
async fn sqlite_connection(url: &str) -> Result<sqlx::AnyConnection, sqlx::Error> {
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url).await?;
    sqlite_settings(&mut conn).await?;
    Ok(conn)
}

async fn sqlite_settings(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    // Write-ahead logging lets readers and the writer work at the same time. Set on every
    // connection, not only the first: one that has not read yet would not know the database
    // uses it, and a checkpoint on it would do nothing.
    sqlx::Executor::execute(&mut *conn, "PRAGMA journal_mode = WAL").await?;
    // With write-ahead logging, NORMAL keeps every committed transaction through a crash of
    // Gatehouse; only a power loss may drop the last few.
    sqlx::Executor::execute(&mut *conn, "PRAGMA synchronous = NORMAL").await?;
    sqlx::Executor::execute(&mut *conn, "PRAGMA busy_timeout = 5000").await?;
    Ok(())
}

impl Storage {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str) -> StorageResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StorageError::UnsupportedUrl);
        };
        let (readers, writer) = match backend {
            Backend::Sqlite => {
                // SQLite takes one writer at a time. Writes wait their turn for the one writing
                // connection here, instead of in SQLite's busy handler, which sleeps whole
                // milliseconds between tries.
                // Checkpoints run beside it (`checkpoint`); past `LOG_BOUND_PAGES` it copies
                // what is left itself, after a commit, while no other write can begin: the next
                // write starts the log over.
                let mut conn = sqlite_connection(url).await?;
                sqlx::Executor::execute(
                    &mut conn,
                    sqlx::AssertSqlSafe(format!("PRAGMA wal_autocheckpoint = {LOG_BOUND_PAGES}")),
                )
                .await?;
                let mut readers = Vec::with_capacity(SQLITE_READERS);
                for _ in 0..SQLITE_READERS {
                    readers.push(sqlite_connection(url).await?);
                }
                (
                    readers::Readers::sqlite(readers),
                    writer::Writer::sqlite(conn),
                )
            }
            Backend::Postgres => {
                let pool = postgres_pool_options().connect(url).await?;
                (
                    readers::Readers::Pool(pool.clone()),
                    writer::Writer::Pool(pool),
                )
            }
        };
        let storage = Storage {
            readers,
            writer,
            backend,
            search_splits: Default::default(),
        };
        storage.migrate().await?;
        Ok(storage)
    }

    async fn migrate(&self) -> StorageResult<()> {
        let mut conn = self.write().await?;
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&mut *conn).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&mut *conn).await?,
        }
        Ok(())
    }

    /// Starts a transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`):
    /// a transaction that reads first and writes later would otherwise fail with "database is
    /// locked" instead of waiting, when another connection is writing.
    async fn begin(&self) -> StorageResult<writer::WriteTransaction> {
        Ok(self.writer.begin().await?)
    }

    /// A connection to read on.
    async fn read(&self) -> StorageResult<readers::ReadConnection> {
        Ok(self.readers.connection().await?)
    }

    /// The writing connection, for a write that needs no transaction of its own.
    async fn write(&self) -> StorageResult<writer::WriteConnection> {
        Ok(self.writer.connection().await?)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Copies what SQLite's write-ahead log holds into the database file on a reading
    /// connection, beside the writer, so that a write rarely waits for it (the copy and the
    /// file's sync take milliseconds); nothing to do on PostgreSQL. The server runs it ten times
    /// a second. Under a steady load a pass cannot empty the log (writes keep coming), so
    /// the writer finishes the copy itself once the log passes `LOG_BOUND_PAGES`.
    pub async fn checkpoint(&self) -> StorageResult<()> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&mut *self.read().await?)
                .await?;
        }
        Ok(())
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> StorageResult<()> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.read().await?)
            .await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }
}

/// `NotFound` unless the organization exists (checked inside the caller's transaction).
async fn require_organization(
    conn: &mut sqlx::AnyConnection,
    organization_id: &str,
) -> StorageResult<()> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM organization WHERE id = $1")
        .bind(organization_id)
        .fetch_optional(&mut *conn)
        .await?;
    exists.map(|_| ()).ok_or(StorageError::NotFound)
}

/// A statement of an `Any` query with its bound arguments.
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

impl Storage {
    /// Runs `change`, which must touch exactly one row (else `NotFound`, nothing written), and
    /// records `entry` in the audit log, in one transaction.
    async fn change_one_audited(
        &self,
        change: AnyQuery<'_>,
        entry: &AuditEntry<'_>,
        actor: &Actor,
        now: time::OffsetDateTime,
    ) -> StorageResult<()> {
        let mut tx = self.begin().await?;
        expect_one(change.execute(&mut *tx).await?)?;
        audit::write(&mut tx, actor, entry, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Maps a uniqueness violation to a conflict on `field`.
fn unique_as(field: &'static str) -> impl Fn(sqlx::Error) -> StorageError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StorageError::Conflict(field),
        _ => StorageError::Database(e),
    }
}

/// Whether `error` is a second row with the same key in `table`. Both databases name the table
/// in the message: SQLite as `table.column`, PostgreSQL in its default key name `table_pkey`.
fn violates_key_of(error: &sqlx::Error, table: &str) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.is_unique_violation() && db.message().contains(table))
}

fn expect_one(result: AnyQueryResult) -> StorageResult<()> {
    if result.rows_affected() == 0 {
        Err(StorageError::NotFound)
    } else {
        Ok(())
    }
}

/// A `LIKE` pattern matching `text` anywhere, with `\` escaping wildcards typed by people.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Placeholders both databases read, numbered from `start`: `$3, $4, …` for a list of single
/// values (`width` 1), or `($1, …, $13), ($14, …)` for rows of `width` values.
pub(super) fn placeholders(start: usize, rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let first = start + r * width;
            let values = (first..first + width)
                .map(|n| format!("${n}"))
                .collect::<Vec<_>>()
                .join(", ");
            if width == 1 {
                values
            } else {
                format!("({values})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The write-ahead log's size in pages, as a checkpoint pass reports it.
    async fn log_pages(storage: &Storage) -> i64 {
        let (_busy, log, _copied): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&mut *storage.read().await.unwrap())
                .await
                .unwrap();
        log
    }

    /// Writes about `pages` pages of filler in one transaction.
    async fn fill(storage: &Storage, pages: i64) {
        let mut tx = storage.begin().await.unwrap();
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
             INSERT INTO filler SELECT zeroblob(4000) FROM n",
        )
        .bind(pages)
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn the_write_ahead_log_starts_over_once_checkpointed_and_never_passes_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("log.db").display());
        let storage = Storage::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE filler (data BLOB NOT NULL)")
            .execute(&mut *storage.write().await.unwrap())
            .await
            .unwrap();
        fill(&storage, 500).await;
        assert!(log_pages(&storage).await >= 500);
        // Copied beside the writer: the next write starts the log over.
        storage.checkpoint().await.unwrap();
        fill(&storage, 10).await;
        assert!(log_pages(&storage).await < 100);

        // Without the checkpoints beside it, the writer copies the log itself at its bound.
        // The log's file is written over from its start, never shortened: its size is the
        // most the log ever held.
        for _ in 0..30 {
            fill(&storage, 1000).await;
        }
        let file = std::fs::metadata(dir.path().join("log.db-wal"))
            .unwrap()
            .len();
        let largest = file / (4096 + 24);
        assert!(
            largest < (LOG_BOUND_PAGES + 1100) as u64,
            "the log reached {largest} pages"
        );
    }
}
