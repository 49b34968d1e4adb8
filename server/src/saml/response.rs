//! The checks a SAML Response posted to the Reply URL must pass, in order:
//!
//! 1. Before any XML parsing that could expand anything: its size, and no DOCTYPE (no entity
//!    can be declared, so none can be expanded or fetched).
//! 2. Its shape, read without trusting it: a `Response` with no comments or processing
//!    instructions anywhere (a comment can split a signed value), exactly one `Assertion` in
//!    the whole document (no wrapping: none beside it, in `Extensions` or `Advice`), none
//!    encrypted; a status other than Success is the directory's refusal (such as AADSTS50105).
//! 3. `samael` with libxmlsec1: the Response or the Assertion signed with a certificate from the
//!    connection (RSA-SHA256 or stronger); only what the signature covers is read on; `Issuer`,
//!    `Audience`, `Recipient`/`Destination`, the times (with the allowed skew) and `InResponseTo`.
//! 4. Gatehouse's own rules: an unsolicited response has no `InResponseTo` and is accepted only
//!    when the organization allows IdP-initiated sign-in; `tenantid` is the connection's
//!    directory; `objectidentifier` is a GUID. Identity is (`tenantid`, `objectidentifier`);
//!    NameID is kept, not trusted as identity.
//!
//! The assertion's ID is then accepted once (the caller keeps it until it expires).

use super::IdentityProvider;
use crate::domain::Guid;
use crate::oidc::Identity;
use base64::Engine;
use samael::crypto::AllowedSignatureAlgorithm;
use samael::metadata::EntityDescriptor;
use samael::service_provider::{Error as SpError, ServiceProviderBuilder};
use std::time::Duration;
use time::OffsetDateTime;

/// Larger posted responses are refused unread (Entra's are a few kilobytes; groups can make
/// them larger).
pub const MAX_RESPONSE_BYTES: usize = 512 * 1024;

pub const CLAIM_TENANT: &str = "http://schemas.microsoft.com/identity/claims/tenantid";
pub const CLAIM_OBJECT_ID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";
pub const CLAIM_DISPLAY_NAME: &str = "http://schemas.microsoft.com/identity/claims/displayname";
pub const CLAIM_EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
pub const CLAIM_NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
pub const CLAIM_ROLE: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role";
pub const CLAIM_AUTHN_METHODS: &str = "http://schemas.microsoft.com/claims/authnmethodsreferences";

const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// What the response is checked against.
pub struct Expected<'a> {
    pub identity_provider: &'a IdentityProvider,
    /// The connection's directory (tenant) ID.
    pub tenant_id: &'a str,
    /// Gatehouse's Identifier and Reply URL for the organization.
    pub identifier: &'a str,
    pub reply_url: &'a str,
    /// The AuthnRequest's ID for an SP-initiated sign-in; `None` for an unsolicited response.
    pub request_id: Option<&'a str>,
    /// Whether an unsolicited (IdP-initiated) response is accepted.
    pub allow_unsolicited: bool,
    pub skew: Duration,
}

/// A response that passed every check.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub identity: Identity,
    pub assertion_id: String,
    /// Until when the assertion's ID must be kept as used (its `NotOnOrAfter`, or the
    /// subject confirmation's).
    pub valid_until: OffsetDateTime,
    pub name_id: Option<String>,
    pub name_id_format: Option<String>,
    pub session_index: Option<String>,
    /// Every attribute as sent, for the wizard's test sign-in.
    pub attributes: Vec<(String, Vec<String>)>,
}

/// Why a response was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The directory answered with an error status; `message` is its StatusMessage (such as
    /// "AADSTS50105: ...").
    Refused { status: String, message: String },
    /// The response failed a check; `reason` is short, for the audit log.
    Invalid {
        reason: &'static str,
        details: String,
    },
}

fn invalid(reason: &'static str, details: impl Into<String>) -> Rejection {
    Rejection::Invalid {
        reason,
        details: details.into(),
    }
}

/// Checks the base64 `SAMLResponse` a browser posted.
pub fn check(encoded: &str, expected: &Expected<'_>) -> Result<Accepted, Rejection> {
    if encoded.len() > MAX_RESPONSE_BYTES {
        return Err(invalid(
            "oversized",
            format!(
                "the response is larger than {} KiB",
                MAX_RESPONSE_BYTES / 1024
            ),
        ));
    }
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| invalid("malformed", "the SAMLResponse is not base64"))?;
    let xml =
        String::from_utf8(bytes).map_err(|_| invalid("malformed", "the response is not UTF-8"))?;
    check_shape(&xml)?;
    let accepted = check_signed(&xml, expected)?;
    Ok(accepted)
}

/// Step 1 and 2: what can be refused without trusting anything in it.
fn check_shape(xml: &str) -> Result<(), Rejection> {
    // roxmltree refuses a DTD before reading further: nothing is declared or expanded.
    let doc = roxmltree::Document::parse(xml).map_err(|e| match e {
        roxmltree::Error::DtdDetected => invalid("doctype", "the response declares a DOCTYPE"),
        other => invalid("malformed", format!("the response is not XML: {other}")),
    })?;
    let root = doc.root_element();
    if root.tag_name().namespace() != Some(NS_PROTOCOL) || root.tag_name().name() != "Response" {
        return Err(invalid(
            "malformed",
            format!(
                "the posted message is a <{}>, not a Response",
                root.tag_name().name()
            ),
        ));
    }
    if doc.descendants().any(|n| n.is_comment()) {
        return Err(invalid(
            "comment",
            "the response has an XML comment, which can split a signed value",
        ));
    }
    if doc.descendants().any(|n| n.is_pi()) {
        return Err(invalid(
            "malformed",
            "the response has a processing instruction",
        ));
    }
    let status = root
        .children()
        .find(|n| n.tag_name().namespace() == Some(NS_PROTOCOL) && n.tag_name().name() == "Status");
    if let Some(status) = status {
        let code = status
            .children()
            .find(|n| n.tag_name().name() == "StatusCode")
            .and_then(|n| n.attribute("Value"))
            .unwrap_or_default();
        if code != STATUS_SUCCESS {
            // The innermost code says most ("RequestDenied"), the message says why.
            let inner = status
                .descendants()
                .filter(|n| n.tag_name().name() == "StatusCode")
                .filter_map(|n| n.attribute("Value"))
                .next_back()
                .unwrap_or(code);
            let message = status
                .children()
                .find(|n| n.tag_name().name() == "StatusMessage")
                .and_then(|n| n.text())
                .unwrap_or_default()
                .trim()
                .to_string();
            return Err(Rejection::Refused {
                status: inner.rsplit(':').next().unwrap_or(inner).to_string(),
                message,
            });
        }
    }
    let count = |name: &str| {
        doc.descendants()
            .filter(|n| {
                n.tag_name().namespace() == Some(NS_ASSERTION) && n.tag_name().name() == name
            })
            .count()
    };
    if count("EncryptedAssertion") > 0 {
        return Err(invalid("encrypted", "the assertion is encrypted; Gatehouse takes signed assertions (turn off token encryption for the app in Entra)"));
    }
    match count("Assertion") {
        1 => Ok(()),
        0 => Err(invalid("no_assertion", "the response has no assertion")),
        n => Err(invalid(
            "assertion_count",
            format!("the response has {n} assertions; exactly one is accepted"),
        )),
    }
}

/// The directory's metadata as `samael` reads it: its Identifier and signing certificates.
fn entity_descriptor(idp: &IdentityProvider) -> Result<EntityDescriptor, Rejection> {
    let keys: String = idp
        .certificates
        .iter()
        .map(|c| {
            format!(
                r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
                c.der_base64
            )
        })
        .collect();
    let xml = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{}"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
        super::escape_xml(&idp.entity_id),
        super::escape_xml(&idp.login_url),
    );
    xml.parse().map_err(|e| {
        invalid(
            "configuration",
            format!("the connection's certificates could not be read: {e}"),
        )
    })
}

/// Step 3 and 4.
fn check_signed(xml: &str, expected: &Expected<'_>) -> Result<Accepted, Rejection> {
    if expected.identity_provider.certificates.is_empty() {
        // samael skips the signature check without certificates: never let it.
        return Err(invalid(
            "configuration",
            "the connection has no signing certificate",
        ));
    }
    let skew = chrono::Duration::from_std(expected.skew).unwrap_or(chrono::Duration::minutes(5));
    let unsolicited = expected.request_id.is_none();
    let provider = ServiceProviderBuilder::default()
        .entity_id(Some(expected.identifier.to_string()))
        .acs_url(Some(expected.reply_url.to_string()))
        .idp_metadata(entity_descriptor(expected.identity_provider)?)
        .allow_idp_initiated(unsolicited)
        .max_clock_skew(skew)
        .max_issue_delay(chrono::Duration::minutes(3) + skew)
        .allowed_signature_algorithms(Some(vec![
            AllowedSignatureAlgorithm::RsaSha256,
            AllowedSignatureAlgorithm::RsaSha384,
            AllowedSignatureAlgorithm::RsaSha512,
        ]))
        .build()
        .map_err(|e| invalid("configuration", e.to_string()))?;
    let request_ids: Vec<&str> = expected.request_id.into_iter().collect();
    let assertion = provider
        .parse_xml_response(xml, Some(&request_ids))
        .map_err(rejection_of)?;

    let subject = assertion.subject.as_ref();
    let confirmation = subject
        .and_then(|s| s.subject_confirmations.as_ref())
        .and_then(|c| c.first())
        .and_then(|c| c.subject_confirmation_data.as_ref());
    if unsolicited {
        if !expected.allow_unsolicited {
            return Err(invalid("unsolicited", "an IdP-initiated response came, and this organization accepts only sign-ins started at Gatehouse"));
        }
        if confirmation
            .and_then(|c| c.in_response_to.as_ref())
            .is_some()
        {
            return Err(invalid(
                "in_response_to",
                "the response answers a request this browser did not make",
            ));
        }
    }
    let attributes: Vec<(String, Vec<String>)> = assertion
        .attribute_statements
        .iter()
        .flatten()
        .flat_map(|s| s.attributes.iter())
        .filter_map(|a| {
            let values = a.values.iter().filter_map(|v| v.value.clone()).collect();
            Some((a.name.clone()?, values))
        })
        .collect();
    let single = |name: &str| -> Option<String> {
        attributes
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.first().cloned())
    };
    let tenant = single(CLAIM_TENANT).ok_or_else(|| {
        invalid(
            "missing_claim",
            "the assertion has no tenantid claim: keep Entra's default claims",
        )
    })?;
    if !tenant.eq_ignore_ascii_case(expected.tenant_id) {
        return Err(invalid(
            "other_tenant",
            format!(
                "the assertion is from directory {tenant}, not {}",
                expected.tenant_id
            ),
        ));
    }
    let object_id = single(CLAIM_OBJECT_ID).ok_or_else(|| {
        invalid(
            "missing_claim",
            "the assertion has no objectidentifier claim: keep Entra's default claims",
        )
    })?;
    let object_id = Guid::parse(&object_id)
        .map_err(|_| invalid("malformed", "the objectidentifier claim is not a GUID"))?
        .0;
    let valid_until = assertion
        .conditions
        .as_ref()
        .and_then(|c| c.not_on_or_after)
        .or_else(|| confirmation.and_then(|c| c.not_on_or_after))
        .map(|t| t.timestamp())
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or_else(|| invalid("malformed", "the assertion has no NotOnOrAfter"))?;
    let name_id = subject.and_then(|s| s.name_id.as_ref());
    let all = |name: &str| -> Vec<String> {
        attributes
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.iter().cloned())
            .collect()
    };
    let identity = Identity {
        tenant_id: tenant.to_ascii_lowercase(),
        object_id,
        name: single(CLAIM_DISPLAY_NAME),
        username: single(CLAIM_NAME),
        email: single(CLAIM_EMAIL),
        // SAML says nothing of who verified the email: its domain must be proven.
        email_verified: false,
        sid: assertion
            .authn_statements
            .iter()
            .flatten()
            .find_map(|s| s.session_index.clone()),
        passed_on: crate::oidc::PassedOn {
            roles: all(CLAIM_ROLE),
            amr: Vec::new(),
        },
    };
    Ok(Accepted {
        session_index: identity.sid.clone(),
        identity,
        assertion_id: assertion.id.clone(),
        valid_until,
        name_id: name_id.map(|n| n.value.clone()),
        name_id_format: name_id.and_then(|n| n.format.clone()),
        attributes,
    })
}

/// samael's error as a short reason and what it says.
fn rejection_of(error: SpError) -> Rejection {
    let reason = match &error {
        SpError::FailedToValidateSignature
        | SpError::CryptoXmlError(_)
        | SpError::CryptoProviderError(_) => "signature",
        SpError::AssertionIssuerMismatch { .. } | SpError::ResponseIssuerMismatch { .. } => {
            "issuer"
        }
        SpError::AssertionConditionAudienceRestrictionFailed { .. } => "audience",
        SpError::AssertionRecipientMismatch { .. } | SpError::DestinationValidationError { .. } => {
            "recipient"
        }
        SpError::AssertionExpired { .. }
        | SpError::ResponseExpired { .. }
        | SpError::AssertionConditionExpired { .. }
        | SpError::AssertionSubjectConfirmationExpired { .. } => "expired",
        SpError::AssertionConditionExpiredBefore { .. }
        | SpError::AssertionSubjectConfirmationExpiredBefore { .. } => "not_yet_valid",
        SpError::AssertionInResponseToInvalid { .. }
        | SpError::ResponseInResponseToInvalid { .. } => "in_response_to",
        SpError::ResponseBadStatusCode { .. } => "status",
        _ => "invalid_response",
    };
    invalid(reason, error.to_string())
}
