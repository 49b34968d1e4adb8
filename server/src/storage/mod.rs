//! All SQL lives here. One `Storage` over sqlx's `Any` driver runs the same statements on SQLite
//! and PostgreSQL (`$n` placeholders work on both); each backend has its own migrations.

mod accounts;
mod audit;
mod connections;
mod inline;
mod log_batching;
mod mapping;
mod members;
mod organizations;
mod readers;
mod search_halves;
mod sessions;
mod setup_links;
mod sign_in_cache;
mod sign_in_states;
mod values;
mod writer;

pub use accounts::{FirstRunLink, OperatorRecord};
pub use audit::{Actor, AuditEntry, AuditRecord};
pub use connections::{ConnectionRecord, DomainOwner};
pub use mapping::{
    ConfirmedMapping, ExistingMember, ImportChanges, ImportedMember, ImportedUpdate, MappedMember,
    UnmappedMember,
};
pub use members::{
    DirectoryIdentity, InviteRecord, MemberListQuery, MemberRecord, MemberUpdate, NewMember,
};
pub use organizations::{OrganizationKey, OrganizationRecord, SignInOrganization};
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
    /// From the sign-in path's in-place SQLite connection (`inline`).
    #[error("database error: {0}")]
    Inline(#[from] rusqlite::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
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
    /// Organizations as sign-ins read them.
    sign_in_cache: std::sync::Arc<sign_in_cache::SignInCache>,
}

/// How many connections read SQLite at the same time.
const SQLITE_READERS: usize = 8;

/// How long SQLite's write-ahead log may grow (in 4 KiB pages) before a checkpoint holds the
/// writers back until the log is copied whole, so that the next write starts it over.
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
                let mut conn = sqlite_connection(url).await?;
                // Checkpoints run beside the writer (`checkpoint`); this one only bounds the
                // log if they stop.
                sqlx::Executor::execute(
                    &mut conn,
                    sqlx::AssertSqlSafe(format!("PRAGMA wal_autocheckpoint = {LOG_BOUND_PAGES}")),
                )
                .await?;
                let path =
                    <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(url)?
                        .get_filename()
                        .to_owned();
                let inline = inline::InlineConnection::open(&path)?;
                let mut readers = Vec::with_capacity(SQLITE_READERS);
                for _ in 0..SQLITE_READERS {
                    readers.push(sqlite_connection(url).await?);
                }
                (
                    readers::Readers::sqlite(readers),
                    writer::Writer::sqlite(conn, inline),
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
            sign_in_cache: Default::default(),
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

    /// On SQLite, the sign-in path's in-place connection (`inline`), with the writer's lock;
    /// `None` on PostgreSQL. Point reads on the sign-in path go there too: its page cache stays
    /// warm, while any other connection's is dropped whenever another one has written (every
    /// sign-in writes), and its next read fetches every page it touches again.
    async fn inline(&self) -> StorageResult<Option<writer::InlineWriter>> {
        Ok(self.writer.inline().await?)
    }

    /// The writing connection, for a write that needs no transaction of its own.
    async fn write(&self) -> StorageResult<writer::WriteConnection> {
        Ok(self.writer.connection().await?)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Copies what the SQLite write-ahead log holds into the database file, without waiting for
    /// readers or the writer, so the writer never stops to do it in the middle of a request.
    /// Run ten times a second by the server; nothing to do on PostgreSQL.
    ///
    /// The log starts over only when a write begins with all of it copied, which a steady
    /// stream of sign-ins never leaves time for: each pass copies what was there when it began,
    /// while new writes keep coming. So once the log passes `LOG_BOUND_PAGES`, the rest is
    /// copied holding the writer's lock (the few pages written since the first pass, and the
    /// database file's sync), and the next write starts the log over.
    pub async fn checkpoint(&self) -> StorageResult<()> {
        self.checkpoint_with(std::future::ready(())).await
    }

    /// `checkpoint`, awaiting `after_first_pass` between the pass that runs beside the writer
    /// and the one that holds it back. Tests end there what kept the first pass from copying
    /// the whole log, as the writes it ran beside would have ended.
    async fn checkpoint_with(
        &self,
        after_first_pass: impl std::future::Future<Output = ()>,
    ) -> StorageResult<()> {
        if self.backend == Backend::Sqlite {
            const PASS: &str = "PRAGMA wal_checkpoint(PASSIVE)";
            let mut reader = self.read().await?;
            let (_busy, log_pages, _copied): (i64, i64, i64) =
                sqlx::query_as(PASS).fetch_one(&mut *reader).await?;
            after_first_pass.await;
            if log_pages >= LOG_BOUND_PAGES {
                // Held, not used: no write begins until the log is copied whole. The pass runs
                // on the same reader (on the writing connection, sqlx's worker kept growing its
                // memory, about 8 KiB a pass).
                let _writers_wait = self.write().await?;
                sqlx::query(PASS).execute(&mut *reader).await?;
            }
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
    use super::values::Value;
    use super::*;

    /// The log's size in pages, as a checkpoint pass that finds nothing to copy reports it.
    async fn log_pages(storage: &Storage) -> i64 {
        let (_busy, log, _copied): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&mut *storage.read().await.unwrap())
                .await
                .unwrap();
        log
    }

    /// Writes `pages` pages of filler in place, as sign-ins write.
    fn fill(connection: &mut inline::InlineConnection, pages: i64) {
        const FILL: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
             WHERE i < $1) INSERT INTO filler SELECT zeroblob(4000) FROM n";
        connection
            .execute_transaction(&[FILL], &[Value::Integer(pages)])
            .unwrap();
    }

    #[tokio::test]
    async fn a_log_past_its_bound_starts_over_even_when_a_pass_could_not_copy_it_all() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("log.db").display());
        let storage = Storage::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE filler (data BLOB NOT NULL)")
            .execute(&mut *storage.write().await.unwrap())
            .await
            .unwrap();
        for _ in 0..(LOG_BOUND_PAGES / 1000 + 1) {
            fill(&mut storage.inline().await.unwrap().unwrap(), 1000);
        }
        // Under a steady stream of sign-ins, every pass runs beside a write and copies only what
        // the log held when it began. A reader keeping its view from before one more write does
        // the same to the first pass here, and lets go once that pass is over.
        let mut reader = storage.read().await.unwrap();
        sqlx::query("BEGIN").execute(&mut *reader).await.unwrap();
        sqlx::query("SELECT count(*) FROM filler")
            .execute(&mut *reader)
            .await
            .unwrap();
        fill(&mut storage.inline().await.unwrap().unwrap(), 20);
        let before = log_pages(&storage).await;
        assert!(before > LOG_BOUND_PAGES, "the log holds {before} pages");

        storage
            .checkpoint_with(async move {
                sqlx::query("COMMIT").execute(&mut *reader).await.unwrap();
            })
            .await
            .unwrap();
        fill(&mut storage.inline().await.unwrap().unwrap(), 20);

        let after = log_pages(&storage).await;
        assert!(
            after < 100,
            "the log went on from {before} to {after} pages"
        );
    }
}
