//! The SAML steps of the wizard: the directory's SAML side from its Federation Metadata XML
//! (uploaded, or read from the App Federation Metadata URL on an allowed authority) or from the
//! three values pasted by hand, and its verification (the signing certificates and the Login
//! URL). The rest — policy, test sign-in, activation — is shared with OpenID Connect.

use super::{
    load, read, store_draft, Connection, ConnectionConfig, ConnectionError, ConnectionResult,
    ConnectionServices, Loaded,
};
use crate::domain::FieldErrors;
use crate::entra::authority;
use crate::saml::metadata::{self, Read};
use crate::storage::{Actor, AuditEntry, OrganizationRecord};
use app::types::{CheckResult, Cloud, Protocol, SaveSamlRequest, VersionRequest};
use std::collections::BTreeMap;

/// Saves the directory's SAML side in the draft, from exactly one of: the metadata XML, its
/// URL, or the three pasted values. Changing it clears the verification.
pub async fn save(
    services: &ConnectionServices<'_>,
    org: &OrganizationRecord,
    request: &SaveSamlRequest,
    actor: &Actor,
) -> ConnectionResult<Connection> {
    let Loaded { draft, .. } = load(services.storage, org).await?;
    let now = services.now();
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let pasted = [
        text(&request.login_url),
        text(&request.entity_id),
        text(&request.certificate),
    ];
    let brought: Read = match (text(&request.metadata_xml), text(&request.metadata_url)) {
        (Some(xml), None) => metadata::read_federation_metadata(&xml, None, now)
            .map_err(|p| ConnectionError::field(p.field, p.message))?,
        (None, Some(url)) => {
            let xml = fetch_metadata(services, &url).await?;
            metadata::read_federation_metadata(&xml, Some(url), now)
                .map_err(|p| ConnectionError::field(p.field, p.message))?
        }
        (None, None) if pasted.iter().any(Option::is_some) => {
            let [login_url, entity_id, certificate] = pasted.map(Option::unwrap_or_default);
            metadata::read_pasted(&login_url, &entity_id, &certificate, now).map_err(|problems| {
                let mut errors = FieldErrors::default();
                for p in problems {
                    errors.add(p.field, p.message);
                }
                ConnectionError::Invalid(errors)
            })?
        }
        (Some(_), Some(_)) => {
            return Err(ConnectionError::field("metadata", "Upload the metadata file or give its URL, not both."))
        }
        (None, None) => {
            return Err(ConnectionError::field("metadata", "Upload the Federation Metadata XML, give the App Federation Metadata URL, or paste the Login URL, Microsoft Entra Identifier and Certificate (Base64)."))
        }
    };
    let Some(authority_host) = crate::saml::origin_of(&brought.identity_provider.login_url) else {
        return Err(ConnectionError::field(
            "login_url",
            "The Login URL is not a web address.",
        ));
    };
    if !authority::permitted(services.allowed_authorities, &authority_host) {
        return Err(ConnectionError::field("login_url", format!("{authority_host} is not one of Microsoft Entra's sign-in hosts (login.microsoftonline.com, and the national clouds' hosts), nor on this Gatehouse's list of allowed authorities.")));
    }
    let changed = draft.protocol != Protocol::Saml
        || draft.saml.as_ref() != Some(&brought.identity_provider)
        || draft.tenant_id.as_deref() != Some(brought.tenant_id.as_str());
    let updated = ConnectionConfig {
        protocol: Protocol::Saml,
        saml: Some(brought.identity_provider),
        allow_idp_initiated: request.allow_idp_initiated,
        cloud: [Cloud::Global, Cloud::UsGovernment, Cloud::China]
            .into_iter()
            .find(|c| {
                services.allowed_authorities.entra_authority(*c).as_deref()
                    == Some(authority_host.as_str())
            })
            .unwrap_or(Cloud::Custom),
        authority_host,
        tenant_id: Some(brought.tenant_id),
        client_id: None,
        secret: None,
        certificate: None,
        application_object_id: None,
        verification: if changed {
            None
        } else {
            draft.verification.clone()
        },
        policy: draft.policy.clone(),
    };
    let entry = AuditEntry {
        detail: "SAML settings",
        ..AuditEntry::success(Some(&org.id), "connection.draft.saml", &org.slug)
    };
    store_draft(services, org, request.version, &updated, &entry, actor).await?;
    let warnings: BTreeMap<String, String> = brought
        .warnings
        .into_iter()
        .map(|(field, message)| (field.to_string(), message))
        .collect();
    read(services, org, warnings).await
}

/// Reads the App Federation Metadata URL, only from an allowed authority.
async fn fetch_metadata(services: &ConnectionServices<'_>, url: &str) -> ConnectionResult<String> {
    const FIELD: &str = "metadata_url";
    let origin = crate::saml::origin_of(url).ok_or_else(|| {
        ConnectionError::field(
            FIELD,
            "Paste the App Federation Metadata URL from the SAML Certificates section.",
        )
    })?;
    if !authority::permitted(services.allowed_authorities, &origin) {
        return Err(ConnectionError::field(FIELD, format!("Gatehouse reads metadata only from Microsoft Entra's hosts; {origin} is not one. Download the Federation Metadata XML and upload it instead.")));
    }
    let response = services.http.get(url).send().await.map_err(|e| {
        ConnectionError::field(FIELD, format!("The metadata URL did not answer: {e}"))
    })?;
    if !response.status().is_success() {
        return Err(ConnectionError::field(FIELD, format!("The metadata URL answered {}. Copy the App Federation Metadata URL again from the SAML Certificates section.", response.status())));
    }
    crate::outbound::read_text(response)
        .await
        .map_err(|e| ConnectionError::field(FIELD, format!("The metadata could not be read: {e}")))
}

/// Re-reads the App Federation Metadata URL of every active SAML connection made from one, so
/// that Entra's next signing certificate is trusted before Entra signs with it (Entra lists it
/// in the metadata ahead of the switch). Only the certificates and addresses change: metadata
/// that now names another Identifier is not applied. Answers how many connections changed.
/// Public for the tests, which run it when they choose; background work runs it daily.
pub async fn refresh_metadata(services: &ConnectionServices<'_>) -> ConnectionResult<usize> {
    let actor = Actor {
        label: "gatehouse:daily-metadata-read".into(),
        client_addr: "-".into(),
    };
    let mut changed = 0;
    for (organization_id, stored) in services.storage.active_connection_configs().await? {
        let Ok(config) = super::parse_active(&stored) else {
            continue;
        };
        let Some(current) = config.saml.as_ref() else {
            continue;
        };
        let Some(url) = current.metadata_url.clone() else {
            continue;
        };
        let read = match fetch_metadata(services, &url).await.and_then(|xml| {
            metadata::read_federation_metadata(&xml, Some(url.clone()), services.now())
                .map_err(|p| ConnectionError::field(p.field, p.message))
        }) {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(organization = %organization_id, error = ?e, "re-reading SAML metadata failed");
                continue;
            }
        };
        if read.identity_provider.entity_id != current.entity_id {
            tracing::warn!(organization = %organization_id, "the SAML metadata now names another Identifier; not applied");
            continue;
        }
        if read.identity_provider == *current {
            continue;
        }
        let thumbprints: Vec<&str> = read
            .identity_provider
            .certificates
            .iter()
            .map(|c| c.thumbprint.as_str())
            .collect();
        let detail = format!("signing certificates now {}", thumbprints.join(", "));
        let updated = ConnectionConfig {
            saml: Some(read.identity_provider),
            ..config
        };
        let json = serde_json::to_string(&updated).map_err(super::StoredConnectionError::from)?;
        let entry = AuditEntry {
            detail: &detail,
            ..AuditEntry::success(
                Some(&organization_id),
                "connection.saml.metadata",
                &organization_id,
            )
        };
        match services
            .storage
            .replace_active_config(
                &organization_id,
                &stored,
                &json,
                &entry,
                &actor,
                services.now(),
            )
            .await
        {
            Ok(()) => changed += 1,
            // An admin activated another configuration meanwhile: it is read tomorrow.
            Err(crate::storage::StorageError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(changed)
}

/// Verify, for SAML: the signing certificates and their expiry, and that the Login URL answers.
pub(super) async fn verify_draft(
    services: &ConnectionServices<'_>,
    org: &OrganizationRecord,
    request: &VersionRequest,
    actor: &Actor,
    draft: ConnectionConfig,
) -> ConnectionResult<Connection> {
    let Some(idp) = draft.saml.as_ref() else {
        return Err(ConnectionError::field(
            "verify",
            "Save the directory's SAML settings first.",
        ));
    };
    let today = services.now().date();
    let mut checks = Vec::new();
    let latest = idp
        .certificates
        .iter()
        .filter_map(|c| {
            crate::domain::parse_date(&c.expires_on)
                .ok()
                .map(|d| (d, c))
        })
        .max_by_key(|(d, _)| *d);
    checks.push(match latest {
        Some((date, cert)) if date >= today => {
            let days = (date - today).whole_days();
            let soon = days <= metadata::EXPIRES_SOON_DAYS;
            check(
                "certificate",
                "Signing certificate",
                if soon { "warning" } else { "passed" },
                if soon {
                    format!("The signing certificate {} expires on {date}, in {days} days. Create its successor in Entra's SAML Certificates section and bring the metadata again.", cert.thumbprint)
                } else {
                    format!("The signing certificate {} is valid until {date}.", cert.thumbprint)
                },
                None,
            )
        }
        _ => check("certificate", "Signing certificate", "failed", "Every signing certificate has expired: create a new one in Entra and bring the metadata again.".into(), None),
    });
    checks.push(match services.http.get(&idp.login_url).send().await {
        Ok(_) => check(
            "login_url",
            "Login URL",
            "passed",
            format!("{} answers.", idp.login_url),
            None,
        ),
        Err(e) => check(
            "login_url",
            "Login URL",
            "failed",
            format!(
                "{} did not answer. Check the Login URL from the “Set up” section.",
                idp.login_url
            ),
            Some(e.to_string()),
        ),
    });
    super::keep_verification(services, org, request, actor, draft, checks).await
}

fn check(
    id: &str,
    title: &str,
    outcome: &str,
    message: String,
    details: Option<String>,
) -> CheckResult {
    CheckResult {
        check: id.into(),
        title: title.into(),
        outcome: outcome.into(),
        message,
        details,
        aadsts: None,
    }
}
