//! How Gatehouse proves at a directory's token endpoint that it is the app registration: a
//! client secret, or a certificate whose private key signs a client assertion
//! (`private_key_jwt`, as Entra documents "certificate credentials": RS256, the certificate's
//! SHA-256 thumbprint as `x5t#S256`, `aud` the token endpoint, `iss` and `sub` the client id,
//! a unique `jti`, valid for five minutes).

use crate::crypto::certificates::{self, CertificateError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// `client_assertion_type` of a signed JWT (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long a client assertion is valid.
const ASSERTION_LIFETIME: time::Duration = time::Duration::minutes(5);

/// An app registration's credential, opened for a call to the directory; it never leaves
/// this process.
#[derive(Clone)]
pub enum ClientCredential {
    Secret(String),
    Certificate(ClientCertificate),
}

/// A certificate Gatehouse holds the private key of.
#[derive(Clone)]
pub struct ClientCertificate {
    /// PKCS#8 DER.
    pub key_pkcs8_der: Vec<u8>,
    /// SHA-256 of the certificate's DER.
    pub sha256_thumbprint: Vec<u8>,
}

impl std::fmt::Debug for ClientCredential {
    /// Never the secret or the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientCredential::Secret(_) => f.write_str("ClientCredential::Secret(…)"),
            ClientCredential::Certificate(c) => write!(
                f,
                "ClientCredential::Certificate({})",
                URL_SAFE_NO_PAD.encode(&c.sha256_thumbprint)
            ),
        }
    }
}

impl ClientCredential {
    /// What tells two credentials apart without showing either (for caches).
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        match self {
            ClientCredential::Secret(secret) => {
                format!("secret:{}", URL_SAFE_NO_PAD.encode(Sha256::digest(secret)))
            }
            ClientCredential::Certificate(c) => {
                format!(
                    "certificate:{}",
                    URL_SAFE_NO_PAD.encode(&c.sha256_thumbprint)
                )
            }
        }
    }

    /// The form fields that authenticate `client_id` at `token_endpoint`: `client_secret`, or
    /// a client assertion signed now.
    pub fn token_fields(
        &self,
        client_id: &str,
        token_endpoint: &str,
    ) -> Result<Vec<(&'static str, String)>, CertificateError> {
        Ok(match self {
            ClientCredential::Secret(secret) => vec![
                ("client_id", client_id.to_string()),
                ("client_secret", secret.clone()),
            ],
            ClientCredential::Certificate(certificate) => vec![
                ("client_id", client_id.to_string()),
                ("client_assertion_type", JWT_BEARER.to_string()),
                (
                    "client_assertion",
                    client_assertion(certificate, client_id, token_endpoint)?,
                ),
            ],
        })
    }
}

/// A JWT with `header` and `claims`, signed RS256 with the certificate's key.
fn signed(
    certificate: &ClientCertificate,
    header: &serde_json::Value,
    claims: &serde_json::Value,
) -> Result<String, CertificateError> {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = certificates::sign_rs256(&certificate.key_pkcs8_der, signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// The audience of a proof of possession for Graph's `addKey` and `removeKey`.
const PROOF_AUDIENCE: &str = "00000002-0000-0000-c000-000000000000";

/// The proof of possession Graph's `addKey` and `removeKey` ask for, as Graph documents it:
/// signed with a current certificate of the application, `aud`
/// `00000002-0000-0000-c000-000000000000`, `iss` the application's object id (not its client
/// id), valid for 10 minutes. `sha1_thumbprint` is the certificate's SHA-1 in hex, as Entra
/// shows it (`x5t`).
pub fn proof_of_possession(
    certificate: &ClientCertificate,
    sha1_thumbprint: &str,
    application_object_id: &str,
) -> Result<String, CertificateError> {
    let sha1: Vec<u8> = (0..sha1_thumbprint.len() / 2)
        .filter_map(|i| u8::from_str_radix(sha1_thumbprint.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    let now = time::OffsetDateTime::now_utc();
    let header = serde_json::json!({
        "alg": "RS256",
        "typ": "JWT",
        "x5t": URL_SAFE_NO_PAD.encode(sha1),
    });
    let claims = serde_json::json!({
        "aud": PROOF_AUDIENCE,
        "iss": application_object_id,
        "nbf": now.unix_timestamp(),
        "exp": (now + time::Duration::minutes(10)).unix_timestamp(),
    });
    signed(certificate, &header, &claims)
}

/// A client assertion for one token request. Its times are the system clock's: the directory
/// checks them against its own.
pub fn client_assertion(
    certificate: &ClientCertificate,
    client_id: &str,
    token_endpoint: &str,
) -> Result<String, CertificateError> {
    let now = time::OffsetDateTime::now_utc();
    let header = serde_json::json!({
        "alg": "RS256",
        "typ": "JWT",
        "x5t#S256": URL_SAFE_NO_PAD.encode(&certificate.sha256_thumbprint),
    });
    let claims = serde_json::json!({
        "aud": token_endpoint,
        "iss": client_id,
        "sub": client_id,
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now.unix_timestamp(),
        "iat": now.unix_timestamp(),
        "exp": (now + ASSERTION_LIFETIME).unix_timestamp(),
    });
    signed(certificate, &header, &claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::hash::MessageDigest;

    fn part(jwt: &str, i: usize) -> serde_json::Value {
        let bytes = URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(i).unwrap())
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn a_client_assertion_names_the_certificate_the_client_and_the_token_endpoint_and_verifies() {
        let made = certificates::make("Gatehouse", time::OffsetDateTime::now_utc()).unwrap();
        let certificate = ClientCertificate {
            key_pkcs8_der: made.key_pkcs8_der.clone(),
            sha256_thumbprint: certificates::sha256_thumbprint(&made.certificate_der).unwrap(),
        };
        let endpoint = "https://login.microsoftonline.com/tenant/oauth2/v2.0/token";
        let one = client_assertion(&certificate, "client-id", endpoint).unwrap();
        let two = client_assertion(&certificate, "client-id", endpoint).unwrap();
        let header = part(&one, 0);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(
            header["x5t#S256"],
            URL_SAFE_NO_PAD.encode(&certificate.sha256_thumbprint)
        );
        let claims = part(&one, 1);
        assert_eq!(claims["aud"], endpoint);
        assert_eq!(claims["iss"], "client-id");
        assert_eq!(claims["sub"], "client-id");
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            300
        );
        assert_ne!(
            claims["jti"],
            part(&two, 1)["jti"],
            "each assertion is unique"
        );

        let (input, signature) = one.rsplit_once('.').unwrap();
        let public = openssl::x509::X509::from_der(&made.certificate_der)
            .unwrap()
            .public_key()
            .unwrap();
        let mut verifier = openssl::sign::Verifier::new(MessageDigest::sha256(), &public).unwrap();
        verifier.update(input.as_bytes()).unwrap();
        assert!(verifier
            .verify(&URL_SAFE_NO_PAD.decode(signature).unwrap())
            .unwrap());
        let fields = ClientCredential::Certificate(certificate)
            .token_fields("client-id", endpoint)
            .unwrap();
        assert!(fields.iter().all(|(name, _)| *name != "client_secret"));
        assert!(fields.contains(&("client_assertion_type", JWT_BEARER.to_string())));
    }
}
