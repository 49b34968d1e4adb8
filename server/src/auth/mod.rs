//! Who is signed in: the principal kept in the server-side session, resolved to an account on
//! every request, and the rules of what each account may reach.

pub mod password;
pub mod rate_limit;
pub mod session_cookie;
pub mod session_store;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::{Actor, MemberRecord, OperatorRecord};
use app::types::{AccountKind, Me, OrganizationRef};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use tower_sessions::Session;

/// The session key holding the principal.
pub const PRINCIPAL_KEY: &str = "principal";
/// The session key holding the directory's sign-out page, for sessions started with SSO.
pub const DIRECTORY_SIGN_OUT_KEY: &str = "directory_sign_out";

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
    pub fn email(&self) -> &str {
        match self {
            Account::Operator(o) => &o.email,
            Account::Admin(m) | Account::Member(m) => &m.email,
        }
    }

    /// The label the audit log shows for this account.
    pub fn audit_label(&self) -> String {
        match self {
            Account::Operator(o) => format!("operator:{}", o.email),
            Account::Admin(m) => format!("admin:{}", m.email),
            Account::Member(m) => format!("member:{}", m.email),
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

    pub fn require_operator(&self) -> ApiResult<()> {
        match self {
            Account::Operator(_) => Ok(()),
            Account::Admin(_) | Account::Member(_) => Err(ApiError::Forbidden),
        }
    }

    /// Operators reach every organization, an admin only their own. Another organization's
    /// ids answer "not found", so they reveal nothing.
    pub fn require_organization(&self, organization_id: &str) -> ApiResult<()> {
        match self {
            Account::Operator(_) => Ok(()),
            Account::Admin(m) if m.organization_id == organization_id => Ok(()),
            Account::Admin(_) => Err(ApiError::NotFound("organization")),
            Account::Member(_) => Err(ApiError::Forbidden),
        }
    }
}

/// The client's address as seen by the server.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip().to_string())
            .unwrap_or_else(|| "unknown".into());
        Ok(ClientAddr(addr))
    }
}

/// A request from a signed-in operator or admin: the console's API. Anyone else is answered
/// with 401, and a member signed in with SSO with 403.
pub struct SignedIn {
    pub account: Account,
    pub actor: Actor,
    pub session: Session,
}

/// A request from anyone signed in, members included: their own session only.
pub struct SignedInPerson(pub SignedIn);

async fn signed_in(parts: &mut Parts, state: &AppState) -> Result<SignedIn, ApiError> {
    let session = Session::from_request_parts(parts, state)
        .await
        .map_err(|(_, msg)| ApiError::Internal(format!("session layer missing: {msg}")))?;
    let ClientAddr(client_addr) = ClientAddr::from_request_parts(parts, state)
        .await
        .unwrap_or(ClientAddr("unknown".into()));
    let principal: Option<Principal> = session
        .get(PRINCIPAL_KEY)
        .await
        .map_err(|e| ApiError::Internal(format!("session read: {e}")))?;
    let account = match principal {
        Some(p) => resolve(state, &p).await?,
        None => None,
    };
    let account = account.ok_or(ApiError::Unauthorized)?;
    let actor = Actor {
        label: account.audit_label(),
        client_addr,
    };
    Ok(SignedIn {
        account,
        actor,
        session,
    })
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let person = signed_in(parts, state).await?;
        match person.account {
            Account::Member(_) => Err(ApiError::Forbidden),
            _ => Ok(person),
        }
    }
}

impl FromRequestParts<AppState> for SignedInPerson {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        signed_in(parts, state).await.map(SignedInPerson)
    }
}

/// The account behind a principal, when it still exists and may still sign in.
async fn resolve(state: &AppState, principal: &Principal) -> ApiResult<Option<Account>> {
    Ok(match principal {
        Principal::Operator { id } => state
            .storage
            .find_operator(id)
            .await?
            .map(Account::Operator),
        Principal::Admin {
            organization_id,
            member_id,
        } => state
            .storage
            .find_member(organization_id, member_id)
            .await?
            .filter(MemberRecord::is_active_admin)
            .map(Account::Admin),
        Principal::Member {
            organization_id,
            member_id,
        } => state
            .storage
            .find_member(organization_id, member_id)
            .await?
            .filter(|m| m.status == "active")
            .map(Account::Member),
    })
}

/// Starts a fresh session for this principal: a new session id, so an id planted before
/// sign-in is worthless after it.
pub async fn start_session(session: &Session, principal: &Principal) -> ApiResult<()> {
    session
        .cycle_id()
        .await
        .map_err(|e| ApiError::Internal(format!("session cycle: {e}")))?;
    session
        .insert(PRINCIPAL_KEY, principal)
        .await
        .map_err(|e| ApiError::Internal(format!("session write: {e}")))?;
    Ok(())
}

/// What `GET /api/v1/session` answers.
pub async fn describe(state: &AppState, account: &Account) -> ApiResult<Me> {
    Ok(match account {
        Account::Operator(o) => Me {
            kind: AccountKind::Operator,
            id: o.id.clone(),
            email: o.email.clone(),
            name: o.name.clone(),
            organization: None,
        },
        Account::Admin(m) | Account::Member(m) => {
            let org = state
                .storage
                .find_organization(&m.organization_id)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            Me {
                kind: if matches!(account, Account::Admin(_)) {
                    AccountKind::Admin
                } else {
                    AccountKind::Member
                },
                id: m.id.clone(),
                email: m.email.clone(),
                name: m.display_name.clone(),
                organization: Some(OrganizationRef {
                    id: org.id,
                    name: org.name,
                    slug: org.slug,
                }),
            }
        }
    })
}
