//! Automatic rotation of the certificates Gatehouse holds for app registrations it created:
//! before a certificate expires, Gatehouse makes a new one, adds it to the app through Graph's
//! `addKey` (its own app-only token; the proof of possession signed with the current key, as
//! Graph documents), checks that Entra accepts it, switches the connection to it, removes the
//! old key with `removeKey`, and records it in the audit log. No admin is involved; a rotation
//! that fails is tried again at the next round, and the expiry warnings still reach the admins.

use super::{
    certificate_context, open_credential, parse_active, ConnectionConfig, ConnectionServices,
    StoredCertificate, StoredConnectionError,
};
use crate::crypto::certificates;
use crate::domain::parse_date;
use crate::entra::client_credential::{proof_of_possession, ClientCertificate, ClientCredential};
use crate::entra::graph::app_token;
use crate::entra::registrations::{Graph, RegistrationError};
use crate::storage::{Actor, AuditEntry};
use base64::Engine;
use std::time::Duration;

/// A certificate is rotated from this many days before it expires: well before the first
/// expiry warning (30 days), so a failing rotation has weeks of retries first.
pub const ROTATE_WITHIN_DAYS: i64 = 60;
/// How long a new certificate may take to be accepted by Entra (replication).
const ACCEPTANCE_PATIENCE: Duration = Duration::from_secs(120);

/// Why one rotation failed.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error(transparent)]
    Stored(#[from] StoredConnectionError),
    #[error("Microsoft Graph: {0}")]
    Graph(#[from] RegistrationError),
    #[error("{0}")]
    Failed(String),
}

fn failed(e: impl std::fmt::Display) -> RotationError {
    RotationError::Failed(e.to_string())
}

/// What one active connection needs for a rotation, when it is due.
struct Due {
    organization_id: String,
    organization_name: String,
    json: String,
    config: ConnectionConfig,
}

/// Rotates every due certificate; answers how many were rotated.
pub async fn rotate_due(services: &ConnectionServices<'_>) -> Result<usize, StoredConnectionError> {
    let today = services.now().date();
    let mut rotated = 0;
    for serving in services.storage.serving_connections(None).await? {
        let config = parse_active(&serving.active_config)?;
        let due = match (&config.certificate, &config.application_object_id) {
            (Some(certificate), Some(_)) if certificate.key_id.is_some() => {
                parse_date(&certificate.expires_on)
                    .map(|expires| (expires - today).whole_days() <= ROTATE_WITHIN_DAYS)
                    .unwrap_or(false)
            }
            _ => false,
        };
        if !due {
            continue;
        }
        let due = Due {
            organization_id: serving.organization_id,
            organization_name: serving.organization_name,
            json: serving.active_config,
            config,
        };
        match rotate(services, &due).await {
            Ok(()) => rotated += 1,
            Err(e) => {
                tracing::warn!(organization = %due.organization_id, error = %e, "rotating the app's certificate failed; trying again at the next round");
                let entry = AuditEntry {
                    outcome: "failure",
                    detail: &e.to_string(),
                    ..AuditEntry::success(
                        Some(&due.organization_id),
                        "connection.certificate_rotated",
                        &due.organization_id,
                    )
                };
                let _ = services
                    .storage
                    .record_audit(&Actor::system(), &entry, services.now())
                    .await;
            }
        }
    }
    Ok(rotated)
}

async fn rotate(services: &ConnectionServices<'_>, due: &Due) -> Result<(), RotationError> {
    let config = &due.config;
    let (Some(old), Some(object_id), Some(tenant_id), Some(client_id)) = (
        &config.certificate,
        &config.application_object_id,
        &config.tenant_id,
        &config.client_id,
    ) else {
        return Ok(());
    };
    super::require_permitted(services.allowed_authorities, &config.authority_host)?;
    let Some(ClientCredential::Certificate(current)) =
        open_credential(services.sealing_key, &due.organization_id, config)?
    else {
        return Ok(());
    };
    let graph_base = services
        .allowed_authorities
        .graph_base(config.cloud, &config.authority_host);
    let token_with = |credential: ClientCredential| async move {
        app_token(
            services.http,
            &config.authority_host,
            tenant_id,
            config.cloud,
            client_id,
            &credential,
        )
        .await
    };

    // The new certificate, added beside the current one.
    let common_name = format!("Gatehouse for {}", due.organization_name);
    let now = services.now();
    let made = tokio::task::spawn_blocking(move || certificates::make(&common_name, now))
        .await
        .map_err(failed)?
        .map_err(failed)?;
    let der_base64 = base64::engine::general_purpose::STANDARD.encode(&made.certificate_der);
    let (token, _) = token_with(ClientCredential::Certificate(current.clone()))
        .await
        .map_err(|e| failed(e.message()))?;
    let graph = Graph {
        http: services.http,
        base: &graph_base,
        token: &token,
    };
    let proof = proof_of_possession(&current, &old.thumbprint, object_id).map_err(failed)?;
    let new_key_id = graph.add_key(object_id, &der_base64, &proof).await?;
    let fresh = ClientCertificate {
        key_pkcs8_der: made.key_pkcs8_der.clone(),
        sha256_thumbprint: certificates::sha256_thumbprint(&made.certificate_der)
            .map_err(failed)?,
    };

    // Entra accepts it (after replication) before anything switches to it.
    let started = std::time::Instant::now();
    let mut pause = Duration::from_secs(1);
    loop {
        match token_with(ClientCredential::Certificate(fresh.clone())).await {
            Ok(_) => break,
            Err(e) if started.elapsed() >= ACCEPTANCE_PATIENCE => {
                // Take the unused key off again, signed with the current one.
                let proof =
                    proof_of_possession(&current, &old.thumbprint, object_id).map_err(failed)?;
                let _ = graph.remove_key(object_id, &new_key_id, &proof).await;
                return Err(failed(format!(
                    "Entra did not accept the new certificate: {}",
                    e.message()
                )));
            }
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(20));
            }
        }
    }

    // The switch: the active configuration (and a draft on the same certificate) use it.
    let thumbprint = certificates::sha1_thumbprint(&made.certificate_der).map_err(failed)?;
    let stored = StoredCertificate {
        sealed_key: services
            .sealing_key
            .seal(
                &made.key_pkcs8_der,
                &certificate_context(&due.organization_id),
            )
            .map_err(StoredConnectionError::from)?,
        certificate_der_base64: der_base64,
        thumbprint: thumbprint.clone(),
        expires_on: made.expires_on.to_string(),
        key_id: Some(new_key_id),
    };
    let replacement = ConnectionConfig {
        certificate: Some(stored.clone()),
        ..config.clone()
    };
    let detail = format!(
        "certificate {} (expires {}) replaced by {} (expires {}) through Microsoft Graph",
        old.thumbprint, old.expires_on, thumbprint, stored.expires_on
    );
    let entry = AuditEntry {
        detail: &detail,
        ..AuditEntry::success(
            Some(&due.organization_id),
            "connection.certificate_rotated",
            &due.organization_id,
        )
    };
    services
        .storage
        .replace_active_config(
            &due.organization_id,
            &due.json,
            &serde_json::to_string(&replacement).map_err(StoredConnectionError::from)?,
            &entry,
            &Actor::system(),
            services.now(),
        )
        .await
        .map_err(StoredConnectionError::from)?;
    super::follow_rotation_in_draft(services, &due.organization_id, &old.thumbprint, &stored)
        .await?;

    // The old key goes, proven with the new one.
    let proof = proof_of_possession(&fresh, &thumbprint, object_id).map_err(failed)?;
    if let Some(old_key) = &old.key_id {
        graph.remove_key(object_id, old_key, &proof).await?;
    }
    tracing::info!(organization = %due.organization_id, "the app's certificate was rotated");
    Ok(())
}
