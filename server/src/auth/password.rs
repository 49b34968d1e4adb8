//! Password sign-in for operators and admins: the break-glass path that works when SSO does not.

use super::rate_limit::SignInLimits;
use super::Account;
use crate::crypto::passwords;
use crate::domain::{EmailAddress, FieldErrors};
use crate::storage::{Actor, AuditEntry, Storage, StorageError};
use app::types::SignInRequest;
use time::OffsetDateTime;

/// Why a password sign-in did not sign anyone in.
#[derive(Debug, thiserror::Error)]
pub enum PasswordSignInError {
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error("too many attempts")]
    RateLimited,
    /// The same whether or not the account exists.
    #[error("wrong email or password")]
    BadCredentials,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Checks the credentials; every attempt lands in the audit log with its outcome. The answer
/// to a failure is the same whether or not the account exists.
pub async fn sign_in(
    storage: &Storage,
    limits: &SignInLimits,
    now: OffsetDateTime,
    request: &SignInRequest,
    client_addr: &str,
) -> Result<Account, PasswordSignInError> {
    let mut errors = FieldErrors::default();
    let email = errors.check("email", EmailAddress::parse(&request.email));
    if request.password.is_empty() {
        errors.add("password", "Enter your password.");
    }
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        return Err(PasswordSignInError::Invalid(errors));
    };
    let actor = Actor {
        label: format!("anonymous:{}", email.normalized),
        client_addr: client_addr.into(),
    };

    if !limits.allow(&email.normalized, client_addr) {
        let entry = AuditEntry {
            outcome: "failure",
            detail: "rate limited",
            ..AuditEntry::success(None, "signin.password", &email.normalized)
        };
        storage.record_audit(&actor, &entry, now).await?;
        return Err(PasswordSignInError::RateLimited);
    }

    let mut candidates = Vec::new();
    if let Some((operator, hash)) = storage.find_operator_credentials(&email.normalized).await? {
        candidates.push((Account::Operator(operator), hash));
    }
    for (member, hash) in storage.find_admin_credentials(&email.normalized).await? {
        candidates.push((Account::Admin(member), hash));
    }
    let mut account = None;
    if candidates.is_empty() {
        // Same work as a real check, so timing does not tell whether the account exists.
        passwords::verify_blocking(request.password.clone(), None).await;
    }
    for (candidate, hash) in candidates {
        if passwords::verify_blocking(request.password.clone(), Some(hash)).await {
            account = Some(candidate);
            break;
        }
    }

    let (outcome, detail) = if account.is_some() {
        ("success", "")
    } else {
        ("failure", "wrong email or password")
    };
    let entry = AuditEntry {
        outcome,
        detail,
        ..AuditEntry::success(
            account.as_ref().and_then(Account::organization_id),
            "signin.password",
            &email.normalized,
        )
    };
    let actor = match &account {
        Some(a) => Actor {
            label: a.audit_label(),
            ..actor
        },
        None => actor,
    };
    storage.record_audit(&actor, &entry, now).await?;
    account.ok_or(PasswordSignInError::BadCredentials)
}
