//! The keys that sign the ID tokens Gatehouse issues (ES256, P-256). The first start makes one;
//! a rotation publishes the next key a while before it signs, so applications that cache the
//! key set have it by then, and keeps the old one published until the tokens it signed have
//! expired. Every instance reads the keys from the database, so instances on one PostgreSQL
//! publish and sign with the same keys.

use super::ProviderError;
use crate::crypto::sealing::SealingKey;
use crate::storage::{SigningKeyRecord, Storage};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{
    CoreJsonCurveType, CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{JsonWebKeyId, PrivateSigningKey, SigningError};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use sha2::{Digest, Sha256};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

pub const ES256: &str = "ES256";
/// How long before it signs a rotated key is published.
pub const PUBLISH_AHEAD: time::Duration = time::Duration::hours(1);
/// How long a retired key stays published: longer than any token it signed lives.
pub const KEEP_AFTER_RETIRING: time::Duration = time::Duration::hours(25);
/// How often an instance reads the keys again (another instance may have rotated them).
const RELOAD_AFTER: Duration = Duration::from_secs(60);

const SEALING_CONTEXT: &str = "provider signing key";

/// An ES256 private key, as openidconnect signs with it.
pub struct Es256Key {
    pair: EcdsaKeyPair,
    kid: String,
}

impl std::fmt::Debug for Es256Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Es256Key").field("kid", &self.kid).finish()
    }
}

impl Es256Key {
    fn from_pkcs8(pkcs8: &[u8], kid: String) -> Result<Self, ProviderError> {
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|e| ProviderError::Key(format!("ES256 key unreadable: {e}")))?;
        Ok(Es256Key { pair, kid })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key's coordinates (the point after its 0x04 prefix).
    fn coordinates(&self) -> (Vec<u8>, Vec<u8>) {
        let point = self.pair.public_key().as_ref();
        (point[1..33].to_vec(), point[33..65].to_vec())
    }
}

impl PrivateSigningKey for Es256Key {
    type VerificationKey = CoreJsonWebKey;

    fn sign(
        &self,
        signature_alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, SigningError> {
        if *signature_alg != CoreJwsSigningAlgorithm::EcdsaP256Sha256 {
            return Err(SigningError::UnsupportedAlg(format!("{signature_alg:?}")));
        }
        self.pair
            .sign(&SystemRandom::new(), message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| SigningError::CryptoError)
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        let (x, y) = self.coordinates();
        CoreJsonWebKey::new_ec(
            x,
            y,
            CoreJsonCurveType::P256,
            Some(JsonWebKeyId::new(self.kid.clone())),
        )
    }
}

/// The key's thumbprint (RFC 7638), its `kid`.
fn thumbprint(x: &[u8], y: &[u8]) -> String {
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(x),
        URL_SAFE_NO_PAD.encode(y)
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A new ES256 key, sealed for storage, signing from `signs_from`.
fn generate(
    sealing_key: &SealingKey,
    now: OffsetDateTime,
    signs_from: OffsetDateTime,
) -> Result<SigningKeyRecord, ProviderError> {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|e| ProviderError::Key(format!("generating a key failed: {e}")))?;
    let key = Es256Key::from_pkcs8(pkcs8.as_ref(), String::new())?;
    let (x, y) = key.coordinates();
    let key = Es256Key {
        kid: thumbprint(&x, &y),
        ..key
    };
    let public_jwk = serde_json::to_string(&key.as_verification_key())
        .map_err(|e| ProviderError::Key(e.to_string()))?;
    Ok(SigningKeyRecord {
        kid: key.kid.clone(),
        alg: ES256.into(),
        sealed_private_key: sealing_key.seal(pkcs8.as_ref(), SEALING_CONTEXT)?,
        public_jwk,
        created_at: crate::clock::to_millis(now),
        signs_from: crate::clock::to_millis(signs_from),
        retired_at: None,
    })
}

/// The keys as read at one moment: the one that signs, and all that are published.
pub struct KeySet {
    pub signing: Es256Key,
    pub published: CoreJsonWebKeySet,
}

/// The keys, read from the database and kept for a minute.
#[derive(Default)]
pub struct SigningKeys {
    loaded: RwLock<Option<(Instant, Arc<KeySet>)>>,
}

impl SigningKeys {
    /// The current keys: read again after a minute, made on the very first start.
    pub async fn current(
        &self,
        storage: &Storage,
        sealing_key: &SealingKey,
        now: OffsetDateTime,
    ) -> Result<Arc<KeySet>, ProviderError> {
        if let Some((at, keys)) = self
            .loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            if at.elapsed() < RELOAD_AFTER {
                return Ok(keys.clone());
            }
        }
        let keys = Arc::new(read(storage, sealing_key, now).await?);
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), keys.clone()));
        Ok(keys)
    }

    /// Publishes a new key that signs from `PUBLISH_AHEAD` on; the keys signing now retire
    /// then, and stay published for `KEEP_AFTER_RETIRING` after. Answers the new key's id.
    pub async fn rotate(
        &self,
        storage: &Storage,
        sealing_key: &SealingKey,
        now: OffsetDateTime,
    ) -> Result<String, ProviderError> {
        let next = generate(sealing_key, now, now + PUBLISH_AHEAD)?;
        storage.add_signing_key(&next).await?;
        storage.retire_signing_keys_before(ES256, &next).await?;
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(next.kid)
    }
}

/// Reads the published keys; makes the first one when there is none yet.
async fn read(
    storage: &Storage,
    sealing_key: &SealingKey,
    now: OffsetDateTime,
) -> Result<KeySet, ProviderError> {
    let mut records = storage.list_signing_keys(now - KEEP_AFTER_RETIRING).await?;
    let at = crate::clock::to_millis(now);
    let signs_now =
        |r: &SigningKeyRecord| r.signs_from <= at && r.retired_at.is_none_or(|t| t > at);
    if !records.iter().any(signs_now) {
        let first = generate(sealing_key, now, now)?;
        storage.add_signing_key(&first).await?;
        records.push(first);
    }
    // Of the keys that sign now, the newest; two instances that made a first key at the same
    // moment pick the same one.
    let signer = records
        .iter()
        .filter(|r| signs_now(r))
        .max_by(|a, b| (a.signs_from, &a.kid).cmp(&(b.signs_from, &b.kid)))
        .ok_or_else(|| ProviderError::Key("no signing key".into()))?;
    let pkcs8 = sealing_key.open(&signer.sealed_private_key, SEALING_CONTEXT)?;
    let signing = Es256Key::from_pkcs8(&pkcs8, signer.kid.clone())?;
    let published = records
        .iter()
        .map(|r| serde_json::from_str::<CoreJsonWebKey>(&r.public_jwk))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ProviderError::Key(format!("a published key is unreadable: {e}")))?;
    Ok(KeySet {
        signing,
        published: CoreJsonWebKeySet::new(published),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use openidconnect::JsonWebKey;

    #[test]
    fn a_signature_verifies_with_the_published_key() {
        let sealing = SealingKey::generate();
        let now = OffsetDateTime::now_utc();
        let record = generate(&sealing, now, now).unwrap();
        let pkcs8 = sealing
            .open(&record.sealed_private_key, SEALING_CONTEXT)
            .unwrap();
        let key = Es256Key::from_pkcs8(&pkcs8, record.kid.clone()).unwrap();
        let alg = CoreJwsSigningAlgorithm::EcdsaP256Sha256;
        let signature = key.sign(&alg, b"message").unwrap();
        let published: CoreJsonWebKey = serde_json::from_str(&record.public_jwk).unwrap();
        published
            .verify_signature(&alg, b"message", &signature)
            .unwrap();
        assert!(published
            .verify_signature(&alg, b"another", &signature)
            .is_err());
        assert_eq!(published.key_id().unwrap().as_str(), record.kid);
        assert!(key
            .sign(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, b"m")
            .is_err());
    }

    #[test]
    fn the_key_id_is_the_rfc_7638_thumbprint() {
        // RFC 7638's own example uses an RSA key; this P-256 point's thumbprint was computed
        // with `jose` (node): the canonical JSON members in lexical order, no spaces.
        let x = URL_SAFE_NO_PAD
            .decode("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU")
            .unwrap();
        let y = URL_SAFE_NO_PAD
            .decode("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0")
            .unwrap();
        assert_eq!(
            thumbprint(&x, &y),
            "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"
        );
    }
}
