//! Where writes go. PostgreSQL takes them on its pool. SQLite takes one writer at a time, so
//! Gatehouse keeps one writing connection and writes queue for it here, in order, instead of in
//! SQLite's busy handler, which sleeps whole milliseconds between tries. That connection is held
//! outside sqlx's pool: a pool pings every connection it takes back, which on SQLite is one more
//! round trip to the connection's worker thread after every write.

use sqlx::any::AnyArguments;
use sqlx::pool::PoolConnection;
use sqlx::query::Query;
use sqlx::AnyConnection;
use sqlx::{Any, AnyPool, AssertSqlSafe, Executor};
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

    /// Runs the statements of `batch` as one transaction: all of them, or none if one fails
    /// (its error is answered).
    pub(super) async fn run(&self, batch: Batch<'_>) -> Result<(), sqlx::Error> {
        match self {
            Writer::Pool(pool) => {
                let mut tx = pool.begin().await?;
                for (sql, bind) in batch.statements {
                    bind(sqlx::query(sql)).execute(&mut *tx).await?;
                }
                tx.commit().await
            }
            Writer::Sqlite(writer) => {
                let mut script = String::from("BEGIN IMMEDIATE;");
                let mut numbered = 0;
                for (sql, _) in &batch.statements {
                    numbered += renumber(sql, numbered, &mut script);
                    script.push(';');
                }
                script.push_str("COMMIT");
                let mut query = sqlx::query(AssertSqlSafe(script));
                for (_, bind) in batch.statements {
                    query = bind(query);
                }
                let mut writer = lock(writer).await?;
                writer.in_transaction = true;
                let result = query.execute(&mut writer.conn).await;
                if result.is_err() {
                    if let Err(e) = writer.conn.execute("ROLLBACK").await {
                        tracing::debug!(error = %e, "rolling back a failed batch");
                    }
                }
                writer.in_transaction = false;
                result.map(|_| ())
            }
        }
    }

    pub(super) async fn close(&self) {
        if let Writer::Pool(pool) = self {
            pool.close().await;
        }
    }
}

pub(super) type AnyQuery<'q> = Query<'q, Any, AnyArguments>;
type Binder<'q> = Box<dyn FnOnce(AnyQuery<'q>) -> AnyQuery<'q> + Send + 'q>;

/// Statements that commit together, each written with its own `$1`, `$2`, … and binding
/// exactly those, in order (and with no `$` and digits inside a quoted literal). PostgreSQL runs them one by one in a transaction. SQLite runs them
/// as one script, `BEGIN IMMEDIATE` to `COMMIT`, in a single trip to its connection's worker
/// thread (sqlx numbers a script's parameters across the whole script, so each statement's are
/// shifted past the ones before): on the sign-in's path, each trip is two thread switches.
#[derive(Default)]
pub(super) struct Batch<'q> {
    statements: Vec<(&'static str, Binder<'q>)>,
}

impl<'q> Batch<'q> {
    pub(super) fn then(
        mut self,
        sql: &'static str,
        bind: impl FnOnce(AnyQuery<'q>) -> AnyQuery<'q> + Send + 'q,
    ) -> Self {
        self.statements.push((sql, Box::new(bind)));
        self
    }
}

/// Appends `sql` to `script` with each `$n` written as `$(n + shift)`; answers the highest `n`.
fn renumber(sql: &str, shift: usize, script: &mut String) -> usize {
    let mut highest = 0;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        script.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(n) = rest[..digits].parse::<usize>() {
            highest = highest.max(n);
            script.push_str(&(n + shift).to_string());
            rest = &rest[digits..];
        }
    }
    script.push_str(rest);
    highest
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

#[cfg(test)]
mod tests {
    use super::renumber;

    #[test]
    fn a_statement_s_parameters_are_shifted_past_the_ones_before() {
        let mut script = String::from("BEGIN;");
        let shift = renumber("INSERT INTO t (a, b) VALUES ($1, $2)", 0, &mut script);
        script.push(';');
        renumber(
            "UPDATE t SET b = $2 WHERE a = $1 AND c = '$'",
            shift,
            &mut script,
        );
        assert_eq!(
            script,
            "BEGIN;INSERT INTO t (a, b) VALUES ($1, $2);UPDATE t SET b = $4 WHERE a = $3 AND c = '$'"
        );
    }
}
