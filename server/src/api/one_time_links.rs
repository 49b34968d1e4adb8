//! The three one-time links as one flow: the first-run link Gatehouse prints at its first start,
//! an admin's invite, and an organization's setup link. Each is checked by the hash of its
//! token; using one counts against the client address's limit, checks the link, then the
//! account form (the password is hashed only for a live link, so nobody can make the server
//! hash at will), creates the account in the same transaction that spends the link, and signs
//! the person in. A setup link never changes an existing account: its owner signs in first and
//! claims the link (`claim_setup_link`). Operators create invites and setup links in
//! `invites.rs` and `setup_links.rs`.

use super::ApiJson;
use crate::auth::web::{ClientAddr, SignedInPerson};
use crate::auth::Account;
use crate::clock::rfc3339_millis;
use crate::crypto::tokens;
use crate::domain::{EmailAddress, FieldErrors, Name, NewPassword};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::{Actor, StorageError};
use app::types::{
    AcceptInviteRequest, ErrorBody, FirstRunRequest, InviteInfo, LinkStatus, Me, SetupLinkInfo,
    UseSetupLinkRequest,
};
use axum::extract::{Path, State};
use axum::Json;
use tower_sessions::Session;
use tracing::instrument;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(first_run_status))
        .routes(routes!(complete_first_run))
        .routes(routes!(get_invite))
        .routes(routes!(accept_invite))
        .routes(routes!(get_setup_link))
        .routes(routes!(use_setup_link))
        .routes(routes!(claim_setup_link))
}

/// Counts one use of a link from this address: refused once the minute's uses are spent.
fn count_use(state: &AppState, client_addr: &str) -> ApiResult<()> {
    if state.link_limit.allow(client_addr) {
        Ok(())
    } else {
        Err(ApiError::RateLimited)
    }
}

/// The account a one-time link creates, checked as one form.
struct NewAccount {
    /// For links that are not bound to an email (first run, setup link).
    email: Option<EmailAddress>,
    name: Name,
    password_hash: String,
}

impl NewAccount {
    /// Checks every field at once, then hashes the password. Call it only for a live link.
    async fn check(email: Option<&str>, name: &str, password: &str) -> ApiResult<Self> {
        let mut errors = FieldErrors::default();
        let email = email.and_then(|email| errors.check("email", EmailAddress::parse(email)));
        let name = errors.check("name", Name::parse(name));
        let password = errors.check("password", NewPassword::parse(password));
        match (name, password) {
            (Some(name), Some(password)) if errors.is_empty() => Ok(NewAccount {
                email,
                name,
                password_hash: crate::crypto::passwords::hash_blocking(password.0).await?,
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }

    fn email(&self) -> ApiResult<(&str, &str)> {
        self.email
            .as_ref()
            .map(|e| (e.display.as_str(), e.normalized.as_str()))
            .ok_or_else(|| ApiError::field("email", "Enter an email address."))
    }
}

/// A link that was used, revoked or expired answers 410 Gone.
fn gone_unless(live: bool) -> ApiResult<()> {
    if live {
        Ok(())
    } else {
        Err(ApiError::LinkInvalid)
    }
}

/// A link spent by someone else meanwhile is gone too.
fn link_gone(e: StorageError) -> ApiError {
    match e {
        StorageError::NotFound => ApiError::LinkInvalid,
        other => other.into(),
    }
}

/// Starts a fresh session for the new account and answers who is signed in.
async fn signed_in_as(
    state: &AppState,
    session: &Session,
    account: Account,
) -> ApiResult<Json<Me>> {
    crate::auth::web::start_session(session, &account.principal(), state.now()).await?;
    Ok(Json(super::session::describe(state, &account).await?))
}

/// Whether a first-run link can still create the first operator.
#[utoipa::path(get, path = "/first-run/{token}", tag = "first-run",
    params(("token" = String, Path, description = "The token from the first-run link")),
    responses((status = 200, body = LinkStatus)))]
#[instrument(skip_all)]
async fn first_run_status(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Json<LinkStatus>> {
    let link = state
        .storage
        .find_first_run_link(&tokens::hash(&token), state.now())
        .await?;
    Ok(Json(LinkStatus {
        valid: link.is_some(),
        expires_at: link.map(|l| rfc3339_millis(l.expires_at)),
    }))
}

/// Creates the first operator with the first-run link and signs them in.
#[utoipa::path(post, path = "/first-run", tag = "first-run", request_body = FirstRunRequest,
    responses((status = 200, body = Me), (status = 410, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn complete_first_run(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    session: Session,
    ApiJson(request): ApiJson<FirstRunRequest>,
) -> ApiResult<Json<Me>> {
    count_use(&state, &client_addr)?;
    let hash = tokens::hash(&request.token);
    let link = state
        .storage
        .find_first_run_link(&hash, state.now())
        .await?;
    gone_unless(link.is_some())?;
    let account = NewAccount::check(Some(&request.email), &request.name, &request.password).await?;
    let email = account.email()?;
    let actor = Actor {
        label: format!("first-run:{}", email.1),
        client_addr,
    };
    let operator = state
        .storage
        .create_first_operator(
            &hash,
            email,
            &account.name.0,
            &account.password_hash,
            &actor,
            state.now(),
        )
        .await
        .map_err(link_gone)?;
    signed_in_as(&state, &session, Account::Operator(operator)).await
}

/// What an invite is for, while it is valid.
#[utoipa::path(get, path = "/invites/{token}", tag = "invites",
    params(("token" = String, Path, description = "The token from the invite link")),
    responses((status = 200, body = InviteInfo), (status = 410, body = ErrorBody)))]
#[instrument(skip_all)]
async fn get_invite(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Json<InviteInfo>> {
    let invite = state
        .storage
        .find_invite(&tokens::hash(&token), state.now())
        .await?
        .ok_or(ApiError::LinkInvalid)?;
    Ok(Json(InviteInfo {
        organization_name: invite.organization_name,
        email: invite.email,
        expires_at: rfc3339_millis(invite.expires_at),
    }))
}

/// Accepts an invite: sets the admin's name and password and signs them in. Single use.
#[utoipa::path(post, path = "/invites/{token}/accept", tag = "invites",
    params(("token" = String, Path, description = "The token from the invite link")),
    request_body = AcceptInviteRequest,
    responses((status = 200, body = Me), (status = 410, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[instrument(skip_all)]
async fn accept_invite(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    session: Session,
    Path(token): Path<String>,
    ApiJson(request): ApiJson<AcceptInviteRequest>,
) -> ApiResult<Json<Me>> {
    count_use(&state, &client_addr)?;
    let hash = tokens::hash(&token);
    gone_unless(
        state
            .storage
            .find_invite(&hash, state.now())
            .await?
            .is_some(),
    )?;
    let account = NewAccount::check(None, &request.name, &request.password).await?;
    let member = state
        .storage
        .accept_invite(
            &hash,
            &account.name.0,
            &account.password_hash,
            &client_addr,
            state.now(),
        )
        .await
        .map_err(link_gone)?;
    signed_in_as(&state, &session, Account::Admin(member)).await
}

/// The setup link with this token hash while it works; 410 otherwise.
async fn open_setup_link(state: &AppState, hash: &str) -> ApiResult<crate::storage::OpenSetupLink> {
    state
        .storage
        .find_open_setup_link(hash, state.now())
        .await?
        .ok_or(ApiError::LinkInvalid)
}

/// Which organization a setup link is for, while it works.
#[utoipa::path(get, path = "/setup-links/{token}", tag = "setup-links",
    params(("token" = String, Path, description = "The token from the setup link")),
    responses((status = 200, body = SetupLinkInfo), (status = 410, body = ErrorBody)))]
#[instrument(skip_all)]
async fn get_setup_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Json<SetupLinkInfo>> {
    let link = open_setup_link(&state, &tokens::hash(&token)).await?;
    Ok(Json(SetupLinkInfo {
        organization_id: link.organization_id,
        organization_name: link.organization_name,
        expires_at: rfc3339_millis(link.expires_at),
    }))
}

/// Uses a setup link for a new account: creates the person's admin account in that
/// organization and signs them in. The link then stops working. An email that already has an
/// account there is refused (409): that person signs in first and claims the link.
#[utoipa::path(post, path = "/setup-links/{token}/accept", tag = "setup-links",
    params(("token" = String, Path, description = "The token from the setup link")),
    request_body = UseSetupLinkRequest,
    responses((status = 200, body = Me), (status = 409, body = ErrorBody),
        (status = 410, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
#[instrument(skip_all)]
async fn use_setup_link(
    State(state): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    session: Session,
    Path(token): Path<String>,
    ApiJson(request): ApiJson<UseSetupLinkRequest>,
) -> ApiResult<Json<Me>> {
    count_use(&state, &client_addr)?;
    let hash = tokens::hash(&token);
    let link = open_setup_link(&state, &hash).await?;
    let account = NewAccount::check(Some(&request.email), &request.name, &request.password).await?;
    let member = state
        .storage
        .use_setup_link(
            &hash,
            account.email()?,
            &account.name.0,
            &account.password_hash,
            &client_addr,
            state.now(),
        )
        .await
        .map_err(|e| match e {
            StorageError::Conflict("email") => ApiError::Conflict(FieldErrors::single(
                "email",
                format!(
                    "An account with this email already exists at {}. Sign in as that account, then open this link again to become an admin.",
                    link.organization_name
                ),
            )),
            other => link_gone(other),
        })?;
    signed_in_as(&state, &session, Account::Admin(member)).await
}

/// Uses a setup link for the account that is signed in: a member of the link's organization
/// (signed in with a password or through single sign-on) becomes its admin. Nothing else about
/// the account changes. The link then stops working.
#[utoipa::path(post, path = "/setup-links/{token}/claim", tag = "setup-links",
    params(("token" = String, Path, description = "The token from the setup link")),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 410, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[instrument(skip_all)]
async fn claim_setup_link(
    State(state): State<AppState>,
    SignedInPerson(signed_in): SignedInPerson,
    Path(token): Path<String>,
) -> ApiResult<Json<Me>> {
    count_use(&state, &signed_in.actor.client_addr)?;
    let hash = tokens::hash(&token);
    let link = open_setup_link(&state, &hash).await?;
    let member_id = match &signed_in.account {
        Account::Operator(_) => return Err(ApiError::Forbidden),
        Account::Admin(m) | Account::Member(m) if m.organization_id == link.organization_id => {
            m.id.clone()
        }
        Account::Admin(m) | Account::Member(m) => {
            return Err(ApiError::field(
                "account",
                format!(
                    "You are signed in as {}, an account of another organization. Sign out, then open this link again.",
                    m.label()
                ),
            ))
        }
    };
    let member = state
        .storage
        .claim_setup_link(&hash, &member_id, &signed_in.actor, state.now())
        .await
        .map_err(link_gone)?;
    signed_in_as(&state, &signed_in.session, Account::Admin(member)).await
}
