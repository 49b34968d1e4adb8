//! Work done beside the requests: sending email and back-channel logouts, housekeeping (expired
//! sessions, used sign-in states and application tokens, daily re-checks of domain proofs), and
//! SQLite's checkpoints. With several instances on one database, each job that writes shared
//! data runs on one instance at a time: the one holding the job's lease in the database, which
//! it renews every round; when that instance stops, it gives its leases up, and when it dies,
//! another takes them once they have expired.

use crate::clock::to_millis;
use crate::state::AppState;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// A job that one instance at a time does: its lease's name, how often it runs, and how long
/// a lease lasts without renewal (a few rounds).
struct Job {
    name: &'static str,
    every: Duration,
    lease: Duration,
}

const LOGOUTS: Job = Job {
    name: "logouts",
    every: Duration::from_secs(1),
    lease: Duration::from_secs(5),
};
const MAIL: Job = Job {
    name: "mail",
    every: Duration::from_secs(30),
    lease: Duration::from_secs(90),
};
const HOUSEKEEPING: Job = Job {
    name: "housekeeping",
    every: Duration::from_secs(600),
    lease: Duration::from_secs(1800),
};

/// The background work of one running instance.
pub struct Background {
    /// This instance, as its leases name it.
    holder: Arc<str>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts every job.
pub fn start(state: &AppState) -> Background {
    let holder = state.instance.clone();
    let mut tasks = vec![tokio::spawn(checkpoints(state.clone()))];
    tasks.push(tokio::spawn(every(
        LOGOUTS,
        state.clone(),
        holder.clone(),
        |state| async move {
            if let Err(e) = crate::provider::logout::deliver_due(&state.provider_services()).await {
                tracing::warn!(error = %e, "sending back-channel logouts failed");
            }
        },
    )));
    if state.mailer.is_some() {
        tasks.push(tokio::spawn(every(
            MAIL,
            state.clone(),
            holder.clone(),
            |state| async move {
                let Some(mailer) = state.mailer.clone() else {
                    return;
                };
                if let Err(e) = crate::mail::deliver_due(&state.storage, &mailer, state.now()).await
                {
                    tracing::warn!(error = %e, "sending email failed");
                }
            },
        )));
    }
    tasks.push(tokio::spawn(forget_idle_limits(state.clone())));
    tasks.push(tokio::spawn(credential_gauge(state.clone())));
    tasks.push(tokio::spawn(every(
        HOUSEKEEPING,
        state.clone(),
        holder.clone(),
        housekeeping,
    )));
    Background { holder, tasks }
}

impl Background {
    /// Stops every job and gives this instance's leases up, so another instance takes them
    /// over at once.
    pub async fn stop(self, state: &AppState) {
        for task in &self.tasks {
            task.abort();
        }
        for job in [LOGOUTS, MAIL, HOUSEKEEPING] {
            if let Err(e) = state.storage.release_lease(job.name, &self.holder).await {
                tracing::warn!(error = %e, job = job.name, "giving a lease up failed");
            }
        }
    }
}

/// Runs `round` every `job.every`, in the rounds in which this instance holds the job's lease.
async fn every<F, R>(job: Job, state: AppState, holder: Arc<str>, round: F)
where
    F: Fn(AppState) -> R,
    R: Future<Output = ()>,
{
    let mut tick = tokio::time::interval(job.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = to_millis(state.now());
        let until = now + job.lease.as_millis() as i64;
        match state
            .storage
            .take_lease(job.name, &holder, now, until)
            .await
        {
            Ok(true) => round(state.clone()).await,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, job = job.name, "taking a lease failed"),
        }
    }
}

/// Moves SQLite's write-ahead log into the database file ten times a second
/// (`Storage::checkpoint`), so that sign-ins seldom wait for it. Each instance does its own.
async fn checkpoints(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = state.storage.checkpoint().await {
            tracing::warn!(error = %e, "database checkpoint failed");
        }
    }
}

/// Forgets idle rate-limit keys: each instance keeps its own limits in memory.
async fn forget_idle_limits(state: AppState) {
    let mut tick = tokio::time::interval(HOUSEKEEPING.every);
    loop {
        tick.tick().await;
        state.sign_in_limits.shrink();
        state.sso_limit.shrink();
        state.link_limit.shrink();
    }
}

/// Keeps this instance's `gatehouse_credentials_expiring` gauge current (each instance is
/// scraped on its own, so each measures; the figures are the same on all).
async fn credential_gauge(state: AppState) {
    let mut tick = tokio::time::interval(HOUSEKEEPING.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        measure_credentials(&state).await;
    }
}

/// Sets `gatehouse_credentials_expiring{within_days="30"|"7"}`: how many credentials of active
/// connections expire within that many days, or have expired. No label names an organization:
/// the operator's console lists them. Public for the tests.
pub async fn measure_credentials(state: &AppState) {
    let services = state.connection_services();
    let expiring = match crate::connections::expiry::expiring_credentials(&services, None).await {
        Ok(expiring) => expiring,
        Err(e) => {
            tracing::warn!(error = %e, "measuring expiring credentials failed");
            return;
        }
    };
    let today = state.now().date();
    for within in [crate::connections::expiry::SOON, 7] {
        let count = expiring
            .iter()
            .filter(|e| e.credential.days_left(today) <= within)
            .count();
        metrics::gauge!("gatehouse_credentials_expiring", "within_days" => within.to_string())
            .set(count as f64);
    }
}

/// Audit entries deleted per statement, so no round holds the database for long.
const AUDIT_BATCH: i64 = 5_000;

/// Removes expired sessions, used sign-in states, held SAML responses and application tokens,
/// audit entries past their retention (`GATEHOUSE_AUDIT_RETENTION_DAYS`), reads SAML metadata
/// again once a day, rotates the certificates of apps Gatehouse created before they expire, warns about credentials near their expiry, and looks the DNS proofs due today up again. Public for the tests, which run a round when they choose.
pub async fn housekeeping(state: AppState) {
    let now = state.now();
    let cutoff = now - state.config.audit_retention;
    let mut removed = 0;
    loop {
        match state.storage.delete_audit_before(cutoff, AUDIT_BATCH).await {
            Ok(n) => {
                removed += n;
                if n < AUDIT_BATCH as u64 {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "audit retention failed");
                break;
            }
        }
    }
    if removed > 0 {
        tracing::info!(removed, "audit entries past their retention removed");
    }
    // Expiry times of sessions, sign-in states and tokens are the system clock's (the session
    // layer sets them so); audit entries carry Gatehouse's clock.
    let wall = time::OffsetDateTime::now_utc();
    match state.storage.delete_expired_sessions(to_millis(wall)).await {
        Ok(n) if n > 0 => tracing::info!(removed = n, "expired sessions removed"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "session cleanup failed"),
    }
    match state.storage.delete_expired_sign_in_states(wall).await {
        Ok(n) if n > 0 => tracing::info!(removed = n, "expired used sign-in states removed"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "used sign-in state cleanup failed"),
    }
    match state.storage.delete_expired_saml_responses(wall).await {
        Ok(n) if n > 0 => {
            tracing::info!(removed = n, "SAML responses nobody came back for removed")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "SAML response cleanup failed"),
    }
    match state.storage.delete_expired_provider_tokens(wall).await {
        Ok(n) if n > 0 => tracing::info!(removed = n, "expired application tokens removed"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "application token cleanup failed"),
    }
    // SAML metadata read from a URL is read again once a day: whichever instance takes the
    // day-long lease first does it.
    let day = to_millis(now);
    let round = format!("{}:{day}", state.instance);
    match state
        .storage
        .take_lease("saml-metadata", &round, day, day + 86_400_000)
        .await
    {
        Ok(true) => {
            match crate::connections::saml::refresh_metadata(&state.connection_services()).await {
                Ok(n) if n > 0 => tracing::info!(changed = n, "SAML metadata read again"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "re-reading SAML metadata failed"),
            }
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "taking the SAML metadata lease failed"),
    }
    // Certificates Gatehouse holds for apps it created are rotated before they expire, before
    // any warning would go out.
    match crate::connections::rotation::rotate_due(&state.connection_services()).await {
        Ok(n) if n > 0 => tracing::info!(rotated = n, "app certificates rotated"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "rotating app certificates failed"),
    }
    // Credentials near their expiry: each warning goes out once (the database keeps which).
    match crate::connections::expiry::warn_due(&state.connection_services(), None).await {
        Ok(n) if n > 0 => tracing::info!(sent = n, "credential expiry warnings sent"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "checking credential expiry failed"),
    }
    // Each DNS proof is looked up again once a day (the ones due at this round).
    if let Err(e) = crate::domains::recheck(state.domain_services()).await {
        tracing::warn!(error = %e, "email domain re-check failed");
    }
}
