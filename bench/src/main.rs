//! Complete sign-ins (start → provider → callback → session) against a release Gatehouse
//! pinned to one core, with a fast stateless Entra-shaped provider that signs real RS256 ID
//! tokens. Reports sign-ins per second, p50/p99 of the callback, the server's CPU time per
//! sign-in, its memory over the run, and the provider's discovery and key fetches once warm.
//!
//! Run through `bench/run.sh`, which builds everything in release mode and pins the processes.

use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bench::{
    connected_contoso, cpu_time, memory_mib, percentile, start_server, Cookies, DatabaseProcesses,
    CLIENT_ID, CLIENT_SECRET, TENANT,
};
use clap::Parser;
use gatehouse::storage::{Actor, DirectoryIdentity, MemberUpdate, NewMember, Storage};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY_PEM: &str = include_str!("../../server/src/oidc/testdata/unit-test-signing-key.pem");
const KID: &str = "bench-key-1";

#[derive(Parser, Debug)]
struct Args {
    /// The release Gatehouse binary.
    #[arg(long, default_value = "target/release/gatehouse")]
    gatehouse: String,
    /// `sqlite` for a fresh file, or a PostgreSQL URL of an empty database.
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// Concurrent users.
    #[arg(long, default_value_t = 4)]
    users: usize,
    /// Measured seconds (after a warm-up of five).
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// The core Gatehouse is pinned to (with taskset).
    #[arg(long, default_value_t = 0)]
    server_core: usize,
    /// Mapped members to sign in as, round robin.
    #[arg(long, default_value_t = 1000)]
    members: usize,
}

// ---------------------------------------------------------------------------------------------
// The provider: stateless. The code carries the signed ID token and the PKCE challenge,
// authenticated with an HMAC; the token endpoint checks both and hands the token over.

struct Provider {
    base: String,
    signing: Signer,
    jwk: serde_json::Value,
    mac_key: ring::hmac::Key,
    discovery: AtomicU64,
    keys: AtomicU64,
    tokens: AtomicU64,
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
        }
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

type Shared = Arc<Provider>;

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
async fn authorize(State(p): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let field = |k: &str| q.get(k).cloned().unwrap_or_default();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let user = field("login_hint");
    let oid = member_oid(user.parse().unwrap_or(0));
    let claims = json!({
        "ver": "2.0", "iss": format!("{}/{TENANT}/v2.0", p.base), "aud": field("client_id"),
        "iat": now, "nbf": now, "exp": now + 3600, "sub": format!("sub-{user}"),
        "oid": oid, "tid": TENANT, "nonce": field("nonce"), "name": format!("Member {user}"),
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

#[derive(Deserialize)]
struct TokenForm {
    code: String,
    code_verifier: String,
    client_id: String,
    client_secret: String,
}

async fn token(State(p): State<Shared>, Form(form): Form<TokenForm>) -> Response {
    p.tokens.fetch_add(1, Ordering::Relaxed);
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

fn member_oid(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

async fn start_provider() -> Shared {
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
        .with_state(provider.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    provider
}

// ---------------------------------------------------------------------------------------------
// Seeding: an organization with an active connection and mapped members, through the storage
// layer (the wizard's API is not what is measured).

async fn seed(database_url: &str, master_key: &str, provider: &str, members: usize) {
    let storage = Storage::connect(database_url).await.expect("database");
    let actor = Actor::system();
    let now = time::OffsetDateTime::now_utc();
    let org = connected_contoso(&storage, master_key, provider).await;
    for i in 0..members {
        let email = format!("member{i}@contoso.com");
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
                    directory_identity: Some(Some(DirectoryIdentity::new(TENANT, &oid))),
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

// ---------------------------------------------------------------------------------------------
// The server process and its resource use.

// ---------------------------------------------------------------------------------------------
// The load: each user is a browser with its own cookies, signing in again and again.

async fn one_sign_in(
    client: &reqwest::Client,
    server: &str,
    user: usize,
) -> Result<Duration, String> {
    let start = client
        .get(format!("{server}/o/contoso/sso?login_hint={user}"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let authorize = location(&start)?;
    let at_provider = client
        .get(authorize)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let callback = location(&at_provider)?;
    let began = Instant::now();
    let done = client
        .get(callback)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let took = began.elapsed();
    match location(&done) {
        Ok(l) if l == "/account" => Ok(took),
        _ => Err(format!("callback answered {}", done.status())),
    }
}

fn location(response: &reqwest::Response) -> Result<String, String> {
    response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| format!("no redirect (status {})", response.status()))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let provider = start_provider().await;
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("data dir");
    let data_dir = dir.to_str().expect("utf-8").to_string();
    let database_url = if args.database == "sqlite" {
        format!("sqlite://{}/gatehouse.db?mode=rwc", data_dir)
    } else {
        args.database.clone()
    };
    let master_key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    seed(&database_url, &master_key, &provider.base, args.members).await;
    let server = start_server(
        &args.gatehouse,
        Some(args.server_core),
        &database_url,
        &master_key,
        &data_dir,
        &provider.base,
    )
    .await;
    let pid = server.child.id();

    let clients: Vec<reqwest::Client> = (0..args.users)
        .map(|_| {
            reqwest::Client::builder()
                .cookie_provider(Arc::new(Cookies::default()))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client")
        })
        .collect();
    let next_user = Arc::new(AtomicU64::new(0));
    let run = |seconds: u64, record: bool| {
        let clients = clients.clone();
        let server = server.url.clone();
        let next_user = next_user.clone();
        let members = args.members as u64;
        async move {
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let tasks: Vec<_> = clients
                .into_iter()
                .map(|client| {
                    let (server, next_user) = (server.clone(), next_user.clone());
                    tokio::spawn(async move {
                        let (mut latencies, mut failures) = (Vec::new(), 0u64);
                        while Instant::now() < deadline {
                            let user =
                                (next_user.fetch_add(1, Ordering::Relaxed) % members) as usize;
                            match one_sign_in(&client, &server, user).await {
                                Ok(took) if record => latencies.push(took),
                                Ok(_) => {}
                                Err(e) => {
                                    failures += 1;
                                    if failures <= 3 {
                                        eprintln!("sign-in failed: {e}");
                                    }
                                }
                            }
                        }
                        (latencies, failures)
                    })
                })
                .collect();
            let mut all = Vec::new();
            let mut failed = 0;
            for t in tasks {
                let (l, f) = t.await.expect("user task");
                all.extend(l);
                failed += f;
            }
            (all, failed)
        }
    };

    // Warm up: the discovery document and keys are fetched once here.
    run(5, false).await;
    let warm = (
        provider.discovery.load(Ordering::Relaxed),
        provider.keys.load(Ordering::Relaxed),
    );
    let cpu_before = cpu_time(pid);
    let database = match args.database.as_str() {
        "sqlite" => None,
        url => DatabaseProcesses::start(url).await,
    };
    let sampler = {
        let seconds = args.seconds;
        tokio::spawn(async move {
            let mut samples = Vec::new();
            for _ in 0..seconds {
                tokio::time::sleep(Duration::from_secs(1)).await;
                samples.push(memory_mib(pid).0);
            }
            samples
        })
    };
    let began = Instant::now();
    let (mut latencies, failed) = run(args.seconds, true).await;
    let elapsed = began.elapsed().as_secs_f64();
    let cpu = cpu_time(pid) - cpu_before;
    let database_cpu = match database {
        Some(database) => database.spent().await,
        None => None,
    };
    let samples = sampler.await.unwrap_or_default();
    let (_, peak) = memory_mib(pid);
    latencies.sort();
    let count = latencies.len() as f64;
    let fetches = (
        provider.discovery.load(Ordering::Relaxed) - warm.0,
        provider.keys.load(Ordering::Relaxed) - warm.1,
    );
    let backend = if args.database == "sqlite" {
        "sqlite"
    } else {
        "postgres"
    };
    let (first, last) = (
        samples.first().copied().unwrap_or(0.0),
        samples.last().copied().unwrap_or(0.0),
    );
    let per_sign_in = |seconds: f64| {
        if count > 0.0 {
            seconds * 1000.0 / count
        } else {
            0.0
        }
    };
    println!(
        "{backend:8} users={:<3} sign-ins={:<7} failed={failed:<3} rate={:>7.1}/s callback p50={:.2}ms p99={:.2}ms \
         server cpu/sign-in={:.3}ms (user {:.3}, system {:.3}) rss start={first:.1}MiB end={last:.1}MiB peak={peak:.1}MiB \
         fetches after warm-up: discovery={} keys={}",
        args.users,
        latencies.len(),
        count / elapsed,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        per_sign_in(cpu.total()),
        per_sign_in(cpu.user),
        per_sign_in(cpu.system),
        fetches.0,
        fetches.1,
    );
    // SQLite's work is the server's own; PostgreSQL's is in its processes.
    if backend == "postgres" {
        match database_cpu {
            Some(spent) => println!(
                "postgres processes cpu/sign-in={:.3}ms (user {:.3}, system {:.3})",
                per_sign_in(spent.total()),
                per_sign_in(spent.user),
                per_sign_in(spent.system),
            ),
            None => println!("postgres processes cpu/sign-in: not readable (not on this machine)"),
        }
    }
    if std::env::var_os("BENCH_MEMORY_CURVE").is_some() {
        let curve: Vec<String> = samples.iter().map(|m| format!("{m:.1}")).collect();
        println!("rss per second (MiB): {}", curve.join(" "));
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
