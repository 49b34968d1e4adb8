//! The sign-in path's statements on SQLite, run in place. sqlx runs every SQLite connection on
//! a worker thread of its own: each statement is a message to that thread and its answer one
//! back, two thread switches that a sign-in paid for each step (its member lookup, then its
//! write) and that cost more than the statements themselves. Here the sign-in's steps (and its
//! organization lookup, when not cached) run on a second connection to the same database
//! (rusqlite), on the calling thread, and only while the writing connection's lock is held
//! (`writer::Writer::inline`), so writes still go one at a time. Because every sign-in writes
//! here, this connection's page cache stays warm; any other connection drops its cache after
//! each write and reads its pages again.
//!
//! Its write-ahead log goes to the file in one write per commit (`log_batching`).
//!
//! All are point statements over a warm page cache, tens of microseconds. Nothing slow may run
//! here: this connection never checkpoints inside a request (`Storage::checkpoint` keeps the
//! write-ahead log bounded, on sqlx's threads), and it waits for no other writer, since it
//! writes only under the writer's lock.

use super::log_batching;
use super::values::Value;
use rusqlite::{Connection, OpenFlags, Statement};
use std::path::Path;

/// How long the log may grow before this connection checkpoints it itself, inside a request.
/// Only reached if the server's own checkpoints stop (four times their bound).
const LOG_BACKSTOP_PAGES: i64 = 4 * super::LOG_BOUND_PAGES;

pub(super) struct InlineConnection(Connection);

impl InlineConnection {
    /// Opens the database file that the writing connection (which created it) uses.
    pub(super) fn open(path: &Path) -> rusqlite::Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = if log_batching::register() {
            Connection::open_with_flags_and_vfs(path, flags, log_batching::NAME)?
        } else {
            Connection::open_with_flags(path, flags)?
        };
        // The same settings as sqlx's connections (`sqlite_settings`).
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "wal_autocheckpoint", LOG_BACKSTOP_PAGES)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(InlineConnection(conn))
    }

    /// The first row of `sql` (numbered `$n` parameters, `values[n - 1]` bound to each), read by
    /// `read`.
    pub(super) fn query_optional<T>(
        &self,
        sql: &str,
        values: &[Value<'_>],
        read: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Option<T>> {
        let mut statement = self.0.prepare_cached(sql)?;
        bind_numbered(&mut statement, values)?;
        let mut rows = statement.raw_query();
        match rows.next()? {
            Some(row) => read(row).map(Some),
            None => Ok(None),
        }
    }

    /// Runs `statements` as one transaction (`BEGIN IMMEDIATE`), all or nothing; each takes its
    /// numbered `$n` parameters from `values`, as in one script. `BEGIN` and `COMMIT` are kept
    /// prepared like the rest: compiling them again for every sign-in cost more than running them.
    pub(super) fn execute_transaction(
        &mut self,
        statements: &[&str],
        values: &[Value<'_>],
    ) -> rusqlite::Result<()> {
        self.0.prepare_cached("BEGIN IMMEDIATE")?.raw_execute()?;
        let done = self.run_and_commit(statements, values);
        if done.is_err() && !self.0.is_autocommit() {
            // A statement, or the commit itself, failed: nothing of the transaction stays.
            if let Err(e) = self.0.execute_batch("ROLLBACK") {
                tracing::error!(error = %e, "rolling back a failed sign-in write failed");
            }
        }
        done
    }

    fn run_and_commit(&self, statements: &[&str], values: &[Value<'_>]) -> rusqlite::Result<()> {
        for sql in statements {
            let mut statement = self.0.prepare_cached(sql)?;
            bind_numbered(&mut statement, values)?;
            statement.raw_execute()?;
        }
        self.0.prepare_cached("COMMIT")?.raw_execute()?;
        Ok(())
    }
}

/// Whether `e` is a broken uniqueness rule (a primary key or a unique index).
pub(super) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}

/// Binds `values[n - 1]` to each parameter `$n` of `statement`: the numbering the SQL shared
/// with sqlx uses (for SQLite, `$16` is a parameter named "$16", not the 16th).
fn bind_numbered(statement: &mut Statement<'_>, values: &[Value<'_>]) -> rusqlite::Result<()> {
    for index in 1..=statement.parameter_count() {
        let number = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (1..=values.len()).contains(n))
            .ok_or(rusqlite::Error::InvalidParameterCount(index, values.len()))?;
        statement.raw_bind_parameter(index, values[number - 1])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh database in write-ahead-log mode holding `schema`, and this connection to it.
    fn open_with(schema: &str) -> (tempfile::TempDir, std::path::PathBuf, InlineConnection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inline.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!("PRAGMA journal_mode = WAL; {schema}"))
            .unwrap();
        let conn = InlineConnection::open(&path).unwrap();
        (dir, path, conn)
    }

    fn open() -> (tempfile::TempDir, InlineConnection) {
        let (dir, _, conn) =
            open_with("CREATE TABLE pair (a TEXT PRIMARY KEY, b INTEGER NOT NULL)");
        (dir, conn)
    }

    #[test]
    fn numbered_parameters_take_their_own_values_whatever_their_order() {
        let (_dir, mut conn) = open();
        conn.execute_transaction(
            &["INSERT INTO pair (b, a) VALUES ($3, $1)"],
            &["first".into(), "unused".into(), 7_i64.into()],
        )
        .unwrap();
        let b = conn
            .query_optional(
                "SELECT b FROM pair WHERE a = $2",
                &[0_i64.into(), "first".into()],
                |row| row.get::<_, i64>(0),
            )
            .unwrap();
        assert_eq!(b, Some(7));
    }

    #[test]
    fn a_failing_statement_leaves_nothing_of_its_transaction() {
        let (_dir, mut conn) = open();
        let twice = ["INSERT INTO pair (a, b) VALUES ($1, 1)"; 2];
        let e = conn.execute_transaction(&twice, &["x".into()]).unwrap_err();
        assert!(is_unique_violation(&e), "{e}");
        let rows = conn
            .query_optional("SELECT COUNT(*) FROM pair", &[], |row| row.get::<_, i64>(0))
            .unwrap();
        assert_eq!(rows, Some(0));
        // The connection is usable again: no transaction was left open.
        conn.execute_transaction(&["INSERT INTO pair (a, b) VALUES ($1, 1)"], &["x".into()])
            .unwrap();
    }

    /// A table whose rows change several pages each: the row and three indexes.
    fn open_indexed() -> (tempfile::TempDir, std::path::PathBuf, InlineConnection) {
        open_with(
            "CREATE TABLE item (id INTEGER PRIMARY KEY, a TEXT, b TEXT, c TEXT); \
             CREATE INDEX item_a ON item (a); CREATE INDEX item_b ON item (b); \
             CREATE INDEX item_c ON item (c)",
        )
    }

    const INSERT_ITEM: &str = "INSERT INTO item (a, b, c) VALUES \
        (hex(randomblob(300)), hex(randomblob(300)), hex(randomblob(300)))";

    fn items(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM item", [], |row| row.get(0))
            .unwrap()
    }

    fn integrity(path: &Path) -> String {
        Connection::open(path)
            .unwrap()
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn a_commit_reaches_the_log_in_one_write_and_its_page_and_other_connections_see_it_at_once() {
        let (_dir, path, mut conn) = open_indexed();
        let log = path.with_file_name("inline.db-wal");
        // The log's first commit also writes the log's header and syncs it.
        conn.execute_transaction(&[INSERT_ITEM], &[]).unwrap();
        for round in 2..=50 {
            let before = log_batching::SYSTEM_WRITES.with(|n| n.get());
            let log_before = std::fs::metadata(&log).unwrap().len();
            conn.execute_transaction(&[INSERT_ITEM, INSERT_ITEM], &[])
                .unwrap();
            let writes = log_batching::SYSTEM_WRITES.with(|n| n.get()) - before;
            let frames = (std::fs::metadata(&log).unwrap().len() - log_before) / (24 + 4096);
            assert!(frames >= 5, "round {round}: {frames} frames");
            // Every frame up to the commit's header in one write (in 64 KiB pieces), the
            // commit's page in another, where each frame was two writes.
            let waiting = frames * (24 + 4096) - 4096;
            assert_eq!(writes, waiting.div_ceil(1 << 16) + 1, "round {round}");
            assert_eq!(items(&path), 2 * round - 1);
        }
        assert_eq!(integrity(&path), "ok");
    }

    #[test]
    fn a_transaction_larger_than_the_page_cache_commits_or_rolls_back_whole() {
        let (_dir, path, mut conn) = open_indexed();
        // Pages spill into the log before the commit, and are read back from it.
        conn.0.pragma_update(None, "cache_size", 10).unwrap();
        // Larger than what may wait, too.
        let many = [INSERT_ITEM; 600];
        conn.execute_transaction(&many, &[]).unwrap();
        assert_eq!(items(&path), 600);
        let mut failing = many.to_vec();
        failing.push("INSERT INTO item (id) VALUES (1)");
        assert!(conn.execute_transaction(&failing, &[]).is_err());
        assert_eq!(items(&path), 600);
        conn.execute_transaction(&many, &[]).unwrap();
        assert_eq!(items(&path), 1200);
        drop(conn);
        // Closed (and its log checkpointed): the database file alone holds everything.
        assert_eq!(items(&path), 1200);
        assert_eq!(integrity(&path), "ok");
    }

    #[test]
    fn commits_survive_the_log_starting_over_after_a_checkpoint() {
        let (_dir, path, mut conn) = open_indexed();
        let other = Connection::open(&path).unwrap();
        for round in 1..=20 {
            conn.execute_transaction(&[INSERT_ITEM; 5], &[]).unwrap();
            // Another connection copies the log and resets it: the next commit writes the log
            // from its start again, over what was there.
            other
                .query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
                .unwrap();
            assert_eq!(items(&path), 5 * round);
        }
        assert_eq!(integrity(&path), "ok");
    }

    #[test]
    fn a_parameter_without_a_value_is_an_error_not_a_null() {
        let (_dir, mut conn) = open();
        let e = conn
            .execute_transaction(&["INSERT INTO pair (a, b) VALUES ($1, $2)"], &["x".into()])
            .unwrap_err();
        assert!(matches!(e, rusqlite::Error::InvalidParameterCount(2, 1)));
    }
}
