//! `gatehouse backup <file>` and `gatehouse restore <file>`: a consistent copy of the embedded
//! SQLite database made while Gatehouse serves, and that copy put back while none serves.
//! Every secret in it is sealed with the master key, which a backup does not hold.

use crate::config::Config;
use crate::data_folder::{InUse, LockError};
use crate::storage::backup::{backup_sqlite, read_backup, sqlite_file, BackupContents};
use crate::storage::StorageError;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    InUse(#[from] LockError),
    #[error("{0} exists already: choose a new file name, so no earlier backup is overwritten")]
    Exists(String),
    #[error("{0} does not exist")]
    Missing(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |e| BackupError::Io(path.display().to_string(), e)
}

fn summary(contents: &BackupContents) -> String {
    format!(
        "{} organizations, {} members, schema {}",
        contents.organizations, contents.members, contents.schema_version
    )
}

const MASTER_KEY_REMINDER: &str = "Every secret in it (client secrets, certificates' private \
     keys, the signing keys of the vendor's applications) is sealed with the master key \
     (master.key in the data folder, or GATEHOUSE_MASTER_KEY): keep a copy of the key apart \
     from the backup; without it those secrets are lost.";

/// Copies the database to `target` while Gatehouse may serve it; answers what was copied.
pub async fn backup(config: &Config, target: &Path) -> Result<String, BackupError> {
    if target.exists() {
        return Err(BackupError::Exists(target.display().to_string()));
    }
    backup_sqlite(&config.database_url, target).await?;
    let contents = read_backup(target).await?;
    Ok(format!(
        "Backed up {} to {}.\n{MASTER_KEY_REMINDER}",
        summary(&contents),
        target.display()
    ))
}

/// Puts the backup `source` in place of the database, once it is checked and while no
/// Gatehouse serves the data folder; the next start brings its schema up to date.
pub async fn restore(config: &Config, source: &Path) -> Result<String, BackupError> {
    if !source.exists() {
        return Err(BackupError::Missing(source.display().to_string()));
    }
    let database = sqlite_file(&config.database_url)?;
    let contents = read_backup(source).await?;
    std::fs::create_dir_all(&config.data_dir).map_err(io(&config.data_dir))?;
    let _alone = InUse::alone(&config.data_dir)?;
    replace_file(source, &database)?;
    Ok(format!(
        "Restored {} from {} into {}.\nStart Gatehouse with the master key that sealed its \
         secrets.",
        summary(&contents),
        source.display(),
        database.display()
    ))
}

/// Copies `source` beside `database`, then swaps it in: a crash on the way leaves either the
/// old database or the new one, never half of one. The old database's write-ahead log goes
/// first, so SQLite cannot replay it into the restored file.
fn replace_file(source: &Path, database: &Path) -> Result<(), BackupError> {
    let incoming = with_suffix(database, "-restoring");
    std::fs::copy(source, &incoming).map_err(io(&incoming))?;
    std::fs::File::open(&incoming)
        .and_then(|f| f.sync_all())
        .map_err(io(&incoming))?;
    for stale in ["-wal", "-shm"] {
        let stale = with_suffix(database, stale);
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(BackupError::Io(stale.display().to_string(), e)),
        }
    }
    std::fs::rename(&incoming, database).map_err(io(database))?;
    if let Some(folder) = database.parent() {
        std::fs::File::open(folder)
            .and_then(|f| f.sync_all())
            .map_err(io(folder))?;
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
