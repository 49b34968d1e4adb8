//! The rules of an application's registration: which redirect URIs it may have, which one a
//! request may use, and which organizations it serves.

use crate::domain::FieldErrors;
use crate::storage::{ApplicationRecord, ApplicationSettings};
use openidconnect::url::{Host, Url};

pub const CONFIDENTIAL: &str = "confidential";
pub const PUBLIC: &str = "public";
/// The longest a refresh token may work: a year (the session's own end comes first anyway).
const MOST_REFRESH_HOURS: i64 = 24 * 366;
pub use app::types::DEFAULT_REFRESH_HOURS;
/// The most redirect URIs (or post-logout redirect URIs) an application may have.
const MOST_URIS: usize = 20;

/// Whether `url` is on the machine itself (RFC 8252 §7.3: `127.0.0.1`, `[::1]`, `localhost`).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Checks one URI an application registers: absolute, https (http only on loopback), no
/// fragment, no credentials. Answers the message for a bad one.
pub fn check_uri(text: &str) -> Result<(), String> {
    let url = Url::parse(text).map_err(|_| format!("“{text}” is not an absolute URL."))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "“{text}” must use https (http only on 127.0.0.1, [::1] or localhost)."
            ))
        }
        _ => return Err(format!("“{text}” must be an https URL.")),
    }
    if url.fragment().is_some() {
        return Err(format!("“{text}” must not have a fragment (#…)."));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("“{text}” must not carry a user name or password."));
    }
    Ok(())
}

/// Checks a list of URIs for `field`, collecting each problem into `errors`.
pub fn check_uris(field: &str, uris: &[String], required: bool, errors: &mut FieldErrors) {
    if required && uris.is_empty() {
        errors.add(field, "Give at least one redirect URI.");
    }
    if uris.len() > MOST_URIS {
        errors.add(field, format!("At most {MOST_URIS} URIs."));
    }
    if let Some(message) = uris.iter().find_map(|u| check_uri(u).err()) {
        errors.add(field, message);
    }
}

/// Checks what an operator sets on an application; answers each problem by its field.
pub fn check_settings(settings: &ApplicationSettings<'_>) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::default();
    errors.check("name", crate::domain::Name::parse(settings.name));
    if ![CONFIDENTIAL, PUBLIC].contains(&settings.kind) {
        errors.add(
            "kind",
            "Choose confidential (a server that keeps a secret) or public (PKCE).",
        );
    }
    check_uris("redirect_uris", settings.redirect_uris, true, &mut errors);
    check_uris(
        "post_logout_redirect_uris",
        settings.post_logout_redirect_uris,
        false,
        &mut errors,
    );
    if let Some(uri) = settings.backchannel_logout_uri {
        errors.check("backchannel_logout_uri", check_uri(uri));
    }
    if ![super::keys::ES256, super::keys::RS256].contains(&settings.signing_alg) {
        errors.add("signing_alg", "Choose ES256 (the default) or RS256.");
    }
    let hours = settings.refresh_token_lifetime_seconds / 3600;
    if !(1..=MOST_REFRESH_HOURS).contains(&hours) {
        errors.add(
            "refresh_token_lifetime_hours",
            format!("A refresh token works for 1 to {MOST_REFRESH_HOURS} hours."),
        );
    }
    if settings.organization_ids.is_some_and(<[String]>::is_empty) {
        errors.add(
            "organization_ids",
            "Name at least one organization, or leave it out for every organization.",
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Whether a request's `redirect_uri` is one the application registered: the same string,
/// or, for a public application, a registered loopback URI on another port (RFC 8252 §7.3:
/// native apps listen on a port the system gives them).
pub fn redirect_uri_matches(application: &ApplicationRecord, requested: &str) -> bool {
    if application.redirect_uris.iter().any(|r| r == requested) {
        return true;
    }
    if application.kind != PUBLIC {
        return false;
    }
    let Ok(requested) = Url::parse(requested) else {
        return false;
    };
    if requested.scheme() != "http" || !is_loopback(&requested) {
        return false;
    }
    application.redirect_uris.iter().any(|registered| {
        Url::parse(registered).is_ok_and(|mut registered| {
            let loopback = registered.scheme() == "http" && is_loopback(&registered);
            loopback && registered.set_port(requested.port()).is_ok() && registered == requested
        })
    })
}

/// Whether the application serves people of this organization.
pub fn serves(application: &ApplicationRecord, organization_id: &str) -> bool {
    application
        .organization_ids
        .as_ref()
        .is_none_or(|ids| ids.iter().any(|id| id == organization_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn application(kind: &str, uris: &[&str]) -> ApplicationRecord {
        ApplicationRecord {
            id: "app".into(),
            name: "Acme".into(),
            kind: kind.into(),
            redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            organization_ids: None,
            allow_password_sessions: false,
            signing_alg: "ES256".into(),
            refresh_token_lifetime_seconds: 3600,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn registered_uris_are_https_or_loopback_without_fragments() {
        assert!(check_uri("https://acme.example/cb").is_ok());
        assert!(check_uri("http://127.0.0.1:8080/cb").is_ok());
        assert!(check_uri("http://localhost/cb").is_ok());
        assert!(check_uri("http://[::1]:9/cb").is_ok());
        assert!(check_uri("http://acme.example/cb").is_err());
        assert!(check_uri("https://acme.example/cb#x").is_err());
        assert!(check_uri("https://user:pw@acme.example/cb").is_err());
        assert!(check_uri("/cb").is_err());
        assert!(check_uri("javascript:alert(1)").is_err());
    }

    #[test]
    fn a_web_application_matches_exactly() {
        let app = application(
            CONFIDENTIAL,
            &["https://acme.example/cb", "http://127.0.0.1:3000/cb"],
        );
        assert!(redirect_uri_matches(&app, "https://acme.example/cb"));
        for wrong in [
            "https://acme.example/cb/",
            "https://acme.example/cb?x=1",
            "https://acme.example/cb#x",
            "https://acme.example/cb/more",
            "https://acme.example:444/cb",
            "https://ACME.example/cb",
            "http://127.0.0.1:3001/cb",
        ] {
            assert!(!redirect_uri_matches(&app, wrong), "{wrong}");
        }
    }

    #[test]
    fn a_native_application_matches_a_loopback_uri_on_any_port() {
        let app = application(PUBLIC, &["http://127.0.0.1/cb", "https://acme.example/cb"]);
        assert!(redirect_uri_matches(&app, "http://127.0.0.1:53211/cb"));
        assert!(!redirect_uri_matches(&app, "http://127.0.0.1:53211/other"));
        assert!(!redirect_uri_matches(&app, "http://localhost:53211/cb"));
        assert!(!redirect_uri_matches(&app, "https://acme.example:8443/cb"));
    }
}
