//! The authorization endpoint's decision (OpenID Connect Core 3.1.2): check the application and
//! its redirect URI before anything else (a bad one is an error page at Gatehouse, never a
//! redirect), then the request, then who the person is: signed in to the right organization
//! already (a code for the application), or not yet (a sign-in with their organization's
//! directory first).

use super::applications::{redirect_uri_matches, serves, PUBLIC};
use super::{ProviderError, ProviderServices, CODE_LIFETIME};
use crate::clock::to_millis;
use crate::crypto::tokens;
use crate::oidc::{DirectoryPrompt, PassedOn};
use crate::storage::{ApplicationRecord, NewGrant, OrganizationKey};
use openidconnect::url::Url;
use serde::Deserialize;

/// The request's parameters (Core 3.1.2.1), as the query carries them.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    /// Gatehouse's own: the organization's slug.
    pub organization: Option<String>,
    /// Gatehouse's own: set when the directory could not sign the person in silently for
    /// this `prompt=none` request (`SILENT_FAILED`).
    pub gatehouse_silent: Option<String>,
}

/// The value of `gatehouse_silent` after a silent sign-in at the directory failed.
pub const SILENT_FAILED: &str = "failed";

/// Who the browser's Gatehouse session is, as far as an application cares.
#[derive(Debug, Clone)]
pub struct SessionPerson {
    pub organization_id: String,
    pub member_id: String,
    /// When they signed in (Unix milliseconds).
    pub signed_in_at: i64,
    /// Whether they signed in with their directory (else with a password).
    pub with_directory: bool,
    /// The session's id for applications (`sid`), never the session cookie.
    pub sid: String,
    /// What the directory said that applications receive unchanged.
    pub passed_on: PassedOn,
}

/// What the browser is sent to next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Back to the application with a code or an error: this address.
    Application(String),
    /// Sign in with this organization's directory first, then come back.
    SignIn {
        slug: String,
        login_hint: Option<String>,
        /// `Login` for `prompt=login` or an outlived `max_age` (the directory asks again too),
        /// `Silent` for `prompt=none` (the directory's own session only).
        prompt: DirectoryPrompt,
    },
    /// Gatehouse's email-first page, which finds the organization.
    FindOrganization,
}

/// A request that cannot go back to the application: shown at Gatehouse.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("The application is not registered with Gatehouse (unknown client_id).")]
    UnknownClient,
    #[error("The redirect_uri is missing or not registered for this application.")]
    UnregisteredRedirect,
    #[error(transparent)]
    Internal(#[from] ProviderError),
}

/// The error response (Core 3.1.2.6) at the application's redirect URI.
fn error_at(
    redirect_uri: &str,
    state: Option<&str>,
    issuer: &str,
    error: &str,
    description: &str,
) -> String {
    respond(
        redirect_uri,
        state,
        issuer,
        &[("error", error), ("error_description", description)],
    )
}

/// `redirect_uri` with the response parameters, `state` and `iss` (RFC 9207) added.
fn respond(
    redirect_uri: &str,
    state: Option<&str>,
    issuer: &str,
    params: &[(&str, &str)],
) -> String {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return redirect_uri.to_string();
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    url.to_string()
}

/// The request's prompt values (Core 3.1.2.1: space-separated).
fn prompts(request: &AuthorizeRequest) -> Vec<&str> {
    request
        .prompt
        .as_deref()
        .map(|p| p.split(' ').filter(|v| !v.is_empty()).collect())
        .unwrap_or_default()
}

/// Decides where an authorization request goes next. `person` is the browser's signed-in
/// session, if any. A sign-in that `prompt=login` or `max_age` asks for comes back to this
/// request without them (`after_sign_in`): the person has just signed in.
pub async fn authorize(
    services: &ProviderServices<'_>,
    request: &AuthorizeRequest,
    person: Option<&SessionPerson>,
) -> Result<Next, Refused> {
    let application = match request.client_id.as_deref() {
        Some(id) if !id.is_empty() => services
            .storage
            .find_application(id)
            .await
            .map_err(ProviderError::from)?,
        _ => None,
    }
    .ok_or(Refused::UnknownClient)?;
    let redirect_uri = request
        .redirect_uri
        .as_deref()
        .filter(|uri| redirect_uri_matches(&application, uri))
        .ok_or(Refused::UnregisteredRedirect)?;
    let state = request.state.as_deref();
    let issuer = services.issuer;
    let fail = |error: &str, description: &str| {
        Ok(Next::Application(error_at(
            redirect_uri,
            state,
            issuer,
            error,
            description,
        )))
    };
    if request.response_type.as_deref() != Some("code") {
        return fail(
            "unsupported_response_type",
            "Only response_type=code is supported.",
        );
    }
    let scopes = request.scope.as_deref().unwrap_or_default();
    if !scopes.split(' ').any(|s| s == "openid") {
        return fail("invalid_scope", "The scope must include openid.");
    }
    let challenge = request.code_challenge.as_deref().filter(|c| !c.is_empty());
    match (challenge, request.code_challenge_method.as_deref()) {
        (None, _) if application.kind == PUBLIC => {
            return fail(
                "invalid_request",
                "A public client must use PKCE (code_challenge with S256).",
            )
        }
        (Some(c), Some("S256")) if (43..=128).contains(&c.len()) => {}
        (Some(_), _) => {
            return fail(
                "invalid_request",
                "code_challenge_method must be S256, with a 43 to 128 character challenge.",
            )
        }
        (None, _) => {}
    }
    let prompts = prompts(request);
    let max_age = match request.max_age.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(age)) if age >= 0 => Some(age),
        Some(_) => {
            return fail(
                "invalid_request",
                "max_age must be a whole number of seconds.",
            )
        }
    };
    if prompts.contains(&"none") && prompts.len() > 1 {
        return fail(
            "invalid_request",
            "prompt=none cannot go with other prompt values.",
        );
    }

    // Which organization: named, else found from the login hint's proven domain, else the
    // person's own when signed in, else the email-first page asks.
    let login_hint = request
        .login_hint
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty() && h.len() <= 256);
    let slug = match request.organization.as_deref().filter(|s| !s.is_empty()) {
        Some(slug) => Some(slug.to_string()),
        None => match login_hint
            .and_then(|h| h.rsplit_once('@'))
            .map(|(_, d)| d.to_lowercase())
        {
            Some(domain) => {
                let cutoff = crate::domains::missing_cutoff(services.now());
                let owners = services
                    .storage
                    .find_domain_owners(&domain, cutoff)
                    .await
                    .map_err(ProviderError::from)?;
                match owners.as_slice() {
                    [owner] => Some(owner.slug.clone()),
                    _ => None,
                }
            }
            None => None,
        },
    };
    let organization = match (&slug, person) {
        (Some(slug), _) => services
            .storage
            .find_sign_in_organization(OrganizationKey::Slug(slug))
            .await
            .map_err(ProviderError::from)?,
        (None, Some(p)) => services
            .storage
            .find_sign_in_organization(OrganizationKey::Id(&p.organization_id))
            .await
            .map_err(ProviderError::from)?,
        (None, None) => None,
    };
    let sso_on = organization.as_ref().is_some_and(super::sso_on);
    let Some(organization) = organization.map(|o| o.organization) else {
        if prompts.contains(&"none") {
            return fail(
                "login_required",
                "The person is not signed in to Gatehouse.",
            );
        }
        return match slug {
            Some(_) => fail("invalid_request", "No organization has this slug."),
            None => Ok(Next::FindOrganization),
        };
    };
    if !serves(&application, &organization.id) {
        return fail(
            "access_denied",
            "This application is not available to the person's organization.",
        );
    }

    let now = services.now();
    let fresh_enough = |p: &SessionPerson| {
        !prompts.contains(&"login")
            && max_age.is_none_or(|age| to_millis(now) - p.signed_in_at <= age * 1000)
    };
    // A directory session counts while the organization's single sign-on is on; a password
    // session only where the application allows it.
    let signed_in = person.filter(|p| {
        p.organization_id == organization.id
            && if p.with_directory {
                sso_on
            } else {
                application.allow_password_sessions
            }
    });
    match signed_in {
        Some(p) if fresh_enough(p) => {
            let code =
                issue_code(services, &application, redirect_uri, challenge, request, p).await?;
            Ok(Next::Application(respond(
                redirect_uri,
                state,
                issuer,
                &[("code", &code)],
            )))
        }
        // prompt=none: the directory's own session may still sign them in, without a word.
        _ if prompts.contains(&"none") => {
            if request.gatehouse_silent.as_deref() == Some(SILENT_FAILED) {
                return fail("login_required", "The person must sign in first.");
            }
            Ok(Next::SignIn {
                slug: organization.slug,
                login_hint: login_hint.map(str::to_string),
                prompt: DirectoryPrompt::Silent,
            })
        }
        _ => Ok(Next::SignIn {
            slug: organization.slug,
            login_hint: login_hint.map(str::to_string),
            prompt: if prompts.contains(&"login") || max_age.is_some() {
                DirectoryPrompt::Login
            } else {
                DirectoryPrompt::AsUsual
            },
        }),
    }
}

/// The request to come back to after the sign-in it asked for: the same, without what that
/// sign-in met (`prompt=login`, `max_age`). A silent one (`prompt=none`) comes back as it was:
/// with a session it gets its code, without one its error.
pub fn after_sign_in(path: &str, query: &str, prompt: DirectoryPrompt) -> String {
    let met =
        |name: &str| prompt != DirectoryPrompt::Silent && (name == "prompt" || name == "max_age");
    let kept: Vec<(String, String)> = openidconnect::url::form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| !met(name))
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    let query = openidconnect::url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .finish();
    format!("{path}?{query}")
}

/// Stores a code for the application and answers it.
async fn issue_code(
    services: &ProviderServices<'_>,
    application: &ApplicationRecord,
    redirect_uri: &str,
    challenge: Option<&str>,
    request: &AuthorizeRequest,
    person: &SessionPerson,
) -> Result<String, ProviderError> {
    let (code, code_hash) = tokens::generate();
    let now = services.now();
    let passed_on = if person.passed_on.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&person.passed_on)?)
    };
    let grant = NewGrant {
        code_hash: &code_hash,
        application_id: &application.id,
        organization_id: &person.organization_id,
        member_id: &person.member_id,
        session_sid: &person.sid,
        redirect_uri,
        code_challenge: challenge,
        nonce: request.nonce.as_deref().filter(|n| !n.is_empty()),
        auth_time: person.signed_in_at,
        by_directory: person.with_directory,
        code_expires_at: to_millis(now + CODE_LIFETIME),
        passed_on: passed_on.as_deref(),
    };
    services.storage.add_grant(&grant, now).await?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_request_after_sign_in_drops_what_the_sign_in_met() {
        assert_eq!(
            super::after_sign_in(
                "/oauth2/authorize",
                "client_id=a&prompt=login&max_age=0&state=x%20y",
                super::DirectoryPrompt::Login
            ),
            "/oauth2/authorize?client_id=a&state=x+y"
        );
        assert_eq!(
            super::after_sign_in(
                "/oauth2/authorize",
                "client_id=a&prompt=none",
                super::DirectoryPrompt::Silent
            ),
            "/oauth2/authorize?client_id=a&prompt=none"
        );
    }

    #[test]
    fn responses_keep_the_redirect_uris_own_query() {
        let url = super::respond(
            "https://acme.example/cb?tenant=1",
            Some("s p"),
            "https://sso.example",
            &[("code", "abc")],
        );
        assert_eq!(
            url,
            "https://acme.example/cb?tenant=1&code=abc&state=s+p&iss=https%3A%2F%2Fsso.example"
        );
    }
}
