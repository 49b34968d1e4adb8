//! The AuthnRequest of an SP-initiated sign-in, sent with the HTTP-Redirect binding. Its ID
//! starts with `_` (an XML ID may not start with a digit, and Entra refuses one that does). It
//! has no `<Subject>` (the email goes as Entra's `login_hint` parameter), no
//! `RequestedAuthnContext` (it would only make Entra answer AADSTS75011), and is not signed
//! (Entra does not require it). `RelayState` carries only a reference to the browser's attempt.

use super::escape_xml;
use base64::Engine;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use std::io::Write;
use time::OffsetDateTime;

/// One request: where to send the browser, and the ID the response must answer.
#[derive(Debug)]
pub struct AuthnRequest {
    pub id: String,
    pub redirect_url: String,
}

pub struct Options<'a> {
    pub login_url: &'a str,
    pub identifier: &'a str,
    pub reply_url: &'a str,
    pub relay_state: &'a str,
    pub login_hint: Option<&'a str>,
    /// Asks the directory to authenticate the person again, whatever its session.
    pub force_authn: bool,
}

/// A fresh request ID: `_` and 32 random hex digits.
pub fn new_id() -> String {
    let bytes: [u8; 16] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("_{hex}")
}

/// The request, or `None` when the Login URL is not a URL (it was checked when saved).
pub fn authn_request(options: &Options<'_>, now: OffsetDateTime) -> Option<AuthnRequest> {
    let id = new_id();
    let instant = now
        .replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let force = if options.force_authn {
        r#" ForceAuthn="true""#
    } else {
        ""
    };
    let xml = format!(
        concat!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" "#,
            r#"xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" "#,
            r#"IssueInstant="{instant}" Destination="{destination}" "#,
            r#"AssertionConsumerServiceURL="{reply}" "#,
            r#"ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"{force}>"#,
            r#"<saml:Issuer>{issuer}</saml:Issuer>"#,
            r#"<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified" AllowCreate="true"/>"#,
            r#"</samlp:AuthnRequest>"#
        ),
        id = id,
        instant = instant,
        destination = escape_xml(options.login_url),
        reply = escape_xml(options.reply_url),
        force = force,
        issuer = escape_xml(options.identifier),
    );
    let mut deflater = DeflateEncoder::new(Vec::new(), Compression::default());
    // Writing to a Vec cannot fail.
    let _ = deflater.write_all(xml.as_bytes());
    let deflated = deflater.finish().unwrap_or_default();
    let encoded = base64::engine::general_purpose::STANDARD.encode(deflated);
    let mut url = reqwest::Url::parse(options.login_url).ok()?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("SAMLRequest", &encoded);
        query.append_pair("RelayState", options.relay_state);
        if let Some(hint) = options.login_hint {
            query.append_pair("login_hint", hint);
        }
    }
    Some(AuthnRequest {
        id,
        redirect_url: url.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::DeflateDecoder;
    use std::io::Read;

    fn decoded(url: &str) -> (String, Vec<(String, String)>) {
        let url = reqwest::Url::parse(url).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let request = &pairs.iter().find(|(k, _)| k == "SAMLRequest").unwrap().1;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(request)
            .unwrap();
        let mut xml = String::new();
        DeflateDecoder::new(&bytes[..])
            .read_to_string(&mut xml)
            .unwrap();
        (xml, pairs)
    }

    #[test]
    fn the_request_is_what_entra_accepts() {
        let options = Options {
            login_url: "https://login.microsoftonline.com/t/saml2",
            identifier: "https://gh.example/saml/o1",
            reply_url: "https://gh.example/saml/o1/acs",
            relay_state: "ref",
            login_hint: Some("b.simon@contoso.com"),
            force_authn: false,
        };
        let request = authn_request(&options, OffsetDateTime::now_utc()).unwrap();
        assert!(request.id.starts_with('_'));
        let (xml, pairs) = decoded(&request.redirect_url);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.attribute("ID"), Some(request.id.as_str()));
        assert_eq!(
            root.attribute("AssertionConsumerServiceURL"),
            Some("https://gh.example/saml/o1/acs")
        );
        assert_eq!(root.attribute("ForceAuthn"), None);
        let names: Vec<&str> = root
            .descendants()
            .filter(|n| n.is_element())
            .map(|n| n.tag_name().name())
            .collect();
        assert!(!names.contains(&"Subject"));
        assert!(!names.contains(&"RequestedAuthnContext"));
        assert!(pairs.contains(&("RelayState".into(), "ref".into())));
        assert!(pairs.contains(&("login_hint".into(), "b.simon@contoso.com".into())));

        let fresh = authn_request(
            &Options {
                force_authn: true,
                login_hint: None,
                ..options
            },
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        let (xml, pairs) = decoded(&fresh.redirect_url);
        assert!(xml.contains(r#"ForceAuthn="true""#));
        assert!(!pairs.iter().any(|(k, _)| k == "login_hint"));
        assert_ne!(fresh.id, request.id);
    }
}
