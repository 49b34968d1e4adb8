//! Who is signed in: the principal kept in the server-side session, resolved to an account on
//! every request, and the rules of what each account may reach.

pub mod password;
pub mod rate_limit;
pub mod web;

use crate::storage::{MemberRecord, OperatorRecord, Storage, StorageError};
use serde::{Deserialize, Serialize};

/// Sessions end after this long without a request.
pub const IDLE: time::Duration = time::Duration::hours(12);

/// The session key holding the principal.
pub const PRINCIPAL_KEY: &str = "principal";
/// The session key holding when the person signed in (Unix milliseconds): a session ends
/// this long after it (`Config::session_lifetime`), however active it is.
pub const SIGNED_IN_AT_KEY: &str = "signed_in_at";
/// The session key holding the directory's sign-out page, for sessions started with SSO.
pub const DIRECTORY_SIGN_OUT_KEY: &str = "directory_sign_out";
/// The session key holding the session's id for the vendor's applications (their `sid`),
/// never the session cookie's value.
pub const APPLICATION_SID_KEY: &str = "application_sid";

/// The session key holding what the directory said that applications receive as it was said
/// (`oidc::PassedOn`), when it said any of it.
pub const PASSED_ON_KEY: &str = "passed_on";

/// The applications' `sid` of a stored session's data, if it has one.
pub fn application_sid_of(data: &str) -> Option<String> {
    let data: serde_json::Map<String, serde_json::Value> = serde_json::from_str(data).ok()?;
    data.get(APPLICATION_SID_KEY)?.as_str().map(str::to_string)
}

/// What the session remembers about who signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    Operator {
        id: String,
    },
    Admin {
        organization_id: String,
        member_id: String,
    },
    /// A member (not an admin) signed in with the organization's directory.
    Member {
        organization_id: String,
        member_id: String,
    },
}

/// The signed-in account as it is now in the database.
#[derive(Debug, Clone)]
pub enum Account {
    Operator(OperatorRecord),
    Admin(MemberRecord),
    /// Reaches only their own account page, never the console.
    Member(MemberRecord),
}

impl Account {
    /// How the audit log and pages name the account: its email, else (for a member without
    /// one) its name.
    pub fn label(&self) -> &str {
        match self {
            Account::Operator(o) => &o.email,
            Account::Admin(m) | Account::Member(m) => m.label(),
        }
    }

    /// The label the audit log shows for this account.
    pub fn audit_label(&self) -> String {
        match self {
            Account::Operator(o) => format!("operator:{}", o.email),
            Account::Admin(m) => format!("admin:{}", m.label()),
            Account::Member(m) => format!("member:{}", m.label()),
        }
    }

    pub fn organization_id(&self) -> Option<&str> {
        match self {
            Account::Operator(_) => None,
            Account::Admin(m) | Account::Member(m) => Some(&m.organization_id),
        }
    }

    pub fn principal(&self) -> Principal {
        match self {
            Account::Operator(o) => Principal::Operator { id: o.id.clone() },
            Account::Admin(m) => Principal::Admin {
                organization_id: m.organization_id.clone(),
                member_id: m.id.clone(),
            },
            Account::Member(m) => Principal::Member {
                organization_id: m.organization_id.clone(),
                member_id: m.id.clone(),
            },
        }
    }

    /// The principal of a member who signed in with the directory: admins reach the console.
    pub fn principal_of_member(member: &MemberRecord) -> Principal {
        if member.role == "admin" {
            Principal::Admin {
                organization_id: member.organization_id.clone(),
                member_id: member.id.clone(),
            }
        } else {
            Principal::Member {
                organization_id: member.organization_id.clone(),
                member_id: member.id.clone(),
            }
        }
    }

    pub fn require_operator(&self) -> Result<(), AccessDenied> {
        match self {
            Account::Operator(_) => Ok(()),
            Account::Admin(_) | Account::Member(_) => Err(AccessDenied::Forbidden),
        }
    }

    /// Operators reach every organization, an admin only their own. Another organization's
    /// ids answer "not found", so they reveal nothing.
    pub fn require_organization(&self, organization_id: &str) -> Result<(), AccessDenied> {
        match self {
            Account::Operator(_) => Ok(()),
            Account::Admin(m) if m.organization_id == organization_id => Ok(()),
            Account::Admin(_) => Err(AccessDenied::UnknownOrganization),
            Account::Member(_) => Err(AccessDenied::Forbidden),
        }
    }
}

/// Why an account may not reach something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessDenied {
    #[error("not allowed")]
    Forbidden,
    /// Another organization's: it is answered as if it did not exist.
    #[error("no such organization")]
    UnknownOrganization,
}

/// A session that a sign-in with the directory starts, written by the storage layer in the
/// sign-in's own transaction.
#[derive(Debug)]
pub struct NewSession {
    pub id: String,
    /// The record's data, as the session store keeps it.
    pub data: String,
    pub expires_at: i64,
    /// The session this browser had before, ended by the sign-in (the id is rotated).
    pub replaces: Option<String>,
    /// The directory's session id, which its front-channel logout names.
    pub directory_sid: Option<String>,
}

impl NewSession {
    /// The session `id` (fresh, from the session layer) holding the principal, the
    /// directory's sign-out page and what applications receive of the directory's claims;
    /// `replaces` is the browser's session before this sign-in.
    pub fn start(
        id: String,
        replaces: Option<String>,
        principal: &Principal,
        directory_sign_out: &str,
        identity: &crate::oidc::Identity,
        now: time::OffsetDateTime,
    ) -> Result<Self, serde_json::Error> {
        let mut data = serde_json::Map::new();
        data.insert(PRINCIPAL_KEY.into(), serde_json::to_value(principal)?);
        data.insert(SIGNED_IN_AT_KEY.into(), crate::clock::to_millis(now).into());
        data.insert(DIRECTORY_SIGN_OUT_KEY.into(), directory_sign_out.into());
        if !identity.passed_on.is_empty() {
            data.insert(
                PASSED_ON_KEY.into(),
                serde_json::to_value(&identity.passed_on)?,
            );
        }
        Ok(NewSession {
            id,
            data: serde_json::to_string(&data)?,
            expires_at: crate::clock::to_millis(now + IDLE),
            replaces,
            directory_sid: identity.sid.clone(),
        })
    }
}

/// The account behind a principal, when it still exists and may still sign in.
pub async fn resolve(
    storage: &Storage,
    principal: &Principal,
) -> Result<Option<Account>, StorageError> {
    Ok(match principal {
        Principal::Operator { id } => storage.find_operator(id).await?.map(Account::Operator),
        Principal::Admin {
            organization_id,
            member_id,
        } => storage
            .find_member(organization_id, member_id)
            .await?
            .filter(MemberRecord::is_active_admin)
            .map(Account::Admin),
        Principal::Member {
            organization_id,
            member_id,
        } => storage
            .find_member(organization_id, member_id)
            .await?
            .filter(|m| m.status == "active")
            .map(Account::Member),
    })
}
