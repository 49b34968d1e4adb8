//! Where reads go. PostgreSQL reads through sqlx's pool. SQLite's readers are held outside it,
//! in deadpool's unmanaged pool: sqlx's pool pings every connection it takes back, which on
//! SQLite is one more round trip to the connection's worker thread after every read, and a
//! connection inside this process cannot have been cut off.

use deadpool::unmanaged::{Object, Pool, PoolConfig};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// How long a read waits for a free connection before it fails.
pub(super) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub(super) enum Readers {
    Pool(AnyPool),
    Sqlite(Pool<AnyConnection>),
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Readers::Pool(_) => f.write_str("Readers::Pool"),
            Readers::Sqlite(_) => f.write_str("Readers::Sqlite"),
        }
    }
}

impl Readers {
    pub(super) fn sqlite(connections: Vec<AnyConnection>) -> Self {
        let config = PoolConfig {
            timeout: Some(ACQUIRE_TIMEOUT),
            runtime: Some(deadpool::Runtime::Tokio1),
            ..PoolConfig::new(connections.len())
        };
        let pool = Pool::from_config(&config);
        for conn in connections {
            // The pool was made for exactly these connections.
            let _ = pool.try_add(conn);
        }
        Readers::Sqlite(pool)
    }

    /// A connection to read on, waiting for a free one up to `ACQUIRE_TIMEOUT`.
    pub(super) async fn connection(&self) -> Result<ReadConnection, sqlx::Error> {
        Ok(match self {
            Readers::Pool(pool) => ReadConnection::Pooled(pool.acquire().await?),
            Readers::Sqlite(pool) => {
                ReadConnection::Sqlite(pool.get().await.map_err(|e| match e {
                    deadpool::unmanaged::PoolError::Timeout => sqlx::Error::PoolTimedOut,
                    _ => sqlx::Error::PoolClosed,
                })?)
            }
        })
    }

    pub(super) async fn close(&self) {
        match self {
            Readers::Pool(pool) => pool.close().await,
            Readers::Sqlite(pool) => pool.close(),
        }
    }
}

/// A connection to read on, back to its pool when dropped.
pub(super) enum ReadConnection {
    Pooled(PoolConnection<Any>),
    Sqlite(Object<AnyConnection>),
}

impl Deref for ReadConnection {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            ReadConnection::Pooled(conn) => conn,
            ReadConnection::Sqlite(conn) => conn,
        }
    }
}

impl DerefMut for ReadConnection {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            ReadConnection::Pooled(conn) => conn,
            ReadConnection::Sqlite(conn) => conn,
        }
    }
}
