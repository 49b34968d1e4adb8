//! When a connection's credentials expire, and who is told: the client secret Gatehouse
//! authenticates with, and the directory's SAML signing certificate. At 30, 14, 7 and 1 days
//! before, and once expired, the organization's admins get one email and the audit log one
//! entry per credential and threshold; the overview and the operator's console show every
//! credential within 30 days; once expired, sign-in is refused with the date.

use super::{parse_active, ConnectionResult, ConnectionServices};
use crate::domain::parse_date;
use crate::storage::{Actor, AuditEntry, CredentialWarning, NewEmail, ServingConnection};
use time::Date;

/// A credential is shown as expiring soon from this many days before it expires.
pub const SOON: i64 = crate::domain::EXPIRES_SOON_DAYS;

/// Days before expiry at which admins are warned, the earliest first.
pub const THRESHOLDS: [i64; 4] = [SOON, 14, 7, 1];

/// Which kind of credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// The client secret Gatehouse sends to the token endpoint.
    ClientSecret,
    /// The certificate the directory signs SAML responses with.
    SamlSigningCertificate,
    /// The certificate Gatehouse made for the app registration, whose key signs its client
    /// assertions.
    ClientCertificate,
}

/// One credential a connection depends on, and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub kind: CredentialKind,
    /// What identifies it to an admin: a secret's last four characters, a certificate's
    /// thumbprint.
    pub hint: String,
    pub expires_on: Date,
}

impl Credential {
    /// What identifies it in the warnings sent: a new credential starts its thresholds afresh.
    pub fn key(&self) -> String {
        match self.kind {
            CredentialKind::ClientSecret => {
                format!("client-secret:{}:{}", self.hint, self.expires_on)
            }
            CredentialKind::SamlSigningCertificate => format!("saml-certificate:{}", self.hint),
            CredentialKind::ClientCertificate => format!("client-certificate:{}", self.hint),
        }
    }

    /// How an admin recognizes it: "The client secret …Ab1x".
    pub fn describe(&self) -> String {
        match self.kind {
            CredentialKind::ClientSecret => format!("The client secret …{}", self.hint),
            CredentialKind::SamlSigningCertificate => {
                format!("The SAML signing certificate {}", self.hint)
            }
            CredentialKind::ClientCertificate => {
                format!("Gatehouse's certificate {}", self.hint)
            }
        }
    }

    /// What the admin does about it.
    fn remedy(&self) -> &'static str {
        match self.kind {
            CredentialKind::ClientSecret => "Create a new client secret on the app registration in the Microsoft Entra admin center (Certificates & secrets), then paste its Value and expiry in Gatehouse's single sign-on settings.",
            CredentialKind::ClientCertificate => "Generate a new certificate in Gatehouse's single sign-on settings, upload it to the app registration in the Microsoft Entra admin center (Certificates & secrets), then save the credentials with it.",
            CredentialKind::SamlSigningCertificate => "Create a new SAML signing certificate on the Enterprise application in the Microsoft Entra admin center (Single sign-on), make it active, then bring the new Federation Metadata XML to Gatehouse's single sign-on settings.",
        }
    }

    /// Days from `today` until it expires; negative once expired.
    pub fn days_left(&self, today: Date) -> i64 {
        (self.expires_on - today).whole_days()
    }
}

/// The credentials a configuration signs people in with (for OpenID Connect, the one it
/// authenticates with: the secret, else the certificate). Of the SAML signing certificates
/// only the one that lasts longest counts: while Entra rolls over to a new certificate, the
/// old one's expiry is no concern.
pub fn credentials(config: &super::ConnectionConfig) -> Vec<Credential> {
    let mut found = Vec::new();
    if let Some(secret) = &config.secret {
        if let Ok(expires_on) = parse_date(&secret.expires_on) {
            found.push(Credential {
                kind: CredentialKind::ClientSecret,
                hint: secret.last4.clone(),
                expires_on,
            });
        }
    } else if let Some(certificate) = &config.certificate {
        if let Ok(expires_on) = parse_date(&certificate.expires_on) {
            found.push(Credential {
                kind: CredentialKind::ClientCertificate,
                hint: certificate.thumbprint.clone(),
                expires_on,
            });
        }
    }
    if let Some(saml) = &config.saml {
        let latest = saml
            .certificates
            .iter()
            .filter_map(|c| Some((parse_date(&c.expires_on).ok()?, c)))
            .max_by_key(|(on, _)| *on);
        if let Some((expires_on, certificate)) = latest {
            found.push(Credential {
                kind: CredentialKind::SamlSigningCertificate,
                hint: certificate.thumbprint.clone(),
                expires_on,
            });
        }
    }
    found
}

/// The threshold a credential with `days_left` has reached: the nearest of `THRESHOLDS` it is
/// within, 0 once expired, none while more than 30 days are left.
pub fn threshold(days_left: i64) -> Option<i64> {
    if days_left < 0 {
        return Some(0);
    }
    THRESHOLDS.iter().rev().copied().find(|t| days_left <= *t)
}

/// The configuration's credentials that expire within 30 days or have expired, soonest first.
pub fn expiring(config: &super::ConnectionConfig, today: Date) -> Vec<Credential> {
    let mut soon: Vec<Credential> = credentials(config)
        .into_iter()
        .filter(|c| c.days_left(today) <= SOON)
        .collect();
    soon.sort_by_key(|c| c.expires_on);
    soon
}

/// The day the credential sign-in needs expired, if it has: sign-in is refused with it.
pub fn expired_on(config: &super::ConnectionConfig, today: Date) -> Option<Date> {
    credentials(config)
        .into_iter()
        .filter(|c| c.days_left(today) < 0)
        .map(|c| c.expires_on)
        .min()
}

/// A credential of an active connection expiring within 30 days, for the console.
#[derive(Debug, Clone)]
pub struct ExpiringCredential {
    pub organization_id: String,
    pub organization_name: String,
    pub credential: Credential,
}

/// The serving connections' credentials expiring within 30 days or expired, soonest first
/// (all organizations, or one).
pub async fn expiring_credentials(
    services: &ConnectionServices<'_>,
    organization_id: Option<&str>,
) -> ConnectionResult<Vec<ExpiringCredential>> {
    let today = services.now().date();
    let mut found = Vec::new();
    for serving in services
        .storage
        .serving_connections(organization_id)
        .await?
    {
        let Some(config) = read(&serving) else {
            continue;
        };
        for credential in expiring(&config, today) {
            found.push(ExpiringCredential {
                organization_id: serving.organization_id.clone(),
                organization_name: serving.organization_name.clone(),
                credential,
            });
        }
    }
    found.sort_by_key(|e| e.credential.expires_on);
    Ok(found)
}

fn read(serving: &ServingConnection) -> Option<super::ConnectionConfig> {
    match parse_active(&serving.active_config) {
        Ok(config) => Some(config),
        Err(e) => {
            tracing::warn!(organization = %serving.organization_id, error = %e, "an active configuration could not be read for its expiry check");
            None
        }
    }
}

/// Sends the warnings due (all organizations, or one, such as right after an activation): one
/// per credential and threshold, ever. Answers how many were sent now.
pub async fn warn_due(
    services: &ConnectionServices<'_>,
    organization_id: Option<&str>,
) -> ConnectionResult<usize> {
    let now = services.now();
    let actor = Actor {
        label: "gatehouse:credential-expiry-check".into(),
        client_addr: "-".into(),
    };
    let mut sent = 0;
    for expiring in expiring_credentials(services, organization_id).await? {
        let credential = &expiring.credential;
        let days_left = credential.days_left(now.date());
        let Some(threshold_days) = threshold(days_left) else {
            continue;
        };
        let key = credential.key();
        let detail = match threshold_days {
            0 => format!("expired on {}", credential.expires_on),
            t => format!(
                "expires on {} ({days_left} days left): the {t}-day warning",
                credential.expires_on
            ),
        };
        let entry = AuditEntry {
            outcome: "failure",
            detail: &detail,
            ..AuditEntry::success(
                Some(&expiring.organization_id),
                "connection.credential_expiring",
                &key,
            )
        };
        let warning = CredentialWarning {
            organization_id: &expiring.organization_id,
            credential: &key,
            threshold_days,
        };
        let email = warning_email(services.public_url, &expiring, days_left);
        if services
            .storage
            .record_credential_warning(&warning, &entry, &email, &actor, now)
            .await?
        {
            sent += 1;
        }
    }
    Ok(sent)
}

/// What the organization's admins are told.
fn warning_email(public_url: &str, expiring: &ExpiringCredential, days_left: i64) -> NewEmail {
    let credential = &expiring.credential;
    let organization = &expiring.organization_name;
    let what = credential.describe();
    let on = credential.expires_on;
    let (subject, first) = if days_left < 0 {
        (
            format!("Gatehouse: single sign-on for {organization} has stopped"),
            format!("{what} that Gatehouse signs {organization}'s people in with expired on {on}. Sign-in with Microsoft Entra is refused until it is replaced."),
        )
    } else {
        let when = match days_left {
            0 => "today".to_string(),
            1 => "in 1 day".to_string(),
            n => format!("in {n} days"),
        };
        (
            format!("Gatehouse: single sign-on for {organization} stops {when}"),
            format!("{what} that Gatehouse signs {organization}'s people in with expires on {on} ({when}). After that, sign-in with Microsoft Entra is refused until it is replaced."),
        )
    };
    NewEmail {
        subject,
        body: format!(
            "{first}\n\n{}\n\nThe single sign-on settings: {public_url}/console/orgs/{}/sso\n",
            credential.remedy(),
            expiring.organization_id
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn each_threshold_is_reached_on_its_day_and_expiry_is_its_own() {
        let reached: Vec<Option<i64>> = [45, 31, 30, 15, 14, 10, 8, 7, 2, 1, 0, -1, -40]
            .into_iter()
            .map(threshold)
            .collect();
        assert_eq!(
            reached,
            vec![
                None,
                None,
                Some(30),
                Some(30),
                Some(14),
                Some(14),
                Some(14),
                Some(7),
                Some(7),
                Some(1),
                Some(1),
                Some(0),
                Some(0)
            ]
        );
    }

    fn certificate(
        thumbprint: &str,
        expires_on: &str,
    ) -> crate::saml::metadata::SigningCertificate {
        crate::saml::metadata::SigningCertificate {
            der_base64: String::new(),
            expires_on: expires_on.into(),
            thumbprint: thumbprint.into(),
        }
    }

    #[test]
    fn during_a_saml_certificate_rollover_only_the_newer_certificate_counts() {
        let config = super::super::ConnectionConfig {
            saml: Some(crate::saml::IdentityProvider {
                entity_id: "https://sts.windows.net/x/".into(),
                login_url: "https://login.microsoftonline.com/x/saml2".into(),
                logout_url: None,
                certificates: vec![
                    certificate("OLD", "2026-12-10"),
                    certificate("NEW", "2029-12-01"),
                ],
                metadata_url: None,
            }),
            ..Default::default()
        };
        let today = date!(2026 - 12 - 06);
        assert!(expiring(&config, today).is_empty());
        assert_eq!(expired_on(&config, date!(2027 - 01 - 01)), None);
        assert_eq!(
            expired_on(&config, date!(2029 - 12 - 02)),
            Some(date!(2029 - 12 - 01))
        );
    }

    #[test]
    fn a_secret_is_expiring_within_30_days_and_expired_the_day_after_its_date() {
        let config = super::super::ConnectionConfig {
            secret: Some(super::super::StoredSecret {
                sealed: String::new(),
                last4: "Ab1x".into(),
                expires_on: "2026-12-16".into(),
            }),
            ..Default::default()
        };
        let soon = expiring(&config, date!(2026 - 12 - 06));
        assert_eq!(soon.len(), 1);
        assert_eq!(soon[0].describe(), "The client secret …Ab1x");
        assert_eq!(soon[0].days_left(date!(2026 - 12 - 06)), 10);
        assert!(expiring(&config, date!(2026 - 11 - 15)).is_empty());
        assert_eq!(expired_on(&config, date!(2026 - 12 - 16)), None);
        assert_eq!(
            expired_on(&config, date!(2026 - 12 - 17)),
            Some(date!(2026 - 12 - 16))
        );
    }
}
