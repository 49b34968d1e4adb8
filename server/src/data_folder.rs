//! The data folder (the SQLite database, the master key) and who is using it: every running
//! Gatehouse holds a shared lock on `gatehouse.lock` in it for as long as it runs, so a restore,
//! which needs the folder to itself, can tell that an instance is still serving its data.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

const LOCK_FILE: &str = "gatehouse.lock";

/// A lock on the data folder, released when dropped (or when the process ends, however it
/// ends: the operating system releases it).
#[derive(Debug)]
pub struct InUse {
    _file: File,
}

/// Why the data folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("a running Gatehouse is using the data folder {0}: stop it first")]
    Busy(String),
    #[error("cannot lock the data folder {0}: {1}")]
    Io(String, std::io::Error),
}

fn open(dir: &Path) -> Result<File, LockError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(|e| LockError::Io(dir.display().to_string(), e))
}

fn held(dir: &Path, result: Result<(), TryLockError>, file: File) -> Result<InUse, LockError> {
    match result {
        Ok(()) => Ok(InUse { _file: file }),
        Err(TryLockError::WouldBlock) => Err(LockError::Busy(dir.display().to_string())),
        Err(TryLockError::Error(e)) => Err(LockError::Io(dir.display().to_string(), e)),
    }
}

impl InUse {
    /// Taken by a serving instance: several may serve one folder, and no restore runs meanwhile.
    pub fn serving(dir: &Path) -> Result<Self, LockError> {
        let file = open(dir)?;
        let result = file.try_lock_shared();
        held(dir, result, file)
    }

    /// Taken by a restore: only while no instance serves the folder.
    pub fn alone(dir: &Path) -> Result<Self, LockError> {
        let file = open(dir)?;
        let result = file.try_lock();
        held(dir, result, file)
    }
}
