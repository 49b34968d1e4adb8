//! Sign-in over SAML. Starting sends the browser to the directory's Login URL with an
//! AuthnRequest, holding the attempt (with the request's ID) in the browser as for OpenID
//! Connect. Entra posts its response to the Reply URL from its own site, so the browser's
//! SameSite=Lax attempt cookie does not come with that POST: the response is held on the server
//! under a handle only that browser gets (`web::saml`), and finished here on the same-site GET
//! that follows, where the cookie does come.

use super::active::Opened;
use super::attempt::SignInAttempt;
use super::decision::Refusal;
use super::{
    admit_identity, anonymous, count_sign_in, find, record, Admission, Admitted, Failure,
    SignInServices, Stop, Stopped,
};
use crate::clock::to_millis;
use crate::crypto::tokens;
use crate::entra::aadsts;
use crate::saml::response::{self, Expected, Rejection};
use crate::saml::{request, IdentityProvider, ServiceProviderUrls};
use crate::storage::{HeldResponse, OrganizationKey, OrganizationRecord, UsedState};

/// The AuthnRequest's address and the attempt the browser keeps until the response; `None`
/// when the connection's Login URL is not a URL.
#[allow(clippy::too_many_arguments)]
pub fn start(
    services: &SignInServices<'_>,
    org: &OrganizationRecord,
    identity_provider: &IdentityProvider,
    urls: &ServiceProviderUrls,
    login_hint: Option<&str>,
    fresh: bool,
    purpose: &str,
    return_to: Option<String>,
) -> Option<(String, SignInAttempt)> {
    let (relay_state, _) = tokens::generate();
    let request = request::authn_request(
        &request::Options {
            login_url: &identity_provider.login_url,
            identifier: &urls.identifier,
            reply_url: &urls.reply_url,
            relay_state: &relay_state,
            login_hint,
            force_authn: fresh,
        },
        services.now(),
    )?;
    let attempt = SignInAttempt::for_saml(
        &org.id,
        purpose,
        &relay_state,
        &request.id,
        return_to,
        services.now(),
    );
    Some((request.redirect_url, attempt))
}

/// A held response, with the attempt this browser kept for its RelayState (none for an
/// unsolicited response, or a browser that did not start it).
pub struct Posted<'a> {
    pub held: &'a HeldResponse,
    pub attempt: Option<&'a SignInAttempt>,
    pub client_addr: &'a str,
    pub previous_session: Option<String>,
    pub new_session_id: String,
}

/// Finishes a person's SAML sign-in: the response's checks, then the same policy and session
/// as OpenID Connect. A stop is recorded before it is answered.
pub async fn complete(
    services: &SignInServices<'_>,
    posted: Posted<'_>,
) -> Result<Admitted, Stopped> {
    let key = OrganizationKey::Id(&posted.held.organization_id);
    let (target, active) = match find(services, key).await {
        Ok(found) => found,
        Err(failure) => return Err(record(services, None, None, failure).await),
    };
    let org = &target.organization;
    let Some(active) = active else {
        let anonymous = anonymous(posted.client_addr);
        let stop = Stop::Refused(Refusal::SsoDisabled);
        let failure =
            Failure::audited(stop, &anonymous, "-", "sso_not_active", "SSO is not active");
        return Err(record(services, Some(org), None, failure).await);
    };
    let Opened::Saml {
        identity_provider,
        urls,
    } = &active.opened
    else {
        let anonymous = anonymous(posted.client_addr);
        let stop = Stop::Refused(Refusal::SsoDisabled);
        let message = "The connection is no longer SAML";
        let failure = Failure::audited(stop, &anonymous, "-", "protocol_changed", message);
        return Err(record(services, Some(org), None, failure).await);
    };
    let tenant_id = active.config.tenant_id.clone().unwrap_or_default();
    let attempt = posted.attempt.filter(|a| a.organization_id == org.id);
    let expected = Expected {
        identity_provider,
        tenant_id: &tenant_id,
        identifier: &urls.identifier,
        reply_url: &urls.reply_url,
        request_id: attempt.and_then(|a| a.saml_request_id.as_deref()),
        allow_unsolicited: active.config.allow_idp_initiated,
        skew: services.clock_skew,
    };
    let accepted = match response::check(&posted.held.response, &expected) {
        Ok(accepted) => accepted,
        Err(rejection) => {
            let failure = rejection_failure(rejection, posted.client_addr, &urls.reply_url);
            return Err(record(services, Some(org), None, failure).await);
        }
    };
    let used_key = assertion_key(&org.id, &accepted.assertion_id);
    let skew = time::Duration::try_from(services.clock_skew).unwrap_or(time::Duration::minutes(5));
    let admission = Admission {
        identity: accepted.identity,
        directory_sign_out: format!(
            "{}/{}/oauth2/v2.0/logout",
            active.config.authority_host, tenant_id
        ),
        used: UsedState {
            state_hash: &used_key,
            expires_at: to_millis(accepted.valid_until + skew),
        },
        return_to: attempt.and_then(|a| a.return_to.clone()),
        client_addr: posted.client_addr,
        previous_session: posted.previous_session,
        new_session_id: posted.new_session_id,
    };
    match admit_identity(services, org, &active, admission).await {
        Ok(admitted) => {
            count_sign_in("success", "signed_in");
            Ok(admitted)
        }
        Err(failure) => Err(record(services, Some(org), None, failure).await),
    }
}

/// What keeps an assertion from being accepted twice: its ID, per organization.
pub fn assertion_key(organization_id: &str, assertion_id: &str) -> String {
    tokens::hash(&format!("saml-assertion:{organization_id}:{assertion_id}"))
}

/// A rejected response as a stop: the directory's own refusal (an error status, such as
/// AADSTS50105), or a check it failed.
fn rejection_failure(rejection: Rejection, client_addr: &str, reply_url: &str) -> Failure {
    let anonymous = anonymous(client_addr);
    match rejection {
        Rejection::Refused { status, message } => {
            let code = aadsts::code_of(&message);
            let guidance = code.as_deref().and_then(|c| aadsts::explain(c, reply_url));
            let reason = match &code {
                Some(c) => format!("provider_error AADSTS{c}"),
                None => format!("provider_error {status}"),
            };
            let stop = Stop::DirectoryRefused {
                error: status,
                text: message,
                guidance,
            };
            Failure::audited(
                stop,
                &anonymous,
                "-",
                &reason,
                "The directory refused the sign-in",
            )
        }
        Rejection::Invalid { reason, details } => {
            let message = "Your directory's answer did not pass Gatehouse's checks.".to_string();
            let stop = Stop::NotCompleted {
                reason,
                message: message.clone(),
                details,
            };
            Failure::audited(stop, &anonymous, "-", reason, &message)
        }
    }
}
