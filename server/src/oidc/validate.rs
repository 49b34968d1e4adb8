//! ID token validation (OpenID Connect Core 3.1.3.7) held to the security brief: RS256 only and
//! only when the directory's discovery document lists it; the signature against the directory's
//! keys; the issuer exactly (or, for a `{tenantid}` issuer template such as Entra's `common` and
//! `organizations` documents, the template with the token's `tid` substituted); the `tid` equal
//! to the organization's directory; the audience equal to the client ID; `exp`, `nbf` and `iat`
//! within the allowed clock skew; the nonce equal to the one sent.
//!
//! The signature is checked with ring (`signature.rs`); the `openidconnect` crate checks the
//! audience, issuer, expiry and nonce; this module adds what it leaves to the caller (`nbf`,
//! `iat`, the template issuer and `tid`).

use super::{EntraClaims, Identity, PassedOn};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreGenderClaim, CoreJweContentEncryptionAlgorithm};
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{
    ClaimsVerificationError, ClientId, IdToken, IdTokenVerifier, Nonce, SignatureVerificationError,
};
use serde::Deserialize;
use std::time::Duration;
use time::OffsetDateTime;

/// The placeholder in a multi-directory issuer.
const TENANT_PLACEHOLDER: &str = "{tenantid}";
/// The only signing algorithm Gatehouse accepts.
const RS256: &str = "RS256";

pub type EntraIdToken = IdToken<
    EntraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// What the token must match.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub client_id: &'a str,
    /// The organization's directory (tenant) ID.
    pub tenant_id: &'a str,
    pub nonce: &'a str,
    pub now: OffsetDateTime,
    /// At most five minutes.
    pub skew: Duration,
}

/// Why a token was refused; each has an audit reason and a plain message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Malformed,
    Algorithm,
    UnknownKey,
    Signature,
    Issuer,
    OtherDirectory,
    Audience,
    Expired,
    NotYetValid,
    Nonce,
    MissingIdentity,
}

impl Rejection {
    /// The short reason written to the audit log.
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::Malformed => "token_malformed",
            Rejection::Algorithm => "token_algorithm",
            Rejection::UnknownKey => "token_unknown_key",
            Rejection::Signature => "token_signature",
            Rejection::Issuer => "token_issuer",
            Rejection::OtherDirectory => "token_other_directory",
            Rejection::Audience => "token_audience",
            Rejection::Expired => "token_expired",
            Rejection::NotYetValid => "token_not_yet_valid",
            Rejection::Nonce => "token_nonce",
            Rejection::MissingIdentity => "token_missing_identity",
        }
    }

    /// What went wrong, in words for the person and their admin.
    pub fn message(self) -> &'static str {
        match self {
            Rejection::Malformed => "The directory's answer was not a valid ID token.",
            Rejection::Algorithm => {
                "The ID token was not signed with RS256, the only algorithm Gatehouse accepts."
            }
            Rejection::UnknownKey => {
                "The ID token was signed with a key the directory does not publish."
            }
            Rejection::Signature => "The ID token's signature is not valid.",
            Rejection::Issuer => "The ID token was issued by another directory or service.",
            Rejection::OtherDirectory => {
                "The account belongs to another directory than the one this organization connected."
            }
            Rejection::Audience => "The ID token was issued for another application.",
            Rejection::Expired => {
                "The ID token has expired. Check this computer's clock, then try again."
            }
            Rejection::NotYetValid => {
                "The ID token is not valid yet. Check this computer's clock, then try again."
            }
            Rejection::Nonce => "The ID token does not belong to this sign-in (wrong nonce).",
            Rejection::MissingIdentity => {
                "The ID token does not name the directory user (the tid and oid claims)."
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
}

fn decode_part<T: serde::de::DeserializeOwned>(raw: &str, index: usize) -> Option<T> {
    let part = raw.split('.').nth(index)?;
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The key id of a token's header, to notice keys the cache does not know yet.
pub fn key_id(raw: &str) -> Option<String> {
    decode_part::<Header>(raw, 0).and_then(|h| h.kid)
}

/// Whether the directory's key set has this key id.
pub fn has_key(metadata: &CoreProviderMetadata, kid: &str) -> bool {
    use openidconnect::JsonWebKey;
    metadata
        .jwks()
        .keys()
        .iter()
        .any(|k| k.key_id().map(|id| id.as_str()) == Some(kid))
}

/// Validates the ID token against the directory's `metadata`; answers who signed in. `token` is
/// the token as the token response parsed it, and `raw` its compact form, whose header and
/// signature are checked here.
pub fn validate(
    token: &EntraIdToken,
    raw: &str,
    metadata: &CoreProviderMetadata,
    expected: &Expected<'_>,
) -> Result<Identity, Rejection> {
    let header: Header = decode_part(raw, 0).ok_or(Rejection::Malformed)?;
    let listed = metadata
        .id_token_signing_alg_values_supported()
        .contains(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
    if header.alg.as_deref() != Some(RS256) || !listed {
        return Err(Rejection::Algorithm);
    }
    super::signature::verify_rs256(raw, header.kid.as_deref(), metadata.jwks())?;

    let issuer = metadata.issuer().as_str();
    let templated = issuer.contains(TENANT_PLACEHOLDER);
    let skew = time::Duration::try_from(expected.skew.min(Duration::from_secs(300)))
        .unwrap_or(time::Duration::ZERO);
    let now = expected.now;
    let to_chrono =
        |t: OffsetDateTime| chrono_utc(t.unix_timestamp(), t.nanosecond()).unwrap_or_default();
    // `exp` is compared with the time function: looking `skew` into the past allows it.
    let earliest = to_chrono(now - skew);
    let latest = to_chrono(now + skew);
    let verifier = IdTokenVerifier::new_public_client(
        ClientId::new(expected.client_id.to_string()),
        metadata.issuer().clone(),
        CoreJsonWebKeySet::new(Vec::new()),
    )
    .set_allowed_algs(vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256])
    // Checked above with ring, against the directory's keys: this verifier holds none.
    .insecure_disable_signature_check()
    .require_issuer_match(!templated)
    .set_time_fn(move || earliest)
    .set_issue_time_verifier_fn(move |iat| {
        if iat > latest {
            Err(format!("issued in the future ({iat})"))
        } else {
            Ok(())
        }
    });
    let claims = token
        .claims(&verifier, &Nonce::new(expected.nonce.to_string()))
        .map_err(rejection_of)?;

    let extra = claims.additional_claims();
    if extra
        .nbf
        .is_some_and(|nbf| nbf > (now + skew).unix_timestamp())
    {
        return Err(Rejection::NotYetValid);
    }
    let (Some(tenant_id), Some(object_id)) = (extra.tid.clone(), extra.oid.clone()) else {
        return Err(Rejection::MissingIdentity);
    };
    if templated && claims.issuer().as_str() != issuer.replace(TENANT_PLACEHOLDER, &tenant_id) {
        return Err(Rejection::Issuer);
    }
    if !tenant_id.eq_ignore_ascii_case(expected.tenant_id) {
        return Err(Rejection::OtherDirectory);
    }
    Ok(Identity {
        tenant_id: tenant_id.to_ascii_lowercase(),
        object_id: object_id.to_ascii_lowercase(),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.to_string()),
        username: claims.preferred_username().map(|u| u.to_string()),
        email: claims.email().map(|e| e.to_string()),
        email_verified: match &extra.xms_edov {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => s == "true" || s == "1",
            _ => false,
        },
        sid: extra
            .sid
            .clone()
            .filter(|s| !s.is_empty() && s.len() <= 128),
        passed_on: PassedOn {
            roles: extra.roles.clone().unwrap_or_default(),
            amr: claims
                .auth_method_refs()
                .map(|refs| refs.iter().map(|r| r.to_string()).collect())
                .unwrap_or_default(),
        },
    })
}

fn chrono_utc(seconds: i64, nanos: u32) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(seconds, nanos)
}

fn rejection_of(e: ClaimsVerificationError) -> Rejection {
    match e {
        ClaimsVerificationError::SignatureVerification(s) => match s {
            SignatureVerificationError::NoMatchingKey
            | SignatureVerificationError::AmbiguousKeyId(_) => Rejection::UnknownKey,
            SignatureVerificationError::DisallowedAlg(_)
            | SignatureVerificationError::UnsupportedAlg(_)
            | SignatureVerificationError::NoSignature => Rejection::Algorithm,
            _ => Rejection::Signature,
        },
        ClaimsVerificationError::Expired(m) if m.starts_with("issued in the future") => {
            Rejection::NotYetValid
        }
        ClaimsVerificationError::Expired(_) => Rejection::Expired,
        ClaimsVerificationError::InvalidAudience(_) => Rejection::Audience,
        ClaimsVerificationError::InvalidIssuer(_) => Rejection::Issuer,
        ClaimsVerificationError::InvalidNonce(_) => Rejection::Nonce,
        ClaimsVerificationError::Unsupported(_) => Rejection::Algorithm,
        _ => Rejection::Malformed,
    }
}

#[cfg(test)]
mod tests {
    //! Hand-made tokens, signed with a test key, for each rule; the sign-in tests drive the
    //! same rules through the real flow with the local provider.
    use super::*;
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs1v15::SigningKey;
    use rsa::signature::{SignatureEncoding, Signer};
    use rsa::traits::PublicKeyParts;
    use serde_json::{json, Value};
    use std::str::FromStr;

    const KEY_PEM: &str = include_str!("testdata/unit-test-signing-key.pem");
    const TENANT: &str = "6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11";
    const OTHER_TENANT: &str = "2a7d9e4b-1c3f-4e5a-8b6d-9f0e1a2b3c4d";
    const CLIENT: &str = "c1a0d5e2-0000-4000-8000-000000000001";
    const HOST: &str = "https://login.example.test";

    fn key() -> rsa::RsaPrivateKey {
        rsa::RsaPrivateKey::from_pkcs1_pem(KEY_PEM).expect("test key")
    }

    fn metadata(issuer: &str, kid: &str) -> CoreProviderMetadata {
        let public = key().to_public_key();
        let jwks = json!({"keys": [{
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }]});
        let mut document: CoreProviderMetadata = serde_json::from_value(json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{HOST}/authorize"),
            "jwks_uri": format!("{HOST}/keys"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }))
        .expect("metadata");
        document = document.set_jwks(serde_json::from_value(jwks).expect("jwks"));
        document
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn claims() -> Value {
        let t = now().unix_timestamp();
        json!({
            "iss": format!("{HOST}/{TENANT}/v2.0"), "aud": CLIENT, "sub": "pairwise-sub",
            "iat": t, "nbf": t, "exp": t + 3600, "nonce": "n-1", "tid": TENANT,
            "oid": "3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f", "name": "B. Simon",
            "preferred_username": "B.Simon@contoso.com",
        })
    }

    fn sign(header: Value, claims: &Value) -> String {
        let head = URL_SAFE_NO_PAD.encode(header.to_string());
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{head}.{body}");
        let signer = SigningKey::<sha2::Sha256>::new(key());
        let signature = signer.sign(input.as_bytes()).to_vec();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn rs256(claims: &Value) -> String {
        sign(json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}), claims)
    }

    fn expected() -> Expected<'static> {
        Expected {
            client_id: CLIENT,
            tenant_id: TENANT,
            nonce: "n-1",
            now: now(),
            skew: Duration::from_secs(120),
        }
    }

    /// Parses `raw` as the token response does, then validates it.
    fn validate_raw(
        raw: &str,
        metadata: &CoreProviderMetadata,
        expected: &Expected<'_>,
    ) -> Result<Identity, Rejection> {
        let token = EntraIdToken::from_str(raw).map_err(|_| Rejection::Malformed)?;
        validate(&token, raw, metadata, expected)
    }

    fn check(token: &str) -> Result<Identity, Rejection> {
        validate_raw(
            token,
            &metadata(&format!("{HOST}/{TENANT}/v2.0"), "k1"),
            &expected(),
        )
    }

    fn with(change: impl FnOnce(&mut Value)) -> Value {
        let mut c = claims();
        change(&mut c);
        c
    }

    #[test]
    fn a_good_token_names_the_directory_user() {
        let identity = check(&rs256(&claims())).expect("valid");
        assert_eq!(identity.tenant_id, TENANT);
        assert_eq!(identity.object_id, "3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f");
        assert_eq!(identity.username.as_deref(), Some("B.Simon@contoso.com"));
    }

    #[test]
    fn only_rs256_signatures_from_the_directory_keys_pass() {
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string()),
            URL_SAFE_NO_PAD.encode(claims().to_string())
        );
        assert_eq!(check(&unsigned).unwrap_err(), Rejection::Algorithm);
        let hs = sign(json!({"alg": "HS256", "kid": "k1"}), &claims());
        assert_eq!(check(&hs).unwrap_err(), Rejection::Algorithm);
        let other_kid = sign(json!({"alg": "RS256", "kid": "k2"}), &claims());
        assert_eq!(check(&other_kid).unwrap_err(), Rejection::UnknownKey);
        let no_kid = sign(json!({"alg": "RS256"}), &claims());
        assert!(check(&no_kid).is_ok(), "the only published key signs it");
        let token = rs256(&claims());
        let tampered = token.replacen("eyJ", "eyK", 2);
        assert!(matches!(
            check(&tampered).unwrap_err(),
            Rejection::Signature | Rejection::Malformed
        ));
        let (body, _) = token.rsplit_once('.').unwrap();
        let forged = format!("{body}.{}", URL_SAFE_NO_PAD.encode([7u8; 256]));
        assert_eq!(check(&forged).unwrap_err(), Rejection::Signature);
    }

    #[test]
    fn an_algorithm_missing_from_discovery_is_refused() {
        let mut document = metadata(&format!("{HOST}/{TENANT}/v2.0"), "k1");
        document = document.set_id_token_signing_alg_values_supported(vec![
            CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        ]);
        assert_eq!(
            validate_raw(&rs256(&claims()), &document, &expected()).unwrap_err(),
            Rejection::Algorithm
        );
    }

    #[test]
    fn issuer_audience_and_nonce_must_match() {
        let wrong_iss = with(|c| c["iss"] = json!(format!("{HOST}/{OTHER_TENANT}/v2.0")));
        assert_eq!(check(&rs256(&wrong_iss)).unwrap_err(), Rejection::Issuer);
        let wrong_aud = with(|c| c["aud"] = json!("someone-else"));
        assert_eq!(check(&rs256(&wrong_aud)).unwrap_err(), Rejection::Audience);
        let wrong_nonce = with(|c| c["nonce"] = json!("n-2"));
        assert_eq!(check(&rs256(&wrong_nonce)).unwrap_err(), Rejection::Nonce);
        let no_oid = with(|c| {
            c.as_object_mut().unwrap().remove("oid");
        });
        assert_eq!(
            check(&rs256(&no_oid)).unwrap_err(),
            Rejection::MissingIdentity
        );
    }

    #[test]
    fn times_are_held_to_the_allowed_skew() {
        let t = now().unix_timestamp();
        let expired = with(|c| c["exp"] = json!(t - 121));
        assert_eq!(check(&rs256(&expired)).unwrap_err(), Rejection::Expired);
        let just_expired = with(|c| c["exp"] = json!(t - 60));
        assert!(check(&rs256(&just_expired)).is_ok(), "within the skew");
        let future_nbf = with(|c| c["nbf"] = json!(t + 121));
        assert_eq!(
            check(&rs256(&future_nbf)).unwrap_err(),
            Rejection::NotYetValid
        );
        let future_iat = with(|c| c["iat"] = json!(t + 3000));
        assert_eq!(
            check(&rs256(&future_iat)).unwrap_err(),
            Rejection::NotYetValid
        );
        let slightly_ahead = with(|c| {
            c["iat"] = json!(t + 60);
            c["nbf"] = json!(t + 60);
        });
        assert!(check(&rs256(&slightly_ahead)).is_ok());
    }

    #[test]
    fn a_template_issuer_is_substituted_and_the_directory_still_required() {
        let document = metadata(&format!("{HOST}/{{tenantid}}/v2.0"), "k1");
        assert!(validate_raw(&rs256(&claims()), &document, &expected()).is_ok());
        let other = with(|c| {
            c["tid"] = json!(OTHER_TENANT);
            c["iss"] = json!(format!("{HOST}/{OTHER_TENANT}/v2.0"));
        });
        assert_eq!(
            validate_raw(&rs256(&other), &document, &expected()).unwrap_err(),
            Rejection::OtherDirectory,
            "a token from another directory through common"
        );
        let mismatched = with(|c| c["iss"] = json!(format!("{HOST}/{OTHER_TENANT}/v2.0")));
        assert_eq!(
            validate_raw(&rs256(&mismatched), &document, &expected()).unwrap_err(),
            Rejection::Issuer,
            "the issuer must be the template with the token's own tid"
        );
    }

    /// A token signed by the directory's key, made once (RSA signing is slow in debug builds).
    fn genuine() -> &'static str {
        static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        TOKEN.get_or_init(|| rs256(&claims()))
    }

    /// Key sets as a directory (or an attacker in its place) might publish them.
    fn key_sets() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = (
            prop_oneof![
                Just("RSA".to_string()),
                Just("EC".to_string()),
                "[A-Za-z]{0,5}"
            ],
            prop_oneof![Just("k1".to_string()), ".{0,10}"],
            "[A-Za-z0-9_-]{0,400}",
            prop_oneof![Just("AQAB".to_string()), "[A-Za-z0-9_-]{0,8}"],
            proptest::option::of(prop_oneof![Just("RS256"), Just("ES256"), Just("none")]),
        )
            .prop_map(|(kty, kid, n, e, alg)| {
                let mut key = json!({"kty": kty, "kid": kid, "n": n, "e": e, "use": "sig"});
                if let Some(alg) = alg {
                    key["alg"] = alg.into();
                }
                key
            });
        proptest::collection::vec(key, 0..4).prop_map(|keys| json!({ "keys": keys }))
    }

    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(256)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(cases()))]

        /// Nothing but a token the directory signed is an identity, whatever the text.
        #[test]
        fn no_text_but_a_signed_token_is_an_identity(raw in proptest::prop_oneof![
            ".{0,300}",
            "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,300}\\.[A-Za-z0-9_-]{0,400}",
        ]) {
            proptest::prop_assert!(check(&raw).is_err());
        }

        /// A signed token with any one character changed is refused.
        #[test]
        fn a_signed_token_changed_anywhere_is_refused(
            at in proptest::prelude::any::<proptest::sample::Index>(),
            with in "[A-Za-z0-9_.-]",
        ) {
            let token = genuine();
            let i = at.index(token.len());
            proptest::prop_assume!(token[i..i + 1] != with);
            let changed = format!("{}{}{}", &token[..i], with, &token[i + 1..]);
            proptest::prop_assert!(check(&changed).is_err(), "{}", changed);
        }

        /// Whatever key set the directory publishes, only its own key verifies its token: any
        /// other set verifies nothing, and none makes the validator fail other than by refusing.
        #[test]
        fn no_other_key_set_verifies_the_directorys_token(set in key_sets()) {
            let Ok(keys) = serde_json::from_value::<CoreJsonWebKeySet>(set) else {
                return Ok(());
            };
            let issuer = format!("{HOST}/{TENANT}/v2.0");
            let metadata = metadata(&issuer, "k1").set_jwks(keys);
            proptest::prop_assert!(validate_raw(genuine(), &metadata, &expected()).is_err());
        }
    }
}
