//! Single logout: the directory's LogoutRequest (HTTP-Redirect binding) names the session it
//! ends by its SessionIndex, which Gatehouse kept with each session that sign-in started.

use base64::Engine;
use flate2::read::DeflateDecoder;
use std::io::Read;

const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// A LogoutRequest is a few hundred bytes; inflated, more than this is refused.
const MAX_INFLATED: u64 = 64 * 1024;

/// The SessionIndex of an encoded LogoutRequest (base64 of raw DEFLATE, as HTTP-Redirect
/// carries it), or what is wrong with it.
pub fn session_index(encoded: &str) -> Result<String, String> {
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| "it is not base64".to_string())?;
    let mut xml = String::new();
    DeflateDecoder::new(&deflated[..])
        .take(MAX_INFLATED)
        .read_to_string(&mut xml)
        .map_err(|_| "it is not a compressed SAML message".to_string())?;
    let doc = roxmltree::Document::parse(&xml).map_err(|e| format!("it is not XML ({e})"))?;
    let root = doc.root_element();
    if root.tag_name().namespace() != Some(NS_PROTOCOL) || root.tag_name().name() != "LogoutRequest"
    {
        return Err("it is not a LogoutRequest".into());
    }
    root.children()
        .find(|n| {
            n.tag_name().namespace() == Some(NS_PROTOCOL) && n.tag_name().name() == "SessionIndex"
        })
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "it names no SessionIndex".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::DeflateEncoder;
    use std::io::Write;

    fn encode(xml: &str) -> String {
        let mut deflater = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        deflater.write_all(xml.as_bytes()).unwrap();
        base64::engine::general_purpose::STANDARD.encode(deflater.finish().unwrap())
    }

    #[test]
    fn the_session_index_of_a_logout_request_is_read() {
        let request = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_1" Version="2.0" IssueInstant="2026-12-06T00:00:00Z"><saml:Issuer>https://sts.windows.net/t/</saml:Issuer><saml:NameID>B.Simon@contoso.com</saml:NameID><samlp:SessionIndex>_abc</samlp:SessionIndex></samlp:LogoutRequest>"#;
        assert_eq!(session_index(&encode(request)).unwrap(), "_abc");
        assert!(session_index("!!").unwrap_err().contains("base64"));
        assert!(session_index(&encode("<x/>"))
            .unwrap_err()
            .contains("not a LogoutRequest"));
        assert!(
            session_index(&encode(r#"<!DOCTYPE x [<!ENTITY a "b">]><x/>"#))
                .unwrap_err()
                .contains("not XML")
        );
        let without = request.replace("<samlp:SessionIndex>_abc</samlp:SessionIndex>", "");
        assert!(session_index(&encode(&without))
            .unwrap_err()
            .contains("no SessionIndex"));
    }
}
