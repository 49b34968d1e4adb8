//! The certificates Gatehouse makes for itself: an RSA key pair with a self-signed certificate
//! that an admin uploads to an app registration ("Certificates & secrets"), and the signatures
//! made with that key. OpenSSL (through the `openssl` crate, already used for SAML) makes the
//! key, the certificate and the signatures.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use openssl::x509::{X509NameBuilder, X509};
use time::OffsetDateTime;

/// How long a certificate Gatehouse makes is valid: two years.
pub const VALID_FOR_DAYS: i64 = 730;
/// The RSA key's size.
pub const KEY_BITS: u32 = 2048;

#[derive(Debug, thiserror::Error)]
#[error("making or using a certificate failed: {0}")]
pub struct CertificateError(String);

impl From<openssl::error::ErrorStack> for CertificateError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        CertificateError(e.to_string())
    }
}

/// A key pair and its self-signed certificate.
pub struct MadeCertificate {
    /// The private key, PKCS#8 DER: seal it before storing it.
    pub key_pkcs8_der: Vec<u8>,
    /// The certificate, DER (what a `.cer` file holds).
    pub certificate_der: Vec<u8>,
    pub expires_on: time::Date,
}

/// A new RSA key and a certificate for it, named `common_name`, valid two years from `now`.
/// Making the key takes a moment: call it off the async threads.
pub fn make(common_name: &str, now: OffsetDateTime) -> Result<MadeCertificate, CertificateError> {
    let key = PKey::from_rsa(Rsa::generate(KEY_BITS)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", common_name)?;
    let name = name.build();
    let mut serial = BigNum::new()?;
    serial.rand(128, MsbOption::MAYBE_ZERO, false)?;
    let not_after = now + time::Duration::days(VALID_FOR_DAYS);
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    let (from, until) = (
        Asn1Time::from_unix(now.unix_timestamp())?,
        Asn1Time::from_unix(not_after.unix_timestamp())?,
    );
    builder.set_not_before(&from)?;
    builder.set_not_after(&until)?;
    builder.sign(&key, MessageDigest::sha256())?;
    Ok(MadeCertificate {
        key_pkcs8_der: key.private_key_to_pkcs8()?,
        certificate_der: builder.build().to_der()?,
        expires_on: not_after.date(),
    })
}

/// The SHA-1 thumbprint of a DER certificate in upper-case hex, as the Entra admin center
/// shows it under "Certificates & secrets".
pub fn sha1_thumbprint(certificate_der: &[u8]) -> Result<String, CertificateError> {
    let digest = openssl::hash::hash(MessageDigest::sha1(), certificate_der)?;
    Ok(digest.iter().map(|b| format!("{b:02X}")).collect())
}

/// The SHA-256 thumbprint of a DER certificate (the `x5t#S256` of a client assertion).
pub fn sha256_thumbprint(certificate_der: &[u8]) -> Result<Vec<u8>, CertificateError> {
    Ok(openssl::hash::hash(MessageDigest::sha256(), certificate_der)?.to_vec())
}

/// An RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256) of `message` with the PKCS#8 key.
pub fn sign_rs256(key_pkcs8_der: &[u8], message: &[u8]) -> Result<Vec<u8>, CertificateError> {
    let key = PKey::private_key_from_pkcs8(key_pkcs8_der)?;
    let mut signer = Signer::new(MessageDigest::sha256(), &key)?;
    signer.update(message)?;
    Ok(signer.sign_to_vec()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_certificate_is_rsa_2048_valid_two_years_and_verifies_its_key_signatures() {
        let now = OffsetDateTime::now_utc();
        let made = make("Gatehouse for Contoso", now).unwrap();
        let certificate = X509::from_der(&made.certificate_der).unwrap();
        let public = certificate.public_key().unwrap();
        assert_eq!(public.rsa().unwrap().size() * 8, KEY_BITS);
        assert_eq!(made.expires_on, (now + time::Duration::days(730)).date());
        let subject = certificate
            .subject_name()
            .entries()
            .next()
            .unwrap()
            .data()
            .to_string()
            .unwrap();
        assert_eq!(subject, "Gatehouse for Contoso");
        let signature = sign_rs256(&made.key_pkcs8_der, b"header.claims").unwrap();
        let mut verifier = openssl::sign::Verifier::new(MessageDigest::sha256(), &public).unwrap();
        verifier.update(b"header.claims").unwrap();
        assert!(verifier.verify(&signature).unwrap());
        assert_eq!(sha1_thumbprint(&made.certificate_der).unwrap().len(), 40);
        assert_eq!(sha256_thumbprint(&made.certificate_der).unwrap().len(), 32);
    }
}
