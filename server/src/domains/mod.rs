//! Email domains and their proofs. Email-first sign-in sends an email's domain to an
//! organization's directory only once the organization has proven the domain: by the
//! directory's own verified domains (read from Microsoft Graph during the wizard's test
//! sign-in, on Entra's clouds only), with a DNS TXT record Gatehouse shows
//! (`_gatehouse-challenge.<domain>`), or by an operator's approval. A token's claims never
//! prove a domain (a guest's `preferred_username` even names another directory), and each
//! domain is proven on its own. A proven domain belongs to one organization. Proofs are checked
//! again every day and when the connection's credentials change; a lookup that fails says
//! nothing, and routing stops only after the proof has been missing for `MISSING_GRACE`.

pub mod dns;

use crate::clock::Clock;
use crate::crypto::tokens;
use crate::entra::verify;
use crate::storage::{Actor, EmailDomainRecord, NewEmail, Storage, StorageError};
use app::types::DomainProofState;
use dns::{TxtAnswer, TxtLookup};

/// How long a DNS proof may be missing before its domain stops routing.
pub const MISSING_GRACE: time::Duration = time::Duration::days(7);
/// How often DNS proofs are checked again.
pub const RECHECK_EVERY: time::Duration = time::Duration::days(1);

/// The name of the TXT record that proves `domain`.
pub fn record_name(domain: &str) -> String {
    format!("_gatehouse-challenge.{domain}")
}

/// How a directory proof names the directory whose verified domains proved it.
pub fn directory_proof(authority_host: &str, tenant_id: &str) -> String {
    format!("{DIRECTORY_PROOF}{authority_host}/{tenant_id}")
}

const DIRECTORY_PROOF: &str = "directory:";

/// A fresh random value for a domain's TXT record.
fn new_challenge() -> String {
    format!("gatehouse-domain-proof={}", tokens::generate().0)
}

/// What proofs need, lent from the application's state.
#[derive(Clone, Copy)]
pub struct DomainServices<'a> {
    pub storage: &'a Storage,
    pub clock: &'a dyn Clock,
    pub txt: &'a TxtLookup,
    /// For re-checking directory proofs at the directory's cloud.
    pub http: &'a reqwest::Client,
    /// Gatehouse's base URL, for the link in the admins' warning.
    pub public_url: &'a str,
}

/// Why a domain could not be proven.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The organization does not list the domain.
    #[error("the domain is not listed")]
    NotListed,
    /// Another organization has proven it.
    #[error("the domain is proven by another organization")]
    ClaimedElsewhere,
    /// The DNS answered: no TXT record with the value.
    #[error("no TXT record with the value")]
    RecordMissing { record_name: String },
    /// The DNS did not answer: nothing is known.
    #[error("the DNS lookup failed: {0}")]
    LookupFailed(String),
    #[error(transparent)]
    Storage(StorageError),
}

impl From<StorageError> for DomainError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Conflict("domain") => DomainError::ClaimedElsewhere,
            StorageError::NotFound => DomainError::NotListed,
            other => DomainError::Storage(other),
        }
    }
}

/// A listed domain, its proof record and where the proof stands.
pub struct Proof {
    pub record: EmailDomainRecord,
    pub state: DomainProofState,
}

impl Proof {
    /// How the domain was proven, when it was: `Dns`, `Directory` or `Operator(email)`.
    pub fn method(&self) -> Option<ProofMethod<'_>> {
        let by = self.record.proven_by.as_deref()?;
        Some(match by.strip_prefix("operator:") {
            Some(operator) => ProofMethod::Operator(operator),
            None if by.starts_with(DIRECTORY_PROOF) => ProofMethod::Directory,
            None => ProofMethod::Dns,
        })
    }
}

/// How a domain was proven.
pub enum ProofMethod<'a> {
    Dns,
    Directory,
    /// An operator's approval, with the operator's email.
    Operator(&'a str),
}

/// Each listed domain of the organization with where its proof stands.
pub async fn proofs(
    services: DomainServices<'_>,
    organization_id: &str,
    listed: &[String],
) -> Result<Vec<Proof>, DomainError> {
    let rows = services
        .storage
        .list_email_domains(organization_id, listed, new_challenge)
        .await?;
    let elsewhere = services
        .storage
        .domains_proven_elsewhere(organization_id, listed)
        .await?;
    let now = crate::clock::to_millis(services.clock.now());
    Ok(rows
        .into_iter()
        .filter(|r| listed.contains(&r.domain))
        .map(|r| view(r, &elsewhere, now))
        .collect())
}

fn view(record: EmailDomainRecord, elsewhere: &[String], now: i64) -> Proof {
    let grace_ms = MISSING_GRACE.whole_milliseconds() as i64;
    let state = match (&record.proven_at, &record.missing_since) {
        (Some(_), Some(since)) if now - since > grace_ms => DomainProofState::Lapsed,
        (Some(_), Some(_)) => DomainProofState::Missing,
        (Some(_), None) => DomainProofState::Proven,
        (None, _) if elsewhere.contains(&record.domain) => DomainProofState::ClaimedElsewhere,
        (None, _) => DomainProofState::Waiting,
    };
    Proof { record, state }
}

async fn listed_record(
    services: DomainServices<'_>,
    organization_id: &str,
    domain: &str,
) -> Result<EmailDomainRecord, DomainError> {
    services
        .storage
        .email_domains(organization_id)
        .await?
        .into_iter()
        .find(|r| r.domain == domain)
        .ok_or(DomainError::NotListed)
}

/// Looks the domain's TXT record up now, and proves the domain when it holds the value.
pub async fn check_dns(
    services: DomainServices<'_>,
    organization_id: &str,
    domain: &str,
    actor: &Actor,
) -> Result<(), DomainError> {
    let record = listed_record(services, organization_id, domain).await?;
    let taken = services
        .storage
        .domains_proven_elsewhere(organization_id, &[domain.to_string()])
        .await?;
    if !taken.is_empty() {
        return Err(DomainError::ClaimedElsewhere);
    }
    let name = record_name(domain);
    match services.txt.txt(&name).await {
        TxtAnswer::Found(values) if values.contains(&record.challenge) => Ok(services
            .storage
            .prove_email_domain(organization_id, domain, "dns", actor, services.clock.now())
            .await?),
        TxtAnswer::Found(_) | TxtAnswer::Missing => {
            Err(DomainError::RecordMissing { record_name: name })
        }
        TxtAnswer::Failed(why) => Err(DomainError::LookupFailed(why)),
    }
}

/// An operator's approval: the domain is proven without a DNS record.
pub async fn approve(
    services: DomainServices<'_>,
    organization_id: &str,
    domain: &str,
    operator_email: &str,
    actor: &Actor,
) -> Result<(), DomainError> {
    listed_record(services, organization_id, domain).await?;
    Ok(services
        .storage
        .prove_email_domain(
            organization_id,
            domain,
            &format!("operator:{operator_email}"),
            actor,
            services.clock.now(),
        )
        .await?)
}

/// Proves each of the organization's `listed` domains that its directory (`directory`, from
/// `directory_proof`) has verified, as Microsoft Graph told the wizard's test sign-in. A domain
/// already proven and present, or proven by another organization, is left as it is. Answers the
/// domains it proved.
pub async fn prove_by_directory(
    storage: &Storage,
    now: time::OffsetDateTime,
    organization_id: &str,
    listed: &[String],
    verified: &[String],
    directory: &str,
    actor: &Actor,
) -> Result<Vec<String>, DomainError> {
    let rows = storage
        .list_email_domains(organization_id, listed, new_challenge)
        .await?;
    let mut proven = Vec::new();
    for row in rows {
        let holds = row.proven_at.is_some() && row.missing_since.is_none();
        if holds || !listed.contains(&row.domain) || !verified.contains(&row.domain) {
            continue;
        }
        match storage
            .prove_email_domain(organization_id, &row.domain, directory, actor, now)
            .await
        {
            Ok(()) => proven.push(row.domain),
            Err(StorageError::Conflict("domain")) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(proven)
}

/// What a re-check found.
enum Found {
    Present,
    Missing,
    /// The lookup failed: nothing is known.
    Unknown(String),
}

/// Checks one proof again: a DNS proof's record, or a directory proof's domain at its
/// directory's cloud (Entra answers a domain's discovery document with the directory that
/// verified it). `directory_now` is the directory the connection uses now, when it changed.
async fn check_again(
    services: DomainServices<'_>,
    record: &EmailDomainRecord,
    directory_now: Option<&str>,
) -> Found {
    let by = record.proven_by.as_deref().unwrap_or_default();
    if let Some(directory) = by.strip_prefix(DIRECTORY_PROOF) {
        if directory_now.is_some_and(|now| now != by) {
            return Found::Missing;
        }
        let Some((authority, tenant)) = directory.rsplit_once('/') else {
            return Found::Missing;
        };
        return match verify::discover(services.http, authority, &record.domain, "").await {
            Ok(info) if info.tenant_id == tenant => Found::Present,
            Ok(_) => Found::Missing,
            // AADSTS90002: no directory has verified the domain.
            Err(f) if f.aadsts.as_deref() == Some("90002") => Found::Missing,
            Err(f) => Found::Unknown(f.message),
        };
    }
    match services.txt.txt(&record_name(&record.domain)).await {
        TxtAnswer::Found(values) if values.contains(&record.challenge) => Found::Present,
        TxtAnswer::Found(_) | TxtAnswer::Missing => Found::Missing,
        TxtAnswer::Failed(why) => Found::Unknown(why),
    }
}

/// Records what a re-check found: presence clears a miss, a definite miss is recorded (from
/// the first, audited), a failed lookup changes nothing.
async fn record_check(
    services: DomainServices<'_>,
    record: &EmailDomainRecord,
    found: Found,
    actor: &Actor,
) -> Result<(), DomainError> {
    let present = match found {
        Found::Present => true,
        Found::Missing => false,
        Found::Unknown(why) => {
            tracing::warn!(domain = %record.domain, error = %why, "domain re-check lookup failed");
            return Ok(());
        }
    };
    let now = services.clock.now();
    let warning = || missing_warning(services.public_url, record, now);
    Ok(services
        .storage
        .record_domain_recheck(record, present, warning, actor, now)
        .await?)
}

/// What the organization's admins are told when a proof goes missing (from the first day).
fn missing_warning(
    public_url: &str,
    record: &EmailDomainRecord,
    now: time::OffsetDateTime,
) -> NewEmail {
    let domain = &record.domain;
    let by_directory = record
        .proven_by
        .as_deref()
        .is_some_and(|by| by.starts_with(DIRECTORY_PROOF));
    let (what, fix) = if by_directory {
        (
            "your Microsoft Entra directory no longer lists it among its verified domains".to_string(),
            "Verify the domain again in the Microsoft Entra admin center (Domain names), or prove it with a DNS record on the page below.".to_string(),
        )
    } else {
        (
            format!(
                "the TXT record {} no longer holds the value Gatehouse gave you",
                record_name(domain)
            ),
            format!(
                "Put the TXT record back at the domain's DNS host (name {}, value {}), then choose \"Check the DNS record\" on the page below. Keep it in place: Gatehouse checks it every day.",
                record_name(domain),
                record.challenge
            ),
        )
    };
    let until = (now + MISSING_GRACE).date();
    NewEmail {
        subject: format!("Gatehouse: the proof of {domain} is missing"),
        body: format!(
            "Gatehouse could not find the proof that your organization owns {domain}: {what}.\n\n\
             Email-first sign-in keeps sending {domain} addresses to your directory for 7 days, until {until}. \
             After that, people with a {domain} address are asked for a password instead, until the proof is back.\n\n\
             {fix}\n\n\
             The SSO setup: {public_url}/console/orgs/{}/sso#step-policy\n",
            record.organization_id
        ),
    }
}

/// Checks every DNS and directory proof not checked for `RECHECK_EVERY`.
pub async fn recheck(services: DomainServices<'_>) -> Result<(), DomainError> {
    let due_before = crate::clock::to_millis(services.clock.now() - RECHECK_EVERY);
    let actor = Actor {
        label: "gatehouse:daily-domain-check".into(),
        client_addr: "-".into(),
    };
    for record in services.storage.checkable_proofs(None).await? {
        if record.checked_at.is_some_and(|at| at > due_before) {
            continue;
        }
        let found = check_again(services, &record, None).await;
        record_check(services, &record, found, &actor).await?;
    }
    Ok(())
}

/// Checks the organization's DNS and directory proofs now, after its connection's credentials
/// changed to `directory_now` (from `directory_proof`): a directory proof of another directory
/// is missing from now on.
pub async fn recheck_after_credentials_change(
    services: DomainServices<'_>,
    organization_id: &str,
    directory_now: &str,
    actor: &Actor,
) -> Result<(), DomainError> {
    for record in services
        .storage
        .checkable_proofs(Some(organization_id))
        .await?
    {
        let found = check_again(services, &record, Some(directory_now)).await;
        record_check(services, &record, found, actor).await?;
    }
    Ok(())
}

/// Whether the organization has proven `domain` (and its proof has not lapsed).
pub async fn is_proven(
    storage: &Storage,
    now: time::OffsetDateTime,
    organization_id: &str,
    domain: &str,
) -> Result<bool, StorageError> {
    storage
        .is_domain_proven(organization_id, domain, missing_cutoff(now))
        .await
}

/// The oldest moment a missing proof may have gone missing and still route sign-ins.
pub fn missing_cutoff(now: time::OffsetDateTime) -> i64 {
    crate::clock::to_millis(now - MISSING_GRACE)
}
