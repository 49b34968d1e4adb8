//! SAML 2.0 with a directory (Entra's "SAML-based sign-on"): the addresses an admin registers
//! in Entra (`ServiceProviderUrls`), what Gatehouse keeps of the directory's side
//! (`IdentityProvider`, read from its federation metadata or pasted by hand: `metadata`), the
//! HTTP-Redirect AuthnRequest (`request`) and the checks an HTTP-POST Response must pass before
//! anyone is signed in (`response`), and the directory's single logout (`logout`). Signatures
//! are checked by `samael` with libxmlsec1.

pub mod logout;
pub mod metadata;
pub mod request;
pub mod response;

use crate::domain::escape_markup as escape_xml;
use serde::{Deserialize, Serialize};

/// The directory's side of a SAML connection, as stored with the connection's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityProvider {
    /// The "Microsoft Entra Identifier", the Issuer of its responses, such as
    /// `https://sts.windows.net/<tenant ID>/`.
    pub entity_id: String,
    /// The "Login URL": where AuthnRequests go (HTTP-Redirect).
    pub login_url: String,
    /// The directory's single logout address, when its metadata names one.
    #[serde(default)]
    pub logout_url: Option<String>,
    /// The certificates its signatures may be made with (Entra publishes the next one before
    /// it switches).
    pub certificates: Vec<metadata::SigningCertificate>,
    /// The App Federation Metadata URL it was read from, re-read daily; `None` when uploaded or
    /// pasted.
    #[serde(default)]
    pub metadata_url: Option<String>,
}

/// The addresses of one organization's SAML service provider. The Identifier and the Reply URL
/// are made from the organization's id, which never changes, so renaming the organization
/// (its slug) does not break them; the Sign-on URL is its SSO start address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceProviderUrls {
    /// "Identifier (Entity ID)".
    pub identifier: String,
    /// "Reply URL (Assertion Consumer Service URL)".
    pub reply_url: String,
    /// "Sign on URL": the My Apps tile and "Test this application" start here.
    pub sign_on_url: String,
    /// "Logout Url": where the directory's single logout comes.
    pub logout_url: String,
    /// Gatehouse's metadata for this organization (Entra can read it: "Upload metadata file").
    pub metadata_url: String,
}

pub fn service_provider_urls(
    public_url: &str,
    organization_id: &str,
    slug: &str,
) -> ServiceProviderUrls {
    let base = format!("{public_url}/saml/{organization_id}");
    ServiceProviderUrls {
        identifier: base.clone(),
        reply_url: format!("{base}/acs"),
        sign_on_url: format!("{public_url}/o/{slug}/sso"),
        logout_url: format!("{base}/logout"),
        metadata_url: format!("{base}/metadata"),
    }
}

/// The origin (`scheme://host[:port]`) of a URL, which the allowed authorities are named by.
pub fn origin_of(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let origin = parsed.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identifier_and_reply_url_follow_the_organization_id_not_its_slug() {
        let before = service_provider_urls("https://gh.example", "org-1", "contoso");
        let renamed = service_provider_urls("https://gh.example", "org-1", "contoso-ltd");
        assert_eq!(before.identifier, "https://gh.example/saml/org-1");
        assert_eq!(before.reply_url, "https://gh.example/saml/org-1/acs");
        assert_eq!(before.identifier, renamed.identifier);
        assert_eq!(before.reply_url, renamed.reply_url);
        assert_eq!(renamed.sign_on_url, "https://gh.example/o/contoso-ltd/sso");
    }

    #[test]
    fn origins_and_escaping() {
        assert_eq!(
            origin_of("https://login.microsoftonline.com/x/saml2").as_deref(),
            Some("https://login.microsoftonline.com")
        );
        assert_eq!(
            origin_of("http://localhost:4011/x/saml2").as_deref(),
            Some("http://localhost:4011")
        );
        assert_eq!(origin_of("not a url"), None);
    }
}
