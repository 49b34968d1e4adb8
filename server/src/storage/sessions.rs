//! Server-side session records: tower-sessions' store, and the session a sign-in with the
//! directory writes in its own transaction. A session is stored under the SHA-256 of its id:
//! whoever reads the database (or a backup) cannot use the sessions in it.

use super::writer::AnyQuery;
use super::{Storage, StorageResult};
use crate::crypto::tokens;
use sqlx::AnyConnection;

/// One session as stored: its id, the data as JSON, and when it expires (Unix milliseconds).
#[derive(Debug, Clone, Copy)]
pub struct SessionRecord<'a> {
    pub id: &'a str,
    pub data: &'a str,
    pub expires_at: i64,
    /// For a session started with SSO: the directory's session id (`sid`).
    pub directory_sid: Option<&'a str>,
}

/// Stores a new session record; fails with a uniqueness violation when its id is taken.
pub(super) const INSERT: &str =
    "INSERT INTO web_session (id, data, expires_at, directory_sid) VALUES ($1, $2, $3, $4)";

/// Ends a session: `$1` is its id.
pub(super) const DELETE: &str = "DELETE FROM web_session WHERE id = $1";

/// Binds `INSERT`'s values.
pub(super) fn bind_insert<'q>(query: AnyQuery<'q>, session: &SessionRecord<'q>) -> AnyQuery<'q> {
    query
        .bind(tokens::hash(session.id))
        .bind(session.data)
        .bind(session.expires_at)
        .bind(session.directory_sid)
}

/// Inserts a session record unless the id is taken; tells whether it was inserted.
pub(super) async fn insert(
    conn: &mut AnyConnection,
    session: &SessionRecord<'_>,
) -> StorageResult<bool> {
    let result = bind_insert(
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{INSERT} ON CONFLICT (id) DO NOTHING"
        ))),
        session,
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn delete(conn: &mut AnyConnection, id: &str) -> StorageResult<()> {
    sqlx::query(DELETE)
        .bind(tokens::hash(id))
        .execute(conn)
        .await?;
    Ok(())
}

impl Storage {
    pub async fn insert_session(&self, session: &SessionRecord<'_>) -> StorageResult<bool> {
        insert(&mut *self.write().await?, session).await
    }

    pub async fn save_session(&self, id: &str, data: &str, expires_at: i64) -> StorageResult<()> {
        sqlx::query(
            "INSERT INTO web_session (id, data, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
        )
        .bind(tokens::hash(id))
        .bind(data)
        .bind(expires_at)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    /// The session's data and expiry, unless it has expired.
    pub async fn load_session(&self, id: &str, now: i64) -> StorageResult<Option<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT data, expires_at FROM web_session WHERE id = $1 AND expires_at > $2",
        )
        .bind(tokens::hash(id))
        .bind(now)
        .fetch_optional(&mut *self.read().await?)
        .await?)
    }

    pub async fn delete_session(&self, id: &str) -> StorageResult<()> {
        delete(&mut *self.write().await?, id).await
    }

    /// Ends every session the directory session `sid` started; answers their data.
    pub async fn end_sessions_of_directory_session(&self, sid: &str) -> StorageResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("DELETE FROM web_session WHERE directory_sid = $1 RETURNING data")
                .bind(sid)
                .fetch_all(&mut *self.write().await?)
                .await?,
        )
    }

    /// Removes expired sessions; returns how many.
    pub async fn delete_expired_sessions(&self, now: i64) -> StorageResult<u64> {
        let result = sqlx::query("DELETE FROM web_session WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *self.write().await?)
            .await?;
        Ok(result.rows_affected())
    }
}
