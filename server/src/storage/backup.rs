//! Copies of a SQLite database: made while Gatehouse serves (`VACUUM INTO` writes a consistent
//! snapshot through SQLite itself, no second driver), and checked before one is restored.
//! PostgreSQL has its own tools for this (`pg_dump`, `pg_restore`).

use super::{StorageError, StorageResult, SQLITE_MIGRATIONS};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Row};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What a backup holds, as read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupContents {
    /// The newest migration applied to it.
    pub schema_version: i64,
    pub organizations: i64,
    pub members: i64,
}

/// The file of a SQLite database URL (`sqlite://…`), or `NotSqlite` for another database.
pub fn sqlite_file(url: &str) -> StorageResult<PathBuf> {
    if !url.starts_with("sqlite:") {
        return Err(StorageError::NotSqlite);
    }
    let options = SqliteConnectOptions::from_str(url)?;
    Ok(options.get_filename().to_path_buf())
}

/// Opens a SQLite file for reading only, without migrating it: a running Gatehouse of another
/// version may be serving it.
async fn read_only(file: &Path) -> StorageResult<SqliteConnection> {
    let options = SqliteConnectOptions::new()
        .filename(file)
        .read_only(true)
        .create_if_missing(false);
    Ok(SqliteConnection::connect_with(&options).await?)
}

/// Writes a consistent copy of the SQLite database at `url` to `target` (which must not
/// exist), while Gatehouse may go on serving it.
pub async fn backup_sqlite(url: &str, target: &Path) -> StorageResult<()> {
    let mut conn = read_only(&sqlite_file(url)?).await?;
    sqlx::query("VACUUM INTO $1")
        .bind(target.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// Reads a backup: whole (SQLite's integrity check), a Gatehouse database, and of a schema this
/// version knows (not made by a newer Gatehouse).
pub async fn read_backup(file: &Path) -> StorageResult<BackupContents> {
    let mut conn = read_only(file).await?;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await?;
    if check != "ok" {
        return Err(StorageError::NotABackup(format!(
            "SQLite's integrity check found damage: {check}"
        )));
    }
    let version: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&mut conn)
            .await
            .map_err(|_| StorageError::NotABackup("it is not a Gatehouse database".into()))?;
    let schema_version =
        version.ok_or_else(|| StorageError::NotABackup("it is not a Gatehouse database".into()))?;
    let newest_known = SQLITE_MIGRATIONS
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    if schema_version > newest_known {
        return Err(StorageError::NotABackup(format!(
            "a newer Gatehouse made it (schema {schema_version}; this version knows up to \
             {newest_known}): restore it with that version"
        )));
    }
    let counts = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM organization) AS organizations, \
         (SELECT COUNT(*) FROM member) AS members",
    )
    .fetch_one(&mut conn)
    .await?;
    let contents = BackupContents {
        schema_version,
        organizations: counts.try_get("organizations")?,
        members: counts.try_get("members")?,
    };
    conn.close().await?;
    Ok(contents)
}
