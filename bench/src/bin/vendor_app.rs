//! The vendor-app benchmark: what a vendor's application does on each new session of a person
//! who already has a session at the provider — authorize (answered at once with a code) →
//! token → userinfo — against a release Gatehouse pinned to one core, or against the
//! `oidc-provider` peer (`end2end/peers/oidc-provider-peer.mjs`) pinned the same way. Reports
//! flows per second, p50/p99 of a whole flow, the provider's CPU time per flow and its peak
//! memory; the last line is JSON.
//!
//! Run through `bench/vendor-app.sh`, which builds, pins and runs both one right after the other.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bench::{
    connected_contoso, cpu_time, memory_mib, percentile, start_server, Cookies, DataFolder,
    DatabaseProcesses, Target,
};
use clap::Parser;
use gatehouse::auth::{NewSession, Principal};
use gatehouse::crypto::tokens;
use gatehouse::storage::{Actor, ApplicationSettings, NewMember, SessionRecord, Storage};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    /// Gatehouse and its database (ignored with `--peer-url`).
    #[command(flatten)]
    target: Target,
    /// Measure this provider (the oidc-provider peer) instead of Gatehouse.
    #[arg(long)]
    peer_url: Option<String>,
    /// The peer's process id, for its CPU time and memory.
    #[arg(long)]
    peer_pid: Option<u32>,
    #[arg(long, default_value = "acme-backup")]
    client_id: String,
    #[arg(long, default_value = "peer-bench-secret-0123456789abcdef0123456789")]
    client_secret: String,
    #[arg(long, default_value = "http://127.0.0.1:9/acme/callback")]
    redirect_uri: String,
    /// Concurrent users.
    #[arg(long, default_value_t = 4)]
    users: usize,
    /// Measured seconds (after a warm-up of five).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// How Gatehouse signs the application's ID tokens: `ES256` or `RS256`.
    #[arg(long, default_value = "ES256")]
    signing_alg: String,
}

#[derive(Deserialize, Clone)]
struct Endpoints {
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
}

/// Gatehouse's data: Contoso, one member per user with a signed-in session (as after their
/// directory sign-in), and Acme Backup with its secret. Answers each user's session id.
async fn seed(database_url: &str, master_key: &str, args: &Args) -> Vec<String> {
    let storage = Storage::connect(database_url).await.expect("database");
    let actor = Actor::system();
    let now = time::OffsetDateTime::now_utc();
    // Its directory is never called: the sessions below are already signed in.
    let org = connected_contoso(&storage, master_key, "http://127.0.0.1:9").await;
    let redirect_uris = vec![args.redirect_uri.clone()];
    let application = storage
        .create_application(
            &ApplicationSettings {
                name: "Acme Backup",
                kind: "confidential",
                redirect_uris: &redirect_uris,
                post_logout_redirect_uris: &[],
                backchannel_logout_uri: None,
                organization_ids: None,
                allow_password_sessions: false,
                signing_alg: &args.signing_alg,
                refresh_token_lifetime_seconds: 3600,
            },
            &actor,
            now,
        )
        .await
        .expect("application");
    let hash = tokens::hash(&args.client_secret);
    storage
        .add_application_secret(&application.id, &hash, "ench", &actor, now)
        .await
        .expect("secret");
    CLIENT.set(application.id).expect("client id once");
    let mut sessions = Vec::new();
    for i in 0..args.users {
        let email = format!("member{i}@contoso.com");
        let member = storage
            .create_member(
                &org.id,
                &NewMember {
                    email: Some((&email, &email)),
                    display_name: &format!("Member {i}"),
                    role: "member",
                },
                &actor,
                now,
            )
            .await
            .expect("member");
        let principal = Principal::Member {
            organization_id: org.id.clone(),
            member_id: member.id,
        };
        let id = gatehouse::auth::web::session_cookie::new_id();
        let session = NewSession::start(
            id.clone(),
            None,
            &principal,
            "https://login.microsoftonline.com/logout",
            &gatehouse::oidc::Identity {
                tenant_id: bench::TENANT.into(),
                object_id: format!("00000000-0000-4000-8000-{i:012}"),
                name: None,
                username: None,
                email: None,
                email_verified: false,
                sid: None,
                passed_on: Default::default(),
            },
            now,
        )
        .expect("session");
        storage
            .insert_session(&SessionRecord {
                id: &session.id,
                data: &session.data,
                expires_at: session.expires_at,
                directory_sid: None,
            })
            .await
            .expect("session stored");
        sessions.push(id);
    }
    sessions
}

/// Gatehouse's client id, which its storage makes.
static CLIENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn location(response: &reqwest::Response) -> Result<reqwest::Url, String> {
    let text = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .ok_or_else(|| format!("no redirect (status {})", response.status()))?;
    response.url().join(text).map_err(|e| e.to_string())
}

struct Flow<'a> {
    client: &'a reqwest::Client,
    endpoints: &'a Endpoints,
    client_id: &'a str,
    client_secret: &'a str,
    redirect_uri: &'a str,
    /// Which organization (Gatehouse) or account (the peer's sign-in without a form).
    extra: &'a [(&'a str, String)],
}

impl Flow<'_> {
    /// authorize → code → token → userinfo; the redirects inside the provider (the peer's first
    /// sign-in) are followed.
    async fn run(&self) -> Result<Duration, String> {
        let began = Instant::now();
        let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let state = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
        let mut url = reqwest::Url::parse(&self.endpoints.authorization_endpoint)
            .map_err(|e| e.to_string())?;
        url.query_pairs_mut()
            .append_pair("client_id", self.client_id)
            .append_pair("redirect_uri", self.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid profile email")
            .append_pair("state", &state)
            .append_pair("nonce", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .extend_pairs(self.extra.iter().map(|(k, v)| (*k, v.as_str())));
        let mut code = None;
        for _ in 0..6 {
            let response = self
                .client
                .get(url)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let next = location(&response)?;
            if next.as_str().starts_with(self.redirect_uri) {
                code = next
                    .query_pairs()
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned());
                break;
            }
            url = next;
        }
        let code = code.ok_or("no code")?;
        let tokens: serde_json::Value = self
            .client
            .post(&self.endpoints.token_endpoint)
            .basic_auth(self.client_id, Some(self.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", self.redirect_uri),
                ("code_verifier", &verifier),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let access = tokens["access_token"]
            .as_str()
            .ok_or_else(|| format!("no access token: {tokens}"))?;
        if tokens["id_token"].as_str().is_none() {
            return Err("no ID token".into());
        }
        let info = self
            .client
            .get(&self.endpoints.userinfo_endpoint)
            .bearer_auth(access)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !info.status().is_success() {
            return Err(format!("userinfo answered {}", info.status()));
        }
        Ok(began.elapsed())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let DataFolder {
        data_dir,
        database_url,
        ..
    } = DataFolder::new(&args.target.database);

    // Who is measured: Gatehouse (seeded, started here) or the peer (started by the script).
    let (base, pid, server, sessions) = match (&args.peer_url, args.peer_pid) {
        (Some(url), Some(pid)) => (url.clone(), pid, None, None),
        (Some(_), None) => panic!("--peer-url needs --peer-pid"),
        _ => {
            let master_key = bench::master_key();
            let sessions = seed(&database_url, &master_key, &args).await;
            let server = start_server(
                &args.target.gatehouse,
                Some(args.target.server_core),
                &database_url,
                &master_key,
                &data_dir,
                "http://127.0.0.1:9",
            )
            .await;
            let pid = server.child.id();
            (server.url.clone(), pid, Some(server), Some(sessions))
        }
    };
    let client_id = CLIENT.get().cloned().unwrap_or(args.client_id.clone());
    let endpoints: Endpoints = reqwest::get(format!("{base}/.well-known/openid-configuration"))
        .await
        .expect("discovery")
        .json()
        .await
        .expect("discovery document");

    let users: Vec<(reqwest::Client, Vec<(&str, String)>)> = (0..args.users)
        .map(|i| {
            let cookies = Arc::new(Cookies::default());
            if let Some(sessions) = &sessions {
                let url = reqwest::Url::parse(&base).expect("url");
                let cookie = format!("gatehouse_session={}; Path=/", sessions[i]);
                let header = reqwest::header::HeaderValue::from_str(&cookie).expect("cookie");
                reqwest::cookie::CookieStore::set_cookies(
                    cookies.as_ref(),
                    &mut std::iter::once(&header),
                    &url,
                );
            }
            let client = reqwest::Client::builder()
                .cookie_provider(cookies)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client");
            let extra = match sessions {
                Some(_) => vec![("organization", "contoso".to_string())],
                None => vec![("login_hint", format!("member{i}"))],
            };
            (client, extra)
        })
        .collect();
    let users = Arc::new(users);
    let run = |seconds: u64, record: bool| {
        let users = users.clone();
        let (endpoints, client_id) = (endpoints.clone(), client_id.clone());
        let (secret, redirect) = (args.client_secret.clone(), args.redirect_uri.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let tasks: Vec<_> = (0..users.len())
                .map(|i| {
                    let users = users.clone();
                    let (endpoints, client_id) = (endpoints.clone(), client_id.clone());
                    let (secret, redirect) = (secret.clone(), redirect.clone());
                    tokio::spawn(async move {
                        let (client, extra) = &users[i];
                        let flow = Flow {
                            client,
                            endpoints: &endpoints,
                            client_id: &client_id,
                            client_secret: &secret,
                            redirect_uri: &redirect,
                            extra,
                        };
                        let (mut latencies, mut failures) = (Vec::new(), 0u64);
                        while Instant::now() < deadline {
                            match flow.run().await {
                                Ok(took) if record => latencies.push(took),
                                Ok(_) => {}
                                Err(e) => {
                                    failures += 1;
                                    if failures <= 3 {
                                        eprintln!("flow failed: {e}");
                                    }
                                }
                            }
                        }
                        (latencies, failures)
                    })
                })
                .collect();
            let (mut all, mut failed) = (Vec::new(), 0);
            for t in tasks {
                let (l, f) = t.await.expect("user task");
                all.extend(l);
                failed += f;
            }
            (all, failed)
        }
    };

    // Warm up: the peer's users sign in here (their first authorize); keys are made and read.
    run(5, false).await;
    let cpu_before = cpu_time(pid);
    let database = match (args.peer_url.is_some(), args.target.database.as_str()) {
        (false, url) if url != "sqlite" => DatabaseProcesses::start(url).await,
        _ => None,
    };
    let began = Instant::now();
    let (mut latencies, failed) = run(args.seconds, true).await;
    let elapsed = began.elapsed().as_secs_f64();
    let cpu = cpu_time(pid) - cpu_before;
    let database_cpu = match database {
        Some(database) => database.spent().await,
        None => None,
    };
    let (_, peak) = memory_mib(pid);
    latencies.sort();
    let count = latencies.len() as f64;
    let per_flow = |seconds: f64| {
        if count > 0.0 {
            seconds * 1000.0 / count
        } else {
            0.0
        }
    };
    let who = match (&args.peer_url, args.target.database.as_str()) {
        (Some(_), _) => "oidc-provider",
        (None, "sqlite") if args.signing_alg == "RS256" => "gatehouse-sqlite-rs256",
        (None, "sqlite") => "gatehouse-sqlite",
        (None, _) => "gatehouse-postgres",
    };
    println!(
        "{who:20} users={:<3} flows={:<7} failed={failed:<3} rate={:>7.1}/s flow p50={:.2}ms p99={:.2}ms \
         cpu/flow={:.3}ms (user {:.3}, system {:.3}) peak rss={peak:.1}MiB",
        args.users,
        latencies.len(),
        count / elapsed,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        per_flow(cpu.total()),
        per_flow(cpu.user),
        per_flow(cpu.system),
    );
    if let Some(spent) = database_cpu {
        println!(
            "postgres processes cpu/flow={:.3}ms",
            per_flow(spent.total())
        );
    }
    println!(
        "{}",
        serde_json::json!({
            "who": who, "users": args.users, "flows": latencies.len(), "failed": failed,
            "cpu_ms_per_flow": per_flow(cpu.total()),
            "p50_ms": percentile(&latencies, 0.50), "p99_ms": percentile(&latencies, 0.99),
            "peak_rss_mib": peak,
        })
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&data_dir);
}
