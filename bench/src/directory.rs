//! A fast, stateless Entra-shaped provider for the benchmarks, which signs real RS256 ID
//! tokens, and the seeding of organizations connected to it. A directory of it can be made to
//! hang (an outage) for the outage benchmark.

use crate::{connected_organization, CLIENT_ID, CLIENT_SECRET};
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gatehouse::storage::{Actor, DirectoryIdentity, MemberUpdate, NewMember, Storage};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const KEY_PEM: &str = include_str!("../../server/src/oidc/testdata/unit-test-signing-key.pem");
const KID: &str = "bench-key-1";

// ---------------------------------------------------------------------------------------------
// The provider: stateless. The code carries the signed ID token and the PKCE challenge,
// authenticated with an HMAC; the token endpoint checks both and hands the token over.

pub struct Provider {
    pub base: String,
    signing: Signer,
    jwk: serde_json::Value,
    mac_key: ring::hmac::Key,
    pub discovery: AtomicU64,
    pub keys: AtomicU64,
    pub tokens: AtomicU64,
    /// The directory (tenant id) whose token endpoint hangs, if one does.
    hanging: Mutex<Option<String>>,
    /// Signs SAML responses (libxmlsec1, through samael, as Gatehouse checks them).
    saml: SamlSigner,
}

/// The SAML side's key and certificate.
pub struct SamlSigner {
    key_der: Vec<u8>,
    pub certificate_der: samael::crypto::CertificateDer,
}

impl SamlSigner {
    fn new() -> Self {
        let idp = samael::idp::IdentityProvider::generate_new(samael::idp::KeyType::Rsa(
            samael::idp::Rsa::Rsa2048,
        ))
        .expect("a SAML key");
        let certificate_der = idp
            .create_certificate(&samael::idp::CertificateParams {
                common_name: "Microsoft Azure Federated SSO Certificate",
                issuer_name: "Microsoft Azure Federated SSO Certificate",
                days_until_expiration: 3 * 365,
            })
            .expect("a SAML certificate");
        SamlSigner {
            key_der: idp.export_private_key_der().expect("the key"),
            certificate_der,
        }
    }

    /// A signed Response (the whole Response signed) for member `user` of `tenant`, answering
    /// the AuthnRequest `request_id` from `identifier`, posted to `acs`.
    fn response(
        &self,
        tenant: &str,
        user: usize,
        identifier: &str,
        acs: &str,
        request_id: &str,
    ) -> String {
        use samael::crypto::CryptoProvider;
        use samael::idp::response_builder::{build_response_template, ResponseAttribute};
        use samael::idp::sp_extractor::RequiredAttribute;
        use samael::traits::ToXml;
        let oid = member_oid(user);
        let name = format!("Member {user}");
        let claims = [
            (
                "http://schemas.microsoft.com/identity/claims/tenantid",
                tenant.to_string(),
            ),
            (
                "http://schemas.microsoft.com/identity/claims/objectidentifier",
                oid,
            ),
            (
                "http://schemas.microsoft.com/identity/claims/displayname",
                name,
            ),
        ];
        let attributes: Vec<ResponseAttribute> = claims
            .iter()
            .map(|(name, value)| ResponseAttribute {
                required_attribute: RequiredAttribute {
                    name: name.to_string(),
                    format: None,
                },
                value,
            })
            .collect();
        let mut response = build_response_template(
            &self.certificate_der,
            &format!("member{user}@contoso.com"),
            identifier,
            &format!("https://sts.windows.net/{tenant}/"),
            acs,
            request_id,
            &attributes,
        );
        // samael's template digests with SHA-1, which Gatehouse refuses: SHA-256, as Entra.
        for reference in response
            .signature
            .iter_mut()
            .flat_map(|s| s.signed_info.reference.iter_mut())
        {
            reference.digest_method.algorithm = samael::signature::DigestAlgorithm::Sha256;
        }
        let until = chrono::Utc::now() + chrono::Duration::minutes(5);
        if let Some(assertion) = response.assertion.as_mut() {
            if let Some(conditions) = assertion.conditions.as_mut() {
                conditions.not_on_or_after =
                    Some(chrono::Utc::now() + chrono::Duration::minutes(70));
            }
            for confirmation in assertion
                .subject
                .iter_mut()
                .flat_map(|s| s.subject_confirmations.iter_mut().flatten())
            {
                if let Some(data) = confirmation.subject_confirmation_data.as_mut() {
                    data.not_on_or_after = Some(until);
                }
            }
            for statement in assertion.authn_statements.iter_mut().flatten() {
                statement.session_index =
                    Some(format!("_{}", samael::crypto::gen_saml_assertion_id()));
            }
        }
        let unsigned = response.to_string().expect("the response as XML");
        samael::crypto::Crypto::sign_xml(unsigned, &self.key_der).expect("a signed response")
    }
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM body")
}

impl Provider {
    fn new(base: String) -> Self {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::traits::PublicKeyParts;
        let private = rsa::RsaPrivateKey::from_pkcs1_pem(KEY_PEM).expect("key");
        let public = private.to_public_key();
        let jwk = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID,
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        });
        let rng = ring::rand::SystemRandom::new();
        Provider {
            base,
            signing: Signer::start(
                ring::signature::RsaKeyPair::from_der(&pem_der(KEY_PEM)).expect("ring key"),
            ),
            jwk,
            mac_key: ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng).expect("hmac key"),
            discovery: AtomicU64::new(0),
            keys: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
            hanging: Mutex::new(None),
            saml: SamlSigner::new(),
        }
    }

    /// The SAML signing certificate, as Gatehouse stores it.
    pub fn saml_certificate(&self) -> gatehouse::saml::metadata::SigningCertificate {
        let base64 =
            base64::engine::general_purpose::STANDARD.encode(self.saml.certificate_der.der_data());
        gatehouse::saml::metadata::parse_certificate(&base64).expect("the certificate")
    }

    /// Makes `tenant`'s token endpoint hang from now on (`None`: none hangs).
    pub fn hang(&self, tenant: Option<&str>) {
        *self.hanging.lock().unwrap_or_else(|e| e.into_inner()) = tenant.map(str::to_string);
    }

    fn hangs(&self, tenant: &str) -> bool {
        self.hanging
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_deref()
            == Some(tenant)
    }
}

/// Signs ID tokens on a thread of its own that runs only when the load has nothing to do
/// (`SCHED_IDLE`): an RSA signature takes this core about a millisecond, and the sign-ins being
/// timed must never wait behind one. The signing limits how many sign-ins start, not how fast
/// a callback is answered.
struct Signer {
    jobs: std::sync::mpsc::Sender<(serde_json::Value, tokio::sync::oneshot::Sender<String>)>,
}

impl Signer {
    fn start(key: ring::signature::RsaKeyPair) -> Self {
        let (jobs, queue) =
            std::sync::mpsc::channel::<(serde_json::Value, tokio::sync::oneshot::Sender<String>)>();
        std::thread::spawn(move || {
            let idle = libc::sched_param { sched_priority: 0 };
            // SAFETY: changes only this thread's scheduling policy, with a valid parameter.
            let set = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &idle) };
            if set != 0 {
                eprintln!("note: the signing thread keeps its normal priority");
            }
            let rng = ring::rand::SystemRandom::new();
            for (claims, answer) in queue {
                let _ = answer.send(sign_jwt(&key, &rng, &claims));
            }
        });
        Signer { jobs }
    }

    async fn sign(&self, claims: serde_json::Value) -> String {
        let (answer, signed) = tokio::sync::oneshot::channel();
        self.jobs
            .send((claims, answer))
            .expect("the signing thread");
        signed.await.expect("a signature")
    }
}

fn sign_jwt(
    key: &ring::signature::RsaKeyPair,
    rng: &ring::rand::SystemRandom,
    claims: &serde_json::Value,
) -> String {
    let header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": "JWT", "kid": KID}).to_string());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{body}");
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        rng,
        input.as_bytes(),
        &mut signature,
    )
    .expect("sign");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

pub type Shared = Arc<Provider>;

async fn discovery(State(p): State<Shared>, Path(tenant): Path<String>) -> Json<serde_json::Value> {
    p.discovery.fetch_add(1, Ordering::Relaxed);
    let base = format!("{}/{tenant}", p.base);
    Json(json!({
        "issuer": format!("{base}/v2.0"),
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
    }))
}

async fn keys(State(p): State<Shared>) -> Json<serde_json::Value> {
    p.keys.fetch_add(1, Ordering::Relaxed);
    Json(json!({ "keys": [p.jwk] }))
}

/// The user signs in at once. The ID token is signed here, not at the token endpoint: its RSA
/// signature costs this process about a millisecond, which would otherwise sit inside the
/// callback that the benchmark times.
async fn authorize(
    State(p): State<Shared>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| q.get(k).cloned().unwrap_or_default();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let user = field("login_hint");
    let oid = member_oid(user.parse().unwrap_or(0));
    let claims = json!({
        "ver": "2.0", "iss": format!("{}/{tenant}/v2.0", p.base), "aud": field("client_id"),
        "iat": now, "nbf": now, "exp": now + 3600, "sub": format!("sub-{user}"),
        "oid": oid, "tid": tenant, "nonce": field("nonce"), "name": format!("Member {user}"),
        "preferred_username": format!("member{user}@contoso.com"),
    });
    let id_token = p.signing.sign(claims).await;
    let code_body = URL_SAFE_NO_PAD.encode(
        json!({
            "challenge": field("code_challenge"), "client": field("client_id"),
            "id_token": id_token,
        })
        .to_string(),
    );
    let tag = ring::hmac::sign(&p.mac_key, code_body.as_bytes());
    let code = format!("{code_body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    let target = format!(
        "{}?code={code}&state={}",
        field("redirect_uri"),
        field("state")
    );
    Redirect::to(&target).into_response()
}

/// The SAML2 endpoint: the person signs in at once, and the answer is what Entra's page would
/// post to the Reply URL (its action and fields), as JSON for the load to post.
async fn saml2(
    State(p): State<Shared>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    use std::io::Read;
    let field = |k: &str| q.get(k).cloned().unwrap_or_default();
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(field("SAMLRequest"))
        .unwrap_or_default();
    let mut request = String::new();
    let _ = flate2::read::DeflateDecoder::new(&deflated[..]).read_to_string(&mut request);
    let between = |start: &str, end: &str| {
        request
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once(end))
            .map(|(value, _)| value.to_string())
            .unwrap_or_default()
    };
    let (id, acs) = (
        between(" ID=\"", "\""),
        between("AssertionConsumerServiceURL=\"", "\""),
    );
    let identifier = between("<saml:Issuer>", "</saml:Issuer>");
    let user = field("login_hint").parse().unwrap_or(0);
    let signer = p.clone();
    let (tenant_for_signing, acs_for_signing) = (tenant.clone(), acs.clone());
    // Signing costs this process a few milliseconds: kept off the runtime's thread.
    let xml = tokio::task::spawn_blocking(move || {
        signer.saml.response(
            &tenant_for_signing,
            user,
            &identifier,
            &acs_for_signing,
            &id,
        )
    })
    .await
    .expect("signing");
    Json(json!({
        "action": acs,
        "SAMLResponse": base64::engine::general_purpose::STANDARD.encode(xml),
        "RelayState": field("RelayState"),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    code: String,
    code_verifier: String,
    client_id: String,
    client_secret: String,
}

async fn token(
    State(p): State<Shared>,
    Path(tenant): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    p.tokens.fetch_add(1, Ordering::Relaxed);
    if p.hangs(&tenant) {
        // An outage: the directory never answers; Gatehouse's timeout ends the wait.
        std::future::pending::<()>().await;
    }
    let refuse = |why: &str| {
        (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": why})),
        )
            .into_response()
    };
    if form.client_id != CLIENT_ID || form.client_secret != CLIENT_SECRET {
        return refuse("client");
    }
    let Some((body, tag)) = form.code.split_once('.') else {
        return refuse("code");
    };
    let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
        return refuse("code");
    };
    if ring::hmac::verify(&p.mac_key, body.as_bytes(), &tag).is_err() {
        return refuse("code");
    }
    let code: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap_or_default())
            .unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(form.code_verifier.as_bytes()));
    if code["challenge"] != challenge.as_str() {
        return refuse("pkce");
    }
    if code["client"] != form.client_id.as_str() {
        return refuse("client");
    }
    let id_token = code["id_token"].as_str().unwrap_or_default();
    Json(json!({
        "access_token": "unused", "token_type": "Bearer", "expires_in": 3600, "id_token": id_token,
    }))
    .into_response()
}

pub fn member_oid(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

pub async fn start_provider() -> Shared {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let provider = Arc::new(Provider::new(base));
    let app = Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/saml2", get(saml2))
        .with_state(provider.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    provider
}

// ---------------------------------------------------------------------------------------------
// Seeding: an organization with an active connection and mapped members, through the storage
// layer (the wizard's API is not what is measured).

/// An organization (name, slug) connected to `tenant` at the provider (over SAML when given
/// the provider's SAML certificate), with `members` mapped
/// members: `member<i>@<slug>.com`, directory user `member_oid(i)`.
pub async fn seed(
    database_url: &str,
    master_key: &str,
    provider: &str,
    organization: (&str, &str),
    tenant: &str,
    members: usize,
    saml: Option<gatehouse::saml::metadata::SigningCertificate>,
) {
    let storage = Storage::connect(database_url).await.expect("database");
    let actor = Actor::system();
    let now = time::OffsetDateTime::now_utc();
    let org =
        connected_organization(&storage, master_key, provider, organization, tenant, saml).await;
    let slug = organization.1;
    for i in 0..members {
        let email = format!("member{i}@{slug}.com");
        let name = format!("Member {i}");
        let member = storage
            .create_member(
                &org.id,
                &NewMember {
                    email: Some((&email, &email)),
                    display_name: &name,
                    role: "member",
                },
                &actor,
                now,
            )
            .await
            .expect("member");
        let oid = member_oid(i);
        storage
            .update_member(
                &org.id,
                &member.id,
                &MemberUpdate {
                    directory_identity: Some(Some(DirectoryIdentity::new(tenant, &oid))),
                    sso_enabled: Some(true),
                    ..MemberUpdate::default()
                },
                &actor,
                now,
            )
            .await
            .expect("mapping");
    }
}
