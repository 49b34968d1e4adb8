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
use ring::signature::{
    EcdsaKeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use sha2::{Digest, Sha256};
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;

pub const ES256: &str = "ES256";
/// For applications whose libraries know only RSA; made when the first one asks.
pub const RS256: &str = "RS256";
/// How long before it signs a rotated key is published.
pub const PUBLISH_AHEAD: time::Duration = time::Duration::hours(1);
/// How long a retired key stays published: longer than any token it signed lives.
pub const KEEP_AFTER_RETIRING: time::Duration = time::Duration::hours(25);
/// A first key counts as signing from this long before it was made: an instance whose clock is
/// a little behind that of the instance that made it signs with it too.
const CLOCKS_DISAGREE_BY: time::Duration = time::Duration::minutes(5);
/// How often an instance reads the keys again (another instance may have rotated them).
pub const RELOAD_AFTER: time::Duration = time::Duration::minutes(1);

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

/// An RS256 private key (RSA-2048), signing with ring.
pub struct Rs256Key {
    pair: RsaKeyPair,
    kid: String,
}

impl std::fmt::Debug for Rs256Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rs256Key").field("kid", &self.kid).finish()
    }
}

impl Rs256Key {
    /// From the key's PKCS#1 DER.
    fn from_der(der: &[u8], kid: String) -> Result<Self, ProviderError> {
        let pair = RsaKeyPair::from_der(der)
            .map_err(|e| ProviderError::Key(format!("RS256 key unreadable: {e}")))?;
        Ok(Rs256Key { pair, kid })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key's modulus and exponent, big-endian.
    fn public(&self) -> (Vec<u8>, Vec<u8>) {
        let public: ring::rsa::PublicKeyComponents<Vec<u8>> = self.pair.public().into();
        (public.n, public.e)
    }
}

impl PrivateSigningKey for Rs256Key {
    type VerificationKey = CoreJsonWebKey;

    fn sign(
        &self,
        signature_alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, SigningError> {
        if *signature_alg != CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256 {
            return Err(SigningError::UnsupportedAlg(format!("{signature_alg:?}")));
        }
        let mut signature = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| SigningError::CryptoError)?;
        Ok(signature)
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        let (n, e) = self.public();
        CoreJsonWebKey::new_rsa(n, e, Some(JsonWebKeyId::new(self.kid.clone())))
    }
}

/// The key's thumbprint (RFC 7638), its `kid`: the SHA-256 of its required members in
/// lexical order.
fn thumbprint(members: &[(&str, String)]) -> String {
    let canonical = members
        .iter()
        .map(|(name, value)| format!(r#""{name}":"{value}""#))
        .collect::<Vec<_>>()
        .join(",");
    URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{{{canonical}}}").as_bytes()))
}

fn ec_thumbprint(x: &[u8], y: &[u8]) -> String {
    thumbprint(&[
        ("crv", "P-256".into()),
        ("kty", "EC".into()),
        ("x", URL_SAFE_NO_PAD.encode(x)),
        ("y", URL_SAFE_NO_PAD.encode(y)),
    ])
}

fn rsa_thumbprint(n: &[u8], e: &[u8]) -> String {
    thumbprint(&[
        ("e", URL_SAFE_NO_PAD.encode(e)),
        ("kty", "RSA".into()),
        ("n", URL_SAFE_NO_PAD.encode(n)),
    ])
}

/// A new key of `alg`, sealed for storage, signing from `signs_from`. An RSA key takes a
/// moment to make: call it off the async threads.
fn generate(
    alg: &str,
    sealing_key: &SealingKey,
    now: OffsetDateTime,
    signs_from: OffsetDateTime,
) -> Result<SigningKeyRecord, ProviderError> {
    let (private, kid, public) = if alg == RS256 {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
            .map_err(|e| ProviderError::Key(format!("generating a key failed: {e}")))?;
        let der = key
            .to_pkcs1_der()
            .map_err(|e| ProviderError::Key(e.to_string()))?
            .as_bytes()
            .to_vec();
        let key = Rs256Key::from_der(&der, String::new())?;
        let (n, e) = key.public();
        let kid = rsa_thumbprint(&n, &e);
        let public = Rs256Key {
            kid: kid.clone(),
            ..key
        }
        .as_verification_key();
        (der, kid, public)
    } else {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|e| ProviderError::Key(format!("generating a key failed: {e}")))?;
        let key = Es256Key::from_pkcs8(pkcs8.as_ref(), String::new())?;
        let (x, y) = key.coordinates();
        let kid = ec_thumbprint(&x, &y);
        let public = Es256Key {
            kid: kid.clone(),
            ..key
        }
        .as_verification_key();
        (pkcs8.as_ref().to_vec(), kid, public)
    };
    let public_jwk =
        serde_json::to_string(&public).map_err(|e| ProviderError::Key(e.to_string()))?;
    Ok(SigningKeyRecord {
        kid,
        alg: alg.into(),
        sealed_private_key: sealing_key.seal(&private, SEALING_CONTEXT)?,
        public_jwk,
        created_at: crate::clock::to_millis(now),
        signs_from: crate::clock::to_millis(signs_from),
        retired_at: None,
    })
}

/// `generate` on a blocking thread: making an RSA key takes long enough to stall the async
/// threads' other requests.
async fn generate_off_thread(
    alg: &'static str,
    sealing_key: &SealingKey,
    now: OffsetDateTime,
    signs_from: OffsetDateTime,
) -> Result<SigningKeyRecord, ProviderError> {
    let sealing = sealing_key.clone();
    tokio::task::spawn_blocking(move || generate(alg, &sealing, now, signs_from))
        .await
        .map_err(|e| ProviderError::Key(e.to_string()))?
}

/// A key that signs: the ES256 one, or the RS256 one for applications that ask for it.
pub enum Signer<'a> {
    Es256(&'a Es256Key),
    Rs256(&'a Rs256Key),
}

impl Signer<'_> {
    pub fn algorithm(&self) -> CoreJwsSigningAlgorithm {
        match self {
            Signer::Es256(_) => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            Signer::Rs256(_) => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        }
    }

    pub fn kid(&self) -> &str {
        match self {
            Signer::Es256(k) => k.kid(),
            Signer::Rs256(k) => k.kid(),
        }
    }
}

impl PrivateSigningKey for Signer<'_> {
    type VerificationKey = CoreJsonWebKey;

    fn sign(
        &self,
        signature_alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, SigningError> {
        match self {
            Signer::Es256(k) => k.sign(signature_alg, message),
            Signer::Rs256(k) => k.sign(signature_alg, message),
        }
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        match self {
            Signer::Es256(k) => k.as_verification_key(),
            Signer::Rs256(k) => k.as_verification_key(),
        }
    }
}

/// The keys as read at one moment: those that sign, and all that are published.
pub struct KeySet {
    pub signing: Es256Key,
    /// Made when the first application that signs with RS256 needs it.
    pub rs256: Option<Rs256Key>,
    pub published: CoreJsonWebKeySet,
}

impl KeySet {
    /// The key that signs with `alg`, if there is one yet.
    pub fn signer(&self, alg: &str) -> Option<Signer<'_>> {
        if alg == RS256 {
            self.rs256.as_ref().map(Signer::Rs256)
        } else {
            Some(Signer::Es256(&self.signing))
        }
    }
}

/// The keys, read from the database and kept for a minute (by Gatehouse's clock).
#[derive(Default)]
pub struct SigningKeys {
    loaded: RwLock<Option<(OffsetDateTime, Arc<KeySet>)>>,
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
            let age = now - *at;
            if age >= time::Duration::ZERO && age < RELOAD_AFTER {
                return Ok(keys.clone());
            }
        }
        self.reload(storage, sealing_key, now).await
    }

    /// The keys with an RS256 key among them: made (and published at once, as a first key)
    /// the first time an application that signs with RS256 needs it.
    pub async fn with_rs256(
        &self,
        storage: &Storage,
        sealing_key: &SealingKey,
        now: OffsetDateTime,
    ) -> Result<Arc<KeySet>, ProviderError> {
        let keys = self.current(storage, sealing_key, now).await?;
        if keys.rs256.is_some() {
            return Ok(keys);
        }
        // Another instance may have made it since this one last read the keys.
        let keys = self.reload(storage, sealing_key, now).await?;
        if keys.rs256.is_some() {
            return Ok(keys);
        }
        add_first_key(RS256, storage, sealing_key, now).await?;
        self.reload(storage, sealing_key, now).await
    }

    async fn reload(
        &self,
        storage: &Storage,
        sealing_key: &SealingKey,
        now: OffsetDateTime,
    ) -> Result<Arc<KeySet>, ProviderError> {
        let keys = Arc::new(read(storage, sealing_key, now).await?);
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Some((now, keys.clone()));
        Ok(keys)
    }

    /// Publishes a new key of each algorithm in use that signs from `PUBLISH_AHEAD` on; the
    /// keys signing now retire then, and stay published for `KEEP_AFTER_RETIRING` after.
    /// Answers the new keys' ids.
    pub async fn rotate(
        &self,
        storage: &Storage,
        sealing_key: &SealingKey,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, ProviderError> {
        let keys = self.current(storage, sealing_key, now).await?;
        let mut algs = vec![ES256];
        if keys.rs256.is_some() {
            algs.push(RS256);
        }
        let mut kids = Vec::new();
        for alg in algs {
            let next = generate_off_thread(alg, sealing_key, now, now + PUBLISH_AHEAD).await?;
            storage.add_signing_key(&next).await?;
            storage.retire_signing_keys_before(alg, &next).await?;
            kids.push(next.kid);
        }
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(kids)
    }
}

/// Makes the first key of `alg` and stores it, unless another instance stored one first: only
/// one first key of each algorithm is kept, and every instance reads that one. It counts as
/// signing from `CLOCKS_DISAGREE_BY` before now.
async fn add_first_key(
    alg: &'static str,
    storage: &Storage,
    sealing_key: &SealingKey,
    now: OffsetDateTime,
) -> Result<(), ProviderError> {
    let first = generate_off_thread(alg, sealing_key, now, now - CLOCKS_DISAGREE_BY).await?;
    storage.add_first_signing_key(&first).await?;
    Ok(())
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
    if !records.iter().any(|r| r.alg == ES256 && signs_now(r)) {
        add_first_key(ES256, storage, sealing_key, now).await?;
        records = storage.list_signing_keys(now - KEEP_AFTER_RETIRING).await?;
    }
    // Of the keys that sign now, the newest of each algorithm.
    let newest = |alg: &str| {
        records
            .iter()
            .filter(|r| r.alg == alg && signs_now(r))
            .max_by(|a, b| (a.signs_from, &a.kid).cmp(&(b.signs_from, &b.kid)))
    };
    let es256 = newest(ES256).ok_or_else(|| ProviderError::Key("no signing key".into()))?;
    let signing = Es256Key::from_pkcs8(
        &sealing_key.open(&es256.sealed_private_key, SEALING_CONTEXT)?,
        es256.kid.clone(),
    )?;
    let rs256 = match newest(RS256) {
        Some(r) => Some(Rs256Key::from_der(
            &sealing_key.open(&r.sealed_private_key, SEALING_CONTEXT)?,
            r.kid.clone(),
        )?),
        None => None,
    };
    let published = records
        .iter()
        .map(|r| serde_json::from_str::<CoreJsonWebKey>(&r.public_jwk))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ProviderError::Key(format!("a published key is unreadable: {e}")))?;
    Ok(KeySet {
        signing,
        rs256,
        published: CoreJsonWebKeySet::new(published),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use openidconnect::JsonWebKey;

    #[test]
    fn each_key_signs_only_its_algorithm_and_verifies_with_its_published_key() {
        let sealing = SealingKey::generate();
        let now = OffsetDateTime::now_utc();
        let es = CoreJwsSigningAlgorithm::EcdsaP256Sha256;
        let rs = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
        for (name, alg, other) in [(ES256, &es, &rs), (RS256, &rs, &es)] {
            let record = generate(name, &sealing, now, now).unwrap();
            let private = sealing
                .open(&record.sealed_private_key, SEALING_CONTEXT)
                .unwrap();
            let (es256, rs256);
            let signer = if name == RS256 {
                rs256 = Rs256Key::from_der(&private, record.kid.clone()).unwrap();
                Signer::Rs256(&rs256)
            } else {
                es256 = Es256Key::from_pkcs8(&private, record.kid.clone()).unwrap();
                Signer::Es256(&es256)
            };
            assert_eq!(&signer.algorithm(), alg);
            let signature = signer.sign(alg, b"message").unwrap();
            let published: CoreJsonWebKey = serde_json::from_str(&record.public_jwk).unwrap();
            published
                .verify_signature(alg, b"message", &signature)
                .unwrap();
            assert!(published
                .verify_signature(alg, b"another", &signature)
                .is_err());
            assert_eq!(published.key_id().unwrap().as_str(), record.kid);
            assert!(signer.sign(other, b"message").is_err(), "{name}");
        }
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
            ec_thumbprint(&x, &y),
            "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"
        );
        // RFC 7638 §3.1's own example.
        let n = URL_SAFE_NO_PAD.decode("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw").unwrap();
        let e = URL_SAFE_NO_PAD.decode("AQAB").unwrap();
        assert_eq!(
            rsa_thumbprint(&n, &e),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
