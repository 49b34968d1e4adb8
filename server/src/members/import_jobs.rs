//! CSV imports as background jobs the console polls: the file is checked in the background
//! (progress in rows), the preview waits for the admin, and applying runs in one transaction —
//! all or nothing, so a crash or a refused row leaves the members as they were.

use super::import::{self, ImportRow};
use crate::connections::{directory_tenant_id, StoredConnectionError};
use crate::storage::{Actor, Storage, StorageError};
use app::types::{ImportProblem, ImportStage, IMPORT_PROBLEM_LIMIT};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a finished or abandoned import is kept for the console to read.
const KEEP_FOR: Duration = Duration::from_secs(3600);
/// The most imports one organization keeps (a file's rows stay in memory until it is applied):
/// a new one lets the oldest go.
const KEEP_PER_ORGANIZATION: usize = 3;

/// Why an import could not be started, read or applied.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("no such organization")]
    UnknownOrganization,
    /// Never started, let go, or another organization's.
    #[error("no such import")]
    UnknownImport,
    /// Still being checked, with problems, or already applied.
    #[error("the import cannot be applied now")]
    NotReady,
    /// It makes this many members who sign in with the directory admins, unconfirmed.
    #[error("the import's promotions are not confirmed")]
    PromotionsUnconfirmed(u64),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Stored(#[from] StoredConnectionError),
}

/// Who imports: the audit's actor, and their own member when an admin imports (who cannot
/// take away their own admin role).
pub struct Importer<'a> {
    pub actor: &'a Actor,
    pub member_id: Option<&'a str>,
}

/// The imports in progress or recently finished, by id.
#[derive(Default)]
pub struct ImportJobs {
    jobs: Mutex<HashMap<String, Arc<Job>>>,
}

struct Job {
    organization_id: String,
    started: Instant,
    progress: AtomicU64,
    state: Mutex<JobState>,
}

struct JobState {
    stage: ImportStage,
    rows_total: u64,
    rows: Arc<Vec<ImportRow>>,
    to_create: u64,
    to_update: u64,
    unchanged: u64,
    /// Mapped members the import makes admins.
    promotions: u64,
    problems: Vec<ImportProblem>,
    message: Option<String>,
}

/// Where an import stands, with every problem found.
#[derive(Debug, Clone)]
pub struct ImportProgress {
    pub id: String,
    pub stage: ImportStage,
    pub rows_total: u64,
    /// Rows read while checking, members written while applying.
    pub rows_done: u64,
    pub to_create: u64,
    pub to_update: u64,
    pub unchanged: u64,
    /// Mapped members the import makes admins.
    pub promotions: u64,
    /// The first problems found (at most `IMPORT_PROBLEM_LIMIT`), in line order.
    pub first_problems: Vec<ImportProblem>,
    pub problem_count: u64,
    pub message: Option<String>,
}

impl Job {
    fn progress(&self, id: &str) -> ImportProgress {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let rows_done = match state.stage {
            ImportStage::Checking | ImportStage::Applying => self.progress.load(Ordering::Relaxed),
            ImportStage::Ready | ImportStage::Failed => state.rows_total,
            ImportStage::Applied => state.to_create + state.to_update,
        };
        ImportProgress {
            id: id.to_string(),
            stage: state.stage,
            rows_total: state.rows_total,
            rows_done,
            to_create: state.to_create,
            to_update: state.to_update,
            unchanged: state.unchanged,
            promotions: state.promotions,
            first_problems: state
                .problems
                .iter()
                .take(IMPORT_PROBLEM_LIMIT)
                .cloned()
                .collect(),
            problem_count: state.problems.len() as u64,
            message: state.message.clone(),
        }
    }

    fn is_applying(&self) -> bool {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).stage == ImportStage::Applying
    }

    fn fail(&self, message: String, problems: Vec<ImportProblem>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.stage = ImportStage::Failed;
        state.message = Some(message);
        state.problems = problems;
    }
}

impl ImportJobs {
    fn insert(&self, job: Job) -> (String, Arc<Job>) {
        let id = uuid::Uuid::new_v4().to_string();
        let job = Arc::new(job);
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.retain(|_, j| j.started.elapsed() < KEEP_FOR);
        let mut same_org: Vec<(String, Instant)> = jobs
            .iter()
            .filter(|(_, j)| j.organization_id == job.organization_id && !j.is_applying())
            .map(|(id, j)| (id.clone(), j.started))
            .collect();
        same_org.sort_by_key(|(_, started)| *started);
        let excess = (same_org.len() + 1).saturating_sub(KEEP_PER_ORGANIZATION);
        for (old, _) in same_org.into_iter().take(excess) {
            jobs.remove(&old);
        }
        jobs.insert(id.clone(), job.clone());
        (id, job)
    }

    fn get(&self, organization_id: &str, id: &str) -> Result<Arc<Job>, ImportError> {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .filter(|j| j.organization_id == organization_id)
            .cloned()
            .ok_or(ImportError::UnknownImport)
    }
}

/// Starts checking a file; the preview is ready when the import's stage is `ready`.
pub async fn start(
    storage: &Storage,
    jobs: &ImportJobs,
    importer: Importer<'_>,
    organization_id: &str,
    file: Vec<u8>,
) -> Result<ImportProgress, ImportError> {
    if storage.find_organization(organization_id).await?.is_none() {
        return Err(ImportError::UnknownOrganization);
    }
    let tenant_id = directory_tenant_id(storage, organization_id).await?;
    let (id, job) = jobs.insert(Job {
        organization_id: organization_id.to_string(),
        started: Instant::now(),
        progress: AtomicU64::new(0),
        state: Mutex::new(JobState {
            stage: ImportStage::Checking,
            rows_total: 0,
            rows: Arc::new(Vec::new()),
            to_create: 0,
            to_update: 0,
            promotions: 0,
            unchanged: 0,
            problems: Vec::new(),
            message: None,
        }),
    });
    let started = job.progress(&id);
    let storage = storage.clone();
    let organization_id = organization_id.to_string();
    let me = importer.member_id.map(str::to_string);
    tokio::spawn(async move {
        let parsed = {
            let job = job.clone();
            tokio::task::spawn_blocking(move || import::parse(&file, &job.progress)).await
        };
        let mut file = match parsed {
            Ok(Ok(f)) => f,
            Ok(Err(problem)) => return job.fail(problem.0, Vec::new()),
            Err(e) => return job.fail(format!("Reading the file failed: {e}"), Vec::new()),
        };
        let existing = match storage.import_snapshot(&organization_id).await {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "reading members for an import failed");
                return job.fail(
                    "Gatehouse could not read the members. Try again.".into(),
                    Vec::new(),
                );
            }
        };
        let planned = import::plan(&file.rows, &existing, tenant_id.as_deref(), me.as_deref());
        let mut state = job.state.lock().unwrap_or_else(|e| e.into_inner());
        state.rows_total = file.rows_total;
        match planned {
            Ok(changes) if file.problems.is_empty() => {
                state.to_create = changes.creates.len() as u64;
                state.to_update = changes.updates.len() as u64;
                state.unchanged = changes.unchanged;
                state.promotions = changes.promotions;
                state.rows = Arc::new(std::mem::take(&mut file.rows));
                state.stage = ImportStage::Ready;
            }
            planned => {
                let mut problems = std::mem::take(&mut file.problems);
                if let Err(more) = planned {
                    problems.extend(more);
                }
                problems.sort_by_key(|p| p.line);
                state.problems = problems;
                state.stage = ImportStage::Failed;
                state.message = Some(format!(
                    "Nothing was imported: fix the {} problems below and import the file again.",
                    state.problems.len()
                ));
            }
        }
    });
    Ok(started)
}

/// Where an import stands.
pub fn progress(
    jobs: &ImportJobs,
    organization_id: &str,
    id: &str,
) -> Result<ImportProgress, ImportError> {
    Ok(jobs.get(organization_id, id)?.progress(id))
}

/// Applies a ready import in the background, in one transaction.
pub async fn apply(
    storage: &Storage,
    jobs: &ImportJobs,
    importer: Importer<'_>,
    organization_id: &str,
    id: &str,
    confirm_promotions: bool,
    now: time::OffsetDateTime,
) -> Result<ImportProgress, ImportError> {
    let job = jobs.get(organization_id, id)?;
    let rows = {
        let mut job_state = job.state.lock().unwrap_or_else(|e| e.into_inner());
        if job_state.stage != ImportStage::Ready {
            return Err(ImportError::NotReady);
        }
        if job_state.promotions > 0 && !confirm_promotions {
            return Err(ImportError::PromotionsUnconfirmed(job_state.promotions));
        }
        job_state.stage = ImportStage::Applying;
        job_state.rows.clone()
    };
    job.progress.store(0, Ordering::Relaxed);
    let applying = job.progress(id);
    let tenant_id = directory_tenant_id(storage, organization_id).await?;
    let storage = storage.clone();
    let organization_id = organization_id.to_string();
    let me = importer.member_id.map(str::to_string);
    let actor: Actor = importer.actor.clone();
    tokio::spawn(async move {
        let result = storage
            .apply_member_import(
                &organization_id,
                tenant_id.as_deref(),
                |existing| {
                    let changes =
                        import::plan(&rows, existing, tenant_id.as_deref(), me.as_deref())?;
                    if changes.promotions > 0 && !confirm_promotions {
                        // Members were mapped since the preview: the admin confirms again.
                        return Err(vec![ImportProblem {
                            line: 0,
                            column: "role".into(),
                            message: format!(
                                "{} members who sign in with the directory would become admins: check the file again and confirm.",
                                changes.promotions
                            ),
                        }]);
                    }
                    Ok(changes)
                },
                &job.progress,
                &actor,
                now,
            )
            .await;
        match result {
            Ok(Ok(changes)) => {
                let mut state = job.state.lock().unwrap_or_else(|e| e.into_inner());
                state.to_create = changes.creates.len() as u64;
                state.to_update = changes.updates.len() as u64;
                state.unchanged = changes.unchanged;
                state.stage = ImportStage::Applied;
                state.rows = Arc::new(Vec::new());
            }
            Ok(Err(problems)) => job.fail(
                "Nothing was imported: the members changed since the preview. Fix the problems below and import the file again.".into(),
                problems,
            ),
            Err(e) => {
                tracing::error!(error = %e, "applying an import failed");
                job.fail(
                    "Nothing was imported: the database refused the change. Try again.".into(),
                    Vec::new(),
                )
            }
        }
    });
    Ok(applying)
}
