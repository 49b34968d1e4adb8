//! The directory's SAML settings from what the admin brings: Entra's Federation Metadata XML
//! (uploaded, or read from its App Federation Metadata URL), or the three values the Mozy guide
//! pastes by hand (Login URL, Microsoft Entra Identifier, Certificate (Base64)). Every problem is
//! named precisely. And Gatehouse's own metadata, which Entra can read.

use super::{escape_xml, IdentityProvider, ServiceProviderUrls};
use crate::domain::Guid;
use base64::Engine;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// Entra's Identifier hosts: `https://<host>/<tenant ID>/` (worldwide and US Government, China).
const ENTRA_ISSUER_HOSTS: [&str; 3] = [
    "sts.windows.net",
    "login.microsoftonline.us",
    "sts.chinacloudapi.cn",
];
/// Federation metadata is a few kilobytes; more than this is not Entra's.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;
pub use crate::domain::EXPIRES_SOON_DAYS;

/// One certificate the directory signs with, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningCertificate {
    /// The DER, in base64 (as "Certificate (Base64)" has it, without the PEM lines).
    pub der_base64: String,
    /// `YYYY-MM-DD`, the last day it is valid.
    pub expires_on: String,
    /// SHA-1 thumbprint in upper-case hex, as the Entra portal shows it.
    pub thumbprint: String,
}

/// What was read, and what looks wrong but is accepted.
#[derive(Debug)]
pub struct Read {
    pub identity_provider: IdentityProvider,
    /// The directory (tenant) ID, from the Identifier.
    pub tenant_id: String,
    /// Per field: what deserves a look.
    pub warnings: Vec<(&'static str, String)>,
}

/// Why what the admin brought cannot be used; `field` is the input it concerns.
#[derive(Debug, PartialEq, Eq)]
pub struct Problem {
    pub field: &'static str,
    pub message: String,
}

fn problem(field: &'static str, message: impl Into<String>) -> Problem {
    Problem {
        field,
        message: message.into(),
    }
}

/// Reads Entra's Federation Metadata XML. `metadata_url` is where it came from, if read from
/// the App Federation Metadata URL.
pub fn read_federation_metadata(
    xml: &str,
    metadata_url: Option<String>,
    now: OffsetDateTime,
) -> Result<Read, Problem> {
    const FIELD: &str = "metadata";
    if xml.len() > MAX_METADATA_BYTES {
        return Err(problem(FIELD, "This file is larger than Entra's federation metadata ever is (256 KiB). Download the Federation Metadata XML again from the SAML Certificates section."));
    }
    let doc = roxmltree::Document::parse(xml).map_err(|e| match e {
        roxmltree::Error::DtdDetected => problem(FIELD, "This file declares a DOCTYPE, which Entra's federation metadata never does; it is refused unread."),
        other => problem(FIELD, format!("This is not XML ({other}). Upload the Federation Metadata XML file Entra downloads from the SAML Certificates section.")),
    })?;
    let root = doc.root_element();
    if root.tag_name().namespace() != Some(NS_METADATA)
        || root.tag_name().name() != "EntityDescriptor"
    {
        return Err(problem(FIELD, format!("This XML is not SAML federation metadata (its root is <{}>). Upload the Federation Metadata XML file from Entra's SAML Certificates section.", root.tag_name().name())));
    }
    let entity_id = root.attribute("entityID").unwrap_or_default();
    let Some(idp) = root.children().find(|n| {
        n.tag_name().namespace() == Some(NS_METADATA) && n.tag_name().name() == "IDPSSODescriptor"
    }) else {
        return Err(problem(FIELD, "This metadata describes no identity provider (no IDPSSODescriptor): it is not Entra's federation metadata for an application."));
    };
    let endpoint = |name: &str| {
        idp.children()
            .filter(|n| {
                n.tag_name().namespace() == Some(NS_METADATA) && n.tag_name().name() == name
            })
            .find(|n| n.attribute("Binding") == Some(REDIRECT_BINDING))
            .and_then(|n| n.attribute("Location"))
            .map(str::to_string)
    };
    let Some(login_url) = endpoint("SingleSignOnService") else {
        return Err(problem(FIELD, "This metadata has no sign-on address for the HTTP-Redirect binding, which Entra's always has."));
    };
    let mut certificates = Vec::new();
    for key in idp.children().filter(|n| {
        n.tag_name().namespace() == Some(NS_METADATA)
            && n.tag_name().name() == "KeyDescriptor"
            && matches!(n.attribute("use"), None | Some("signing"))
    }) {
        for cert in key.descendants().filter(|n| {
            n.tag_name().namespace() == Some(NS_DSIG) && n.tag_name().name() == "X509Certificate"
        }) {
            let text = cert.text().unwrap_or_default();
            let parsed = parse_certificate(text).map_err(|m| problem(FIELD, m))?;
            if !certificates
                .iter()
                .any(|c: &SigningCertificate| c.thumbprint == parsed.thumbprint)
            {
                certificates.push(parsed);
            }
        }
    }
    if certificates.is_empty() {
        return Err(problem(
            FIELD,
            "This metadata has no signing certificate, so no response could be checked.",
        ));
    }
    finish(
        entity_id,
        login_url,
        endpoint("SingleLogoutService"),
        certificates,
        metadata_url,
        FIELD,
        now,
    )
}

/// The three values pasted by hand.
pub fn read_pasted(
    login_url: &str,
    entity_id: &str,
    certificate: &str,
    now: OffsetDateTime,
) -> Result<Read, Vec<Problem>> {
    let mut problems = Vec::new();
    let certificate = match parse_certificate(certificate) {
        Ok(c) => Some(c),
        Err(m) => {
            problems.push(problem("certificate", m));
            None
        }
    };
    let login_url = login_url.trim();
    if reqwest::Url::parse(login_url).is_err() {
        problems.push(problem("login_url", "Paste the Login URL from the “Set up” section, such as https://login.microsoftonline.com/<tenant ID>/saml2."));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let certificates = certificate.into_iter().collect();
    finish(
        entity_id.trim(),
        login_url.to_string(),
        None,
        certificates,
        None,
        "entity_id",
        now,
    )
    .map_err(|p| vec![p])
}

fn finish(
    entity_id: &str,
    login_url: String,
    logout_url: Option<String>,
    certificates: Vec<SigningCertificate>,
    metadata_url: Option<String>,
    field: &'static str,
    now: OffsetDateTime,
) -> Result<Read, Problem> {
    let tenant_id = tenant_of_identifier(entity_id).ok_or_else(|| {
        problem(field, format!("“{entity_id}” is not a Microsoft Entra Identifier, which reads https://sts.windows.net/<Directory (tenant) ID>/."))
    })?;
    let login_tenant = reqwest::Url::parse(&login_url)
        .ok()
        .and_then(|u| u.path_segments()?.next().map(str::to_string))
        .and_then(|segment| Guid::parse(&segment).ok());
    match login_tenant {
        Some(guid) if guid.0 == tenant_id => {}
        Some(guid) => {
            return Err(problem("login_url", format!("The Login URL names directory {} but the Identifier names {tenant_id}: both must come from the same Entra application.", guid.0)));
        }
        None => {
            return Err(problem("login_url", "The Login URL does not name a directory (https://login.microsoftonline.com/<tenant ID>/saml2)."));
        }
    }
    let today = now.date();
    let mut warnings = Vec::new();
    let mut usable = Vec::new();
    for cert in certificates {
        let expires = crate::domain::parse_date(&cert.expires_on).unwrap_or(today);
        if expires < today {
            continue;
        }
        if (expires - today).whole_days() <= EXPIRES_SOON_DAYS {
            warnings.push(("certificate", format!("The signing certificate {} expires on {expires}. In Entra, create a new certificate under SAML Certificates, make it active, and bring the metadata again.", cert.thumbprint)));
        }
        usable.push(cert);
    }
    if usable.is_empty() {
        return Err(problem("certificate", "Every signing certificate here has expired. In Entra, create a new certificate under SAML Certificates, make it active, and download the metadata or certificate again."));
    }
    Ok(Read {
        identity_provider: IdentityProvider {
            entity_id: entity_id.to_string(),
            login_url,
            logout_url,
            certificates: usable,
            metadata_url,
        },
        tenant_id,
        warnings,
    })
}

/// The directory (tenant) GUID of an Entra Identifier (`https://sts.windows.net/<GUID>/`).
pub fn tenant_of_identifier(entity_id: &str) -> Option<String> {
    let url = reqwest::Url::parse(entity_id).ok()?;
    if url.scheme() != "https" || !ENTRA_ISSUER_HOSTS.contains(&url.host_str()?) {
        return None;
    }
    let path = url.path().strip_prefix('/')?.strip_suffix('/')?;
    Guid::parse(path).ok().map(|g| g.0)
}

/// A "Certificate (Base64)": PEM, or its base64 body alone.
pub fn parse_certificate(text: &str) -> Result<SigningCertificate, String> {
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    if body.is_empty() {
        return Err("Paste the Certificate (Base64): download it from the SAML Certificates section and paste the whole file.".into());
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(&body)
        .map_err(|_| "This is not a Base64 certificate. Download “Certificate (Base64)”, not the Raw one, and paste the whole file.".to_string())?;
    let cert = openssl::x509::X509::from_der(&der)
        .map_err(|_| "This is not an X.509 certificate. Download “Certificate (Base64)” from the SAML Certificates section.".to_string())?;
    let expires_on = asn1_date(cert.not_after())
        .ok_or_else(|| "The certificate's expiry date could not be read.".to_string())?;
    let thumbprint = cert
        .digest(openssl::hash::MessageDigest::sha1())
        .map_err(|e| e.to_string())?
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    Ok(SigningCertificate {
        der_base64: base64::engine::general_purpose::STANDARD.encode(&der),
        expires_on: expires_on.to_string(),
        thumbprint,
    })
}

fn asn1_date(time: &openssl::asn1::Asn1TimeRef) -> Option<Date> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(time).ok()?;
    let seconds = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    Some(OffsetDateTime::from_unix_timestamp(seconds).ok()?.date())
}

/// Gatehouse's SP metadata for one organization: its Identifier, Reply URL and Logout URL, that
/// it wants assertions signed and does not sign its requests.
pub fn service_provider_metadata(urls: &ServiceProviderUrls) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="utf-8"?>"#,
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{identifier}">"#,
            r#"<md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">"#,
            r#"<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{logout}"/>"#,
            r#"<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{reply}" index="0" isDefault="true"/>"#,
            r#"</md:SPSSODescriptor></md:EntityDescriptor>"#
        ),
        identifier = escape_xml(&urls.identifier),
        logout = escape_xml(&urls.logout_url),
        reply = escape_xml(&urls.reply_url),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use time::macros::datetime;

    pub const TENANT: &str = "6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11";

    /// A self-signed certificate valid `days` days from `not_before_days` days ago, in base64.
    pub fn certificate(days: u32) -> String {
        use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "Microsoft Azure Federated SSO Certificate")
            .unwrap();
        let name = name.build();
        let mut builder = x509::X509Builder::new().unwrap();
        builder.set_version(2).unwrap();
        builder.set_subject_name(&name).unwrap();
        builder.set_issuer_name(&name).unwrap();
        builder.set_pubkey(&key).unwrap();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        builder
            .set_not_before(&Asn1Time::from_unix(now - 86_400 * 400).unwrap())
            .unwrap();
        builder
            .set_not_after(
                &Asn1Time::from_unix(now - 86_400 * 400 + i64::from(days) * 86_400).unwrap(),
            )
            .unwrap();
        builder.sign(&key, MessageDigest::sha256()).unwrap();
        base64::engine::general_purpose::STANDARD.encode(builder.build().to_der().unwrap())
    }

    pub fn metadata(entity_id: &str, login_url: &str, certs: &[String]) -> String {
        let keys: String = certs.iter().map(|c| format!(r#"<KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>{c}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>"#)).collect();
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><EntityDescriptor ID="_1" entityID="{entity_id}" xmlns="urn:oasis:names:tc:SAML:2.0:metadata"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{login_url}"/><SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{login_url}"/></IDPSSODescriptor></EntityDescriptor>"#
        )
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn issuer() -> String {
        format!("https://sts.windows.net/{TENANT}/")
    }

    fn login() -> String {
        format!("https://login.microsoftonline.com/{TENANT}/saml2")
    }

    #[test]
    fn entra_metadata_gives_the_identifier_login_url_and_certificates() {
        let certs = [certificate(1200), certificate(1500)];
        let read =
            read_federation_metadata(&metadata(&issuer(), &login(), &certs), None, now()).unwrap();
        assert_eq!(read.tenant_id, TENANT);
        assert_eq!(read.identity_provider.entity_id, issuer());
        assert_eq!(read.identity_provider.login_url, login());
        assert_eq!(
            read.identity_provider.logout_url.as_deref(),
            Some(login().as_str())
        );
        assert_eq!(
            read.identity_provider.certificates.len(),
            2,
            "the next certificate is kept too"
        );
        assert!(read.warnings.is_empty());
    }

    #[test]
    fn bad_metadata_is_named_precisely() {
        let message = |xml: &str| {
            read_federation_metadata(xml, None, now())
                .unwrap_err()
                .message
        };
        assert!(message("hello").contains("not XML"));
        assert!(
            message(r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>"#)
                .contains("DOCTYPE")
        );
        assert!(
            message("<html><body>Sign in</body></html>").contains("not SAML federation metadata")
        );
        let okta = metadata("http://www.okta.com/exk1", &login(), &[certificate(1000)]);
        assert!(message(&okta).contains("not a Microsoft Entra Identifier"));
        let other = format!(
            "https://login.microsoftonline.com/{}/saml2",
            "2a7d9e4b-8c3f-4b1a-a6e5-7f0c2d9b8e31"
        );
        let mismatch = read_federation_metadata(
            &metadata(&issuer(), &other, &[certificate(1000)]),
            None,
            now(),
        )
        .unwrap_err();
        assert_eq!(mismatch.field, "login_url");
        assert!(
            mismatch.message.contains("same Entra application"),
            "{}",
            mismatch.message
        );
        assert!(message(&metadata(&issuer(), &login(), &[])).contains("no signing certificate"));
        assert!(
            message(&metadata(&issuer(), &login(), &["bm90IGEgY2VydA==".into()]))
                .contains("not an X.509")
        );
    }

    #[test]
    fn an_expired_certificate_is_refused_and_one_expiring_soon_is_warned_about() {
        let expired = certificate(390);
        let soon = certificate(410);
        let err = read_federation_metadata(
            &metadata(&issuer(), &login(), std::slice::from_ref(&expired)),
            None,
            now(),
        )
        .unwrap_err();
        assert!(err.message.contains("expired"), "{}", err.message);
        let read = read_federation_metadata(
            &metadata(&issuer(), &login(), &[expired, soon]),
            None,
            now(),
        )
        .unwrap();
        assert_eq!(
            read.identity_provider.certificates.len(),
            1,
            "the expired one is dropped"
        );
        assert_eq!(read.warnings.len(), 1);
        assert!(read.warnings[0].1.contains("expires on"));
    }

    #[test]
    fn the_pasted_values_are_checked_field_by_field() {
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            certificate(1200)
        );
        let read = read_pasted(&login(), &issuer(), &pem, now()).unwrap();
        assert_eq!(read.tenant_id, TENANT);
        let problems = read_pasted("login", &issuer(), "garbage!", now()).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        assert_eq!(fields, ["certificate", "login_url"]);
        let wrong =
            read_pasted(&login(), "https://sts.windows.net/not-a-guid/", &pem, now()).unwrap_err();
        assert_eq!(wrong[0].field, "entity_id");
    }

    #[test]
    fn certificate_dates_and_thumbprints_are_read() {
        let read = parse_certificate(&certificate(800)).unwrap();
        assert_eq!(read.thumbprint.len(), 40);
        let expires = crate::domain::parse_date(&read.expires_on).unwrap();
        let expected = (now() - time::Duration::days(400) + time::Duration::days(800)).date();
        assert!((expires - expected).whole_days().abs() <= 1);
        let _ = datetime!(2026-01-01 0:00 UTC);
    }

    #[test]
    fn service_provider_metadata_names_the_registered_addresses() {
        let urls = super::super::service_provider_urls("https://gh.example", "o1", "contoso");
        let xml = service_provider_metadata(&urls);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        assert_eq!(
            doc.root_element().attribute("entityID"),
            Some("https://gh.example/saml/o1")
        );
        assert!(xml.contains(r#"Location="https://gh.example/saml/o1/acs""#));
        assert!(xml.contains(r#"WantAssertionsSigned="true""#));
    }
}
