//! tower-sessions' store over Gatehouse's storage: sessions live in the database, so they
//! survive a restart and are shared by every instance behind a load balancer.

use crate::clock::{from_millis, to_millis};
use crate::storage::{SessionRecord, Storage};
use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result};
use tower_sessions::SessionStore;

/// Session expiry follows the wall clock, as tower-sessions computes it.
#[derive(Debug, Clone)]
pub struct DbSessionStore {
    storage: Storage,
}

impl DbSessionStore {
    pub fn new(storage: Storage) -> Self {
        DbSessionStore { storage }
    }
}

fn backend(e: impl std::fmt::Display) -> Error {
    Error::Backend(e.to_string())
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        let data = serde_json::to_string(&record.data).map_err(|e| Error::Encode(e.to_string()))?;
        // A collision of 128-bit random ids is astronomically unlikely; draw again if it happens.
        loop {
            let id = record.id.to_string();
            let session = SessionRecord {
                id: &id,
                data: &data,
                expires_at: to_millis(record.expiry_date),
                directory_sid: None,
            };
            if self
                .storage
                .insert_session(&session)
                .await
                .map_err(backend)?
            {
                break;
            }
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<()> {
        let data = serde_json::to_string(&record.data).map_err(|e| Error::Encode(e.to_string()))?;
        self.storage
            .save_session(&record.id.to_string(), &data, to_millis(record.expiry_date))
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let now = to_millis(time::OffsetDateTime::now_utc());
        let Some((data, expires_at)) = self
            .storage
            .load_session(&id.to_string(), now)
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let data = serde_json::from_str(&data).map_err(|e| Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date: from_millis(expires_at),
        }))
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        self.storage
            .delete_session(&id.to_string())
            .await
            .map_err(backend)
    }
}
