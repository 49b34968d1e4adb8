//! Where writes go. PostgreSQL takes them on its pool. SQLite takes one writer at a time, so
//! Gatehouse keeps one writing connection and writes queue for it here, in order, instead of in
//! SQLite's busy handler, which sleeps whole milliseconds between tries. That connection is held
//! outside sqlx's pool: a pool pings every connection it takes back, which on SQLite is one more
//! round trip to the connection's worker thread after every write.

use sqlx::pool::PoolConnection;
use sqlx::AnyConnection;
use sqlx::{Any, AnyPool, Executor};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Clone)]
pub(super) enum Writer {
    Pool(AnyPool),
    Sqlite(Arc<Mutex<SqliteWriter>>),
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Writer::Pool(_) => f.write_str("Writer::Pool"),
            Writer::Sqlite(_) => f.write_str("Writer::Sqlite"),
        }
    }
}

/// SQLite's writing connection, and whether a transaction may still be open on it: one whose
/// holder went away (an error, or a request dropped half-way) before it committed.
pub(super) struct SqliteWriter {
    conn: AnyConnection,
    in_transaction: bool,
}

impl Writer {
    pub(super) fn sqlite(conn: AnyConnection) -> Self {
        Writer::Sqlite(Arc::new(Mutex::new(SqliteWriter {
            conn,
            in_transaction: false,
        })))
    }

    /// The writing connection, for writes that need no transaction of their own.
    pub(super) async fn connection(&self) -> Result<WriteConnection, sqlx::Error> {
        Ok(match self {
            Writer::Pool(pool) => WriteConnection::Pooled(pool.acquire().await?),
            Writer::Sqlite(writer) => WriteConnection::Sqlite(lock(writer).await?),
        })
    }

    /// Starts a transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so
    /// that nothing it reads can change before it writes.
    pub(super) async fn begin(&self) -> Result<WriteTransaction, sqlx::Error> {
        Ok(match self {
            Writer::Pool(pool) => WriteTransaction::Pooled(pool.begin().await?),
            Writer::Sqlite(writer) => {
                let mut writer = lock(writer).await?;
                // Marked first: if this statement is abandoned half-way, the next holder ends it.
                writer.in_transaction = true;
                writer.conn.execute("BEGIN IMMEDIATE").await?;
                WriteTransaction::Sqlite(writer)
            }
        })
    }

    pub(super) async fn close(&self) {
        if let Writer::Pool(pool) = self {
            pool.close().await;
        }
    }
}

/// Waits for SQLite's writing connection, ending any transaction its last holder left open.
async fn lock(
    writer: &Arc<Mutex<SqliteWriter>>,
) -> Result<OwnedMutexGuard<SqliteWriter>, sqlx::Error> {
    let mut writer = writer.clone().lock_owned().await;
    if writer.in_transaction {
        if let Err(e) = writer.conn.execute("ROLLBACK").await {
            // "no transaction is active": it never began, or SQLite ended it already.
            tracing::debug!(error = %e, "rolling back an abandoned write");
        }
        writer.in_transaction = false;
    }
    Ok(writer)
}

pub(super) enum WriteConnection {
    Pooled(PoolConnection<Any>),
    Sqlite(OwnedMutexGuard<SqliteWriter>),
}

impl Deref for WriteConnection {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            WriteConnection::Pooled(conn) => conn,
            WriteConnection::Sqlite(writer) => &writer.conn,
        }
    }
}

impl DerefMut for WriteConnection {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            WriteConnection::Pooled(conn) => conn,
            WriteConnection::Sqlite(writer) => &mut writer.conn,
        }
    }
}

/// A write transaction: committed by `commit`, rolled back if dropped before.
pub(super) enum WriteTransaction {
    Pooled(sqlx::Transaction<'static, Any>),
    Sqlite(OwnedMutexGuard<SqliteWriter>),
}

impl WriteTransaction {
    pub(super) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            WriteTransaction::Pooled(tx) => tx.commit().await,
            WriteTransaction::Sqlite(mut writer) => {
                writer.conn.execute("COMMIT").await?;
                writer.in_transaction = false;
                Ok(())
            }
        }
    }
}

impl Deref for WriteTransaction {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            WriteTransaction::Pooled(tx) => tx,
            WriteTransaction::Sqlite(writer) => &writer.conn,
        }
    }
}

impl DerefMut for WriteTransaction {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            WriteTransaction::Pooled(tx) => tx,
            WriteTransaction::Sqlite(writer) => &mut writer.conn,
        }
    }
}
