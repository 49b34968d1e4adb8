//! What both benchmarks share: a release Gatehouse process, its CPU time and memory, the CPU
//! time of a PostgreSQL database's processes, and percentiles.

pub mod directory;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A release Gatehouse process, stopped when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub async fn start_server(
    gatehouse: &str,
    core: Option<usize>,
    database_url: &str,
    master_key: &str,
    data_dir: &str,
    allowed_authority: &str,
) -> Server {
    let port = free_port();
    // BENCH_SERVER_LOG=<file> keeps the server's request log (with each request's latency).
    let log = std::env::var_os("BENCH_SERVER_LOG")
        .map(|path| std::fs::File::create(path).expect("the server log file"));
    let mut command = match core {
        Some(core) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &core.to_string(), gatehouse]);
            c
        }
        None => Command::new(gatehouse),
    };
    let mut child = command
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--data-dir", data_dir, "--database-url", database_url])
        .args([
            "--master-key",
            master_key,
            "--sso-requests-per-minute",
            "100000000",
            "--allowed-authorities",
            allowed_authority,
        ])
        .env("RUST_LOG", if log.is_some() { "info" } else { "warn" })
        .stdout(log.map_or_else(Stdio::null, Stdio::from))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("taskset and the Gatehouse binary");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(format!("{url}/readyz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Server { child, url };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("Gatehouse did not become ready");
}

/// A process's CPU time, in seconds: in its own code (user) and in the kernel on its behalf
/// (system: sockets, thread wake-ups, the file system).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTime {
    pub user: f64,
    pub system: f64,
}

impl CpuTime {
    pub fn total(self) -> f64 {
        self.user + self.system
    }
}

impl std::ops::Add for CpuTime {
    type Output = CpuTime;
    fn add(self, other: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user + other.user,
            system: self.system + other.system,
        }
    }
}

impl std::ops::Sub for CpuTime {
    type Output = CpuTime;
    fn sub(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }
}

/// The CPU time a process has used so far.
pub fn cpu_time(pid: u32) -> CpuTime {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of /proc/pid/stat (utime, stime), counted after the name.
    CpuTime {
        user: ticks(11) / 100.0,
        system: ticks(12) / 100.0,
    }
}

/// Resident and peak resident memory of a process, in MiB.
pub fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A process's open file descriptors (sockets and database files included) and threads.
pub fn files_and_threads(pid: u32) -> (usize, usize) {
    let files = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    let threads = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    (files, threads)
}

/// The `p` percentile of sorted durations, in milliseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// The PostgreSQL server processes serving one database (Gatehouse's connections to it), when
/// that database runs on this machine: a sign-in's work there is CPU time too, and none of it
/// is the server's own. Counted from the processes' CPU time between two readings.
pub struct DatabaseProcesses {
    monitor: sqlx::PgConnection,
    at_start: HashMap<u32, CpuTime>,
}

impl DatabaseProcesses {
    /// Starts counting, or `None` when the database's processes cannot be read here (a database
    /// on another machine).
    pub async fn start(database_url: &str) -> Option<Self> {
        let mut monitor = <sqlx::PgConnection as sqlx::Connection>::connect(database_url)
            .await
            .ok()?;
        let at_start = Self::read(&mut monitor).await?;
        Some(DatabaseProcesses { monitor, at_start })
    }

    /// The CPU time the database's processes spent since `start`, including any that started
    /// since then.
    pub async fn spent(mut self) -> Option<CpuTime> {
        let now = Self::read(&mut self.monitor).await?;
        Some(now.into_iter().fold(CpuTime::default(), |sum, (pid, cpu)| {
            sum + (cpu - self.at_start.get(&pid).copied().unwrap_or_default())
        }))
    }

    async fn read(monitor: &mut sqlx::PgConnection) -> Option<HashMap<u32, CpuTime>> {
        let pids: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(monitor)
        .await
        .ok()?;
        let readable: HashMap<u32, CpuTime> = pids
            .into_iter()
            .filter_map(|pid| u32::try_from(pid).ok())
            // A database elsewhere names processes of its own machine: a process here with
            // the same number is not one of them.
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|name| name.starts_with("postgres"))
            })
            .map(|pid| (pid, cpu_time(pid)))
            .collect();
        (!readable.is_empty()).then_some(readable)
    }
}

/// One browser's cookies, kept as a browser keeps them: a cookie the server removes (an empty
/// value with `Max-Age=0`) is gone. reqwest's own store keeps it as an expired entry and looks
/// through every one for each request; Gatehouse names each sign-in's cookie after its state,
/// so that store would make every user's requests slower with each sign-in.
#[derive(Default)]
pub struct Cookies(std::sync::Mutex<HashMap<String, (String, String)>>);

impl reqwest::cookie::CookieStore for Cookies {
    fn set_cookies(
        &self,
        headers: &mut dyn Iterator<Item = &reqwest::header::HeaderValue>,
        _url: &reqwest::Url,
    ) {
        let mut jar = self.0.lock().expect("cookies");
        for header in headers {
            let Ok(cookie) = cookie::Cookie::parse(header.to_str().unwrap_or_default()) else {
                continue;
            };
            let removed = cookie
                .max_age()
                .is_some_and(|age| age <= cookie::time::Duration::ZERO);
            if removed {
                jar.remove(cookie.name());
            } else {
                let path = cookie.path().unwrap_or("/").to_string();
                jar.insert(cookie.name().into(), (path, cookie.value().into()));
            }
        }
    }

    fn cookies(&self, url: &reqwest::Url) -> Option<reqwest::header::HeaderValue> {
        let jar = self.0.lock().expect("cookies");
        let sent: Vec<String> = jar
            .iter()
            .filter(|(_, (path, _))| url.path().starts_with(path.as_str()))
            .map(|(name, (_, value))| format!("{name}={value}"))
            .collect();
        if sent.is_empty() {
            return None;
        }
        reqwest::header::HeaderValue::from_str(&sent.join("; ")).ok()
    }
}

/// The directory the benchmarks' Contoso is connected to, and Gatehouse's registration there.
pub const TENANT: &str = "6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11";
pub const CLIENT_ID: &str = "c1a0d5e2-0f4b-4b8e-9a61-2f7d3e8c9b10";
pub const CLIENT_SECRET: &str = "Bench~Secret.Value_0001";

/// Fabrikam's directory, beside Contoso's (`TENANT`).
pub const FABRIKAM_TENANT: &str = "2a7d9e4b-8c3f-4b1a-a6e5-7f0c2d9b8e31";

/// Contoso with an active connection to the directory at `authority` (everyone may sign in),
/// written through the storage layer: the wizard is not what the benchmarks measure.
pub async fn connected_contoso(
    storage: &gatehouse::storage::Storage,
    master_key: &str,
    authority: &str,
) -> gatehouse::storage::OrganizationRecord {
    connected_organization(
        storage,
        master_key,
        authority,
        ("Contoso", "contoso"),
        TENANT,
        None,
    )
    .await
}

/// An organization (name, slug) with an active connection to `tenant` at `authority`: OpenID
/// Connect, or SAML when given the directory's SAML signing certificate.
pub async fn connected_organization(
    storage: &gatehouse::storage::Storage,
    master_key: &str,
    authority: &str,
    (name, slug): (&str, &str),
    tenant: &str,
    saml: Option<gatehouse::saml::metadata::SigningCertificate>,
) -> gatehouse::storage::OrganizationRecord {
    use gatehouse::connections::{seal_secret, ConnectionConfig, Policy};
    use gatehouse::storage::{Actor, AuditEntry};
    let actor = Actor::system();
    let now = time::OffsetDateTime::now_utc();
    let org = storage
        .create_organization(name, slug, &actor, now)
        .await
        .expect("organization");
    let key = gatehouse::crypto::sealing::SealingKey::from_base64(master_key).expect("master key");
    let config = ConnectionConfig {
        cloud: app::types::Cloud::Custom,
        authority_host: authority.to_string(),
        tenant_id: Some(tenant.into()),
        client_id: Some(CLIENT_ID.into()),
        secret: Some(seal_secret(&key, &org.id, CLIENT_SECRET, "2099-01-01".into()).expect("seal")),
        policy: Policy::default(),
        verification: None,
        ..ConnectionConfig::default()
    };
    let config = match saml {
        None => config,
        Some(certificate) => ConnectionConfig {
            protocol: app::types::Protocol::Saml,
            saml: Some(gatehouse::saml::IdentityProvider {
                entity_id: format!("https://sts.windows.net/{tenant}/"),
                login_url: format!("{authority}/{tenant}/saml2"),
                logout_url: None,
                certificates: vec![certificate],
                metadata_url: None,
            }),
            client_id: None,
            secret: None,
            ..config
        },
    };
    let json = serde_json::to_string(&config).expect("json");
    let entry = AuditEntry::success(Some(&org.id), "connection.draft.credentials", "bench");
    storage
        .save_connection_draft(&org.id, 0, &json, &entry, &actor, now)
        .await
        .expect("draft");
    storage
        .activate_connection(&org.id, 1, &[], &actor, now)
        .await
        .expect("activate");
    org
}

/// A browser's sign-in as `user` of the organization `slug` at the benchmark provider: the
/// start, the provider (which signs the person in at once), then the callback, whose time and
/// answer are returned.
pub async fn sign_in(
    client: &reqwest::Client,
    server: &str,
    slug: &str,
    user: usize,
) -> Result<(Duration, reqwest::Response), String> {
    let start = client
        .get(format!("{server}/o/{slug}/sso?login_hint={user}"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let authorize = location(&start)?;
    let at_provider = client
        .get(authorize)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !at_provider.status().is_redirection() {
        // SAML: the provider answers what Entra's page would post to the Reply URL.
        let form: serde_json::Value = at_provider.json().await.map_err(|e| e.to_string())?;
        let began = std::time::Instant::now();
        let fields = [
            (
                "SAMLResponse",
                form["SAMLResponse"].as_str().unwrap_or_default(),
            ),
            (
                "RelayState",
                form["RelayState"].as_str().unwrap_or_default(),
            ),
        ];
        let action = form["action"].as_str().unwrap_or_default();
        let held = client
            .post(action)
            .form(&fields)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let next = format!("{server}{}", location(&held)?);
        let done = client.get(next).send().await.map_err(|e| e.to_string())?;
        return Ok((began.elapsed(), done));
    }
    let callback = location(&at_provider)?;
    let began = std::time::Instant::now();
    let done = client
        .get(callback)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    Ok((began.elapsed(), done))
}

/// Where a redirect sends the browser.
pub fn location(response: &reqwest::Response) -> Result<String, String> {
    response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| format!("no redirect (status {})", response.status()))
}

/// A browser of the load: its own cookies, redirects not followed (each step is timed).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(std::sync::Arc::new(Cookies::default()))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Where a benchmark's Gatehouse keeps its data: a fresh folder, and the database (a SQLite
/// file there, or the PostgreSQL URL given).
pub struct DataFolder {
    pub data_dir: String,
    pub database_url: String,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
}

impl DataFolder {
    /// `database`: `sqlite` for a fresh file, or the URL of an empty PostgreSQL database.
    pub fn new(database: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "gatehouse-bench-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).expect("data dir");
        let data_dir = dir.to_str().expect("utf-8").to_string();
        let (database_url, backend) = if database == "sqlite" {
            (
                format!("sqlite://{data_dir}/gatehouse.db?mode=rwc"),
                "sqlite",
            )
        } else {
            (database.to_string(), "postgres")
        };
        DataFolder {
            data_dir,
            database_url,
            backend,
        }
    }
}

/// A fresh master key (base64 of 32 random bytes).
pub fn master_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}

/// What every sign-in benchmark runs against, from the command line.
#[derive(clap::Args, Debug)]
pub struct Target {
    /// The release Gatehouse binary.
    #[arg(long, default_value = "target/release/gatehouse")]
    pub gatehouse: String,
    /// `sqlite` for a fresh file, or a PostgreSQL URL of an empty database.
    #[arg(long, default_value = "sqlite")]
    pub database: String,
    /// The core Gatehouse is pinned to (with taskset).
    #[arg(long, default_value_t = 0)]
    pub server_core: usize,
    /// What the organizations' connections speak: `oidc` or `saml`.
    #[arg(long, value_enum, default_value_t = Protocol::Oidc)]
    pub protocol: Protocol,
}

/// The protocol of the benchmark's connections.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Oidc,
    Saml,
}

/// The operator the benchmarks that read the console sign in as.
pub const OPERATOR: &str = "ops@vendor.example";
pub const OPERATOR_PASSWORD: &str = "correct horse battery staple";

/// The first operator, as the first-run page makes them.
pub async fn seed_operator(storage: &gatehouse::storage::Storage) {
    let now = time::OffsetDateTime::now_utc();
    let (_, hash) = gatehouse::crypto::tokens::generate();
    storage
        .create_first_run_link(&hash, now + time::Duration::hours(1), now)
        .await
        .expect("first-run link");
    let password = gatehouse::crypto::passwords::hash(OPERATOR_PASSWORD).expect("hash");
    storage
        .create_first_operator(
            &hash,
            (OPERATOR, OPERATOR),
            "Bench Operator",
            &password,
            &gatehouse::storage::Actor::system(),
            now,
        )
        .await
        .expect("operator");
}

/// The operator's browser at `server`, signed in with their password.
pub async fn operator_console(server: &str) -> reqwest::Client {
    let console = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let signed_in = console
        .post(format!("{server}/api/v1/session"))
        .header("Origin", server)
        .json(&serde_json::json!({"email": OPERATOR, "password": OPERATOR_PASSWORD}))
        .send()
        .await
        .expect("operator sign-in");
    assert!(
        signed_in.status().is_success(),
        "operator sign-in: {}",
        signed_in.status()
    );
    console
}

/// A load's successful and failed sign-ins so far.
#[derive(Debug, Default)]
pub struct Progress {
    pub done: std::sync::atomic::AtomicU64,
    pub failed: std::sync::atomic::AtomicU64,
}

/// What a load of sign-ins did: the successful callbacks' times, sorted (when recorded), and
/// how many failed.
#[derive(Debug, Default)]
pub struct Load {
    pub times: Vec<std::time::Duration>,
    pub failed: u64,
}

/// How a load of sign-ins runs: `users` browsers signing in as the members of `slug` in turn
/// (`members` of them) until `deadline`, each starting a sign-in at most once per `pace` when
/// set; `progress` counts them as they end.
pub struct LoadPlan<'a> {
    pub server: &'a str,
    pub slug: &'a str,
    pub users: usize,
    pub members: usize,
    pub deadline: std::time::Instant,
    pub pace: Option<std::time::Duration>,
    pub record: bool,
    pub progress: std::sync::Arc<Progress>,
}

impl LoadPlan<'_> {
    /// A load flat out for `seconds`, its times recorded, counted on its own.
    pub fn flat_out<'a>(
        server: &'a str,
        slug: &'a str,
        users: usize,
        members: usize,
        seconds: u64,
    ) -> LoadPlan<'a> {
        LoadPlan {
            server,
            slug,
            users,
            members,
            deadline: std::time::Instant::now() + std::time::Duration::from_secs(seconds),
            pace: None,
            record: true,
            progress: Default::default(),
        }
    }
}

/// What a refusal page says in its details (the directory's or the checks' own words).
async fn page_details(answer: reqwest::Response) -> String {
    let page = answer.text().await.unwrap_or_default();
    page.split_once("<pre id=\"details\">")
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map_or_else(
            || page.chars().take(200).collect(),
            |(details, _)| details.to_string(),
        )
}

/// Runs the plan: complete sign-ins that land on the account page.
pub async fn sign_in_load(plan: LoadPlan<'_>) -> Load {
    use std::sync::atomic::{AtomicU64, Ordering};
    let next = std::sync::Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..plan.users)
        .map(|i| {
            let (server, slug) = (plan.server.to_string(), plan.slug.to_string());
            let (next, progress) = (next.clone(), plan.progress.clone());
            let (members, deadline, pace, record) =
                (plan.members, plan.deadline, plan.pace, plan.record);
            let users = plan.users as u32;
            tokio::spawn(async move {
                let client = browser();
                let mut times = Vec::new();
                // Paced users start spread over one pace, not all at once.
                let mut slot = std::time::Instant::now()
                    + pace.map_or(std::time::Duration::ZERO, |p| p * i as u32 / users);
                while std::time::Instant::now() < deadline {
                    if let Some(pace) = pace {
                        tokio::time::sleep_until(slot.into()).await;
                        slot += pace;
                    }
                    let user = (next.fetch_add(1, Ordering::Relaxed) as usize) % members;
                    let outcome = match sign_in(&client, &server, &slug, user).await {
                        Ok((took, answer)) => match location(&answer) {
                            Ok(l) if l == "/account" => Ok(took),
                            _ => Err(format!(
                                "callback answered {}: {}",
                                answer.status(),
                                page_details(answer).await
                            )),
                        },
                        Err(e) => Err(e),
                    };
                    match outcome {
                        Ok(took) => {
                            progress.done.fetch_add(1, Ordering::Relaxed);
                            if record {
                                times.push(took);
                            }
                        }
                        Err(e) => {
                            if progress.failed.fetch_add(1, Ordering::Relaxed) < 3 {
                                eprintln!("sign-in failed: {e}");
                            }
                        }
                    }
                }
                times
            })
        })
        .collect();
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.expect("user"));
    }
    times.sort();
    Load {
        times,
        failed: plan.progress.failed.load(Ordering::Relaxed),
    }
}

/// What the sign-in benchmarks run against: the benchmark provider as the directory of each
/// organization, a database seeded with them, and a release Gatehouse serving it on `core`.
/// Its data folder is removed when it is dropped.
pub struct SignInBench {
    pub provider: directory::Shared,
    pub server: Server,
    pub database_url: String,
    pub data_dir: String,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
}

impl SignInBench {
    /// `database`: `sqlite` for a fresh file, or the URL of an empty PostgreSQL database.
    /// `organizations`: (name, slug, directory tenant id), each with `members` mapped members.
    pub async fn start(
        target: &Target,
        organizations: &[(&str, &str, &str)],
        members: usize,
    ) -> Self {
        let (gatehouse, database, core) = (&target.gatehouse, &target.database, target.server_core);
        let provider = directory::start_provider().await;
        let DataFolder {
            data_dir,
            database_url,
            backend,
        } = DataFolder::new(database);
        let master_key = master_key();
        let saml = (target.protocol == Protocol::Saml).then(|| provider.saml_certificate());
        for (name, slug, tenant) in organizations {
            directory::seed(
                &database_url,
                &master_key,
                &provider.base,
                (name, slug),
                tenant,
                members,
                saml.clone(),
            )
            .await;
        }
        let server = start_server(
            gatehouse,
            Some(core),
            &database_url,
            &master_key,
            &data_dir,
            &provider.base,
        )
        .await;
        SignInBench {
            provider,
            server,
            database_url,
            data_dir,
            backend,
        }
    }

    pub fn pid(&self) -> u32 {
        self.server.child.id()
    }
}

impl Drop for SignInBench {
    fn drop(&mut self) {
        let _ = self.server.child.kill();
        let _ = self.server.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
