//! The members benchmark: one organization of 100,000 members (imported through the CSV API,
//! preview then apply, with the server's peak memory) among 1,000 other organizations of 100
//! members each; then the members list API under every page, search, filter and order, and the
//! sign-in lookup by (tenant id, object id) at the storage layer.
//!
//! Run through `bench/members.sh`, which builds everything in release mode.

use bench::{
    memory_mib, percentile, seed_operator, start_server, DataFolder, OPERATOR, OPERATOR_PASSWORD,
};
use clap::Parser;
use gatehouse::connections::{seal_secret, ConnectionConfig, Policy};
use gatehouse::crypto::sealing::SealingKey;
use gatehouse::storage::{Actor, AuditEntry, ImportChanges, ImportedMember, Storage};
use serde_json::{json, Value};
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

const TENANT: &str = "6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11";
const FIRST: [&str; 12] = [
    "Ann", "Ben", "Chloe", "Dan", "Eve", "Farid", "Grace", "Hiro", "Ines", "Jon", "Kemi", "Lars",
];
const LAST: [&str; 10] = [
    "Smith", "Jones", "Garcia", "Nguyen", "Okafor", "Muller", "Rossi", "Tanaka", "Silva",
    "Kowalski",
];

#[derive(Parser, Debug)]
struct Args {
    /// The release Gatehouse binary.
    #[arg(long, default_value = "target/release/gatehouse")]
    gatehouse: String,
    /// `sqlite` for a fresh file, or a PostgreSQL URL of an empty database.
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// Members of the organization under test.
    #[arg(long, default_value_t = 100_000)]
    members: usize,
    /// Other organizations, each with `--per-org` members.
    #[arg(long, default_value_t = 1000)]
    other_orgs: usize,
    #[arg(long, default_value_t = 100)]
    per_org: usize,
    /// Requests per list scenario: with 100, the p99 is the second slowest (with 20 it would
    /// be the slowest alone).
    #[arg(long, default_value_t = 100)]
    samples: usize,
}

fn oid(org: usize, i: usize) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        org,
        i % 0xffff,
        i % 0xfff,
        org % 0xfff,
        i
    )
}

fn name(i: usize) -> String {
    format!(
        "{} {} {i}",
        FIRST[i % FIRST.len()],
        LAST[(i / 7) % LAST.len()]
    )
}

/// The other organizations, written straight through the storage layer's bulk import.
async fn seed_others(storage: &Storage, args: &Args, actor: &Actor) {
    let now = time::OffsetDateTime::now_utc();
    for o in 0..args.other_orgs {
        let org = storage
            .create_organization(&format!("Org {o}"), &format!("org-{o}"), actor, now)
            .await
            .expect("organization");
        let creates = (0..args.per_org)
            .map(|i| ImportedMember {
                email: format!("user{i}@org{o}.example"),
                email_normalized: format!("user{i}@org{o}.example"),
                display_name: name(i),
                role: "member",
                object_id: Some(oid(o + 1, i)),
                sso_enabled: i % 2 == 0,
            })
            .collect();
        let changes = ImportChanges {
            creates,
            ..ImportChanges::default()
        };
        storage
            .apply_member_import(
                &org.id,
                Some(TENANT),
                |_| Ok::<_, ()>(changes),
                &AtomicU64::new(0),
                actor,
                now,
            )
            .await
            .expect("seed")
            .expect("no problems");
    }
}

/// The organization under test, with its directory's credentials saved (Object IDs need one).
async fn seed_contoso(storage: &Storage, master_key: &str, actor: &Actor) -> String {
    let now = time::OffsetDateTime::now_utc();
    let org = storage
        .create_organization("Contoso", "contoso", actor, now)
        .await
        .expect("organization");
    let key = SealingKey::from_base64(master_key).expect("master key");
    let config = ConnectionConfig {
        cloud: app::types::Cloud::Custom,
        authority_host: "http://127.0.0.1:9".into(),
        tenant_id: Some(TENANT.into()),
        client_id: Some("c1a0d5e2-0f4b-4b8e-9a61-2f7d3e8c9b10".into()),
        secret: Some(
            seal_secret(&key, &org.id, "Bench~Secret", "2099-01-01".into()).expect("seal"),
        ),
        policy: Policy::default(),
        verification: None,
        ..ConnectionConfig::default()
    };
    let json = serde_json::to_string(&config).expect("json");
    let entry = AuditEntry::success(Some(&org.id), "connection.draft.credentials", "bench");
    storage
        .save_connection_draft(&org.id, 0, &json, &entry, actor, now)
        .await
        .expect("draft");
    org.id
}

fn members_csv(count: usize) -> String {
    let mut csv = String::from("email,display name,role,object id,sso enabled\n");
    for i in 0..count {
        let object_id = if i % 10 == 9 {
            String::new()
        } else {
            oid(0, i)
        };
        let sso = if i % 2 == 0 { "yes" } else { "no" };
        csv.push_str(&format!(
            "user{i}@contoso.com,{},member,{object_id},{sso}\n",
            name(i)
        ));
    }
    csv
}

struct Api {
    client: reqwest::Client,
    url: String,
}

impl Api {
    /// Sends a request and answers its JSON body and how long it took; any failure stops the run.
    async fn send(&self, request: reqwest::RequestBuilder, path: &str) -> (Duration, Value) {
        let started = Instant::now();
        let response = request.send().await.expect("request");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        let body: Value = response.json().await.expect("json");
        (started.elapsed(), body)
    }

    async fn get(&self, path: &str) -> (Duration, Value) {
        let request = self.client.get(format!("{}/api/v1{path}", self.url));
        self.send(request, path).await
    }

    async fn post(&self, path: &str, body: reqwest::Body, content_type: &str) -> Value {
        let request = self
            .client
            .post(format!("{}/api/v1{path}", self.url))
            .header("Origin", &self.url)
            .header("Content-Type", content_type)
            .body(body);
        self.send(request, path).await.1
    }
}

/// Polls an import until it leaves `stage`, sampling the server's memory meanwhile.
async fn wait_while(api: &Api, path: &str, stage: &str, pid: u32, peak: &mut f64) -> Value {
    loop {
        *peak = peak.max(memory_mib(pid).0);
        let (_, view) = api.get(path).await;
        if view["stage"] != stage {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let DataFolder {
        data_dir,
        database_url,
        backend,
    } = DataFolder::new(&args.database);
    let backend = if backend == "sqlite" {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    let master_key = bench::master_key();
    let storage = Storage::connect(&database_url).await.expect("database");
    let actor = Actor::system();
    let seeding = Instant::now();
    seed_operator(&storage).await;
    seed_others(&storage, &args, &actor).await;
    let org = seed_contoso(&storage, &master_key, &actor).await;
    eprintln!(
        "seeded {} organizations of {} members in {:.1} s",
        args.other_orgs,
        args.per_org,
        seeding.elapsed().as_secs_f64()
    );

    // The seeded connection's authority, which nothing answers: reads of the directory fail
    // as an unreachable directory does.
    let server = start_server(
        &args.gatehouse,
        None,
        &database_url,
        &master_key,
        &data_dir,
        "http://127.0.0.1:9",
    )
    .await;
    let pid = server.child.id();
    let api = Api {
        client: reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("client"),
        url: server.url.clone(),
    };
    api.post(
        "/session",
        json!({ "email": OPERATOR, "password": OPERATOR_PASSWORD })
            .to_string()
            .into(),
        "application/json",
    )
    .await;

    // The CSV import: preview, then apply, with the server's memory sampled throughout.
    let csv = members_csv(args.members);
    let file_mib = csv.len() as f64 / (1024.0 * 1024.0);
    let rss_before = memory_mib(pid).0;
    let mut peak = rss_before;
    let started = Instant::now();
    let import = api
        .post(
            &format!("/organizations/{org}/member-imports"),
            csv.into(),
            "text/csv",
        )
        .await;
    let status_path = format!(
        "/organizations/{org}/member-imports/{}",
        import["id"].as_str().expect("id")
    );
    let preview = wait_while(&api, &status_path, "checking", pid, &mut peak).await;
    let preview_time = started.elapsed();
    assert_eq!(preview["stage"], "ready", "{preview}");
    assert_eq!(preview["to_create"], args.members as u64);
    let applying = Instant::now();
    api.post(
        &format!("{status_path}/apply"),
        "{}".into(),
        "application/json",
    )
    .await;
    let applied = wait_while(&api, &status_path, "applying", pid, &mut peak).await;
    let apply_time = applying.elapsed();
    assert_eq!(applied["stage"], "applied", "{applied}");
    let (_, hwm) = memory_mib(pid);
    peak = peak.max(hwm);

    // The members list, every kind of request.
    let pages = args.members.div_ceil(50);
    let members = format!("/organizations/{org}/members");
    let scenarios: Vec<(String, String)> = vec![
        ("first page, by name".into(), format!("{members}?page=1")),
        (
            "middle page, by name".into(),
            format!("{members}?page={}", pages / 2),
        ),
        (
            "last page, by name".into(),
            format!("{members}?page={pages}"),
        ),
        (
            "a page by email".into(),
            format!("{members}?sort=email&page={}", pages / 3),
        ),
        (
            "by last SSO sign-in".into(),
            format!("{members}?sort=last_sign_in&page=7"),
        ),
        ("search a surname".into(), format!("{members}?q=okafor")),
        (
            "search a surname, page 20".into(),
            format!("{members}?q=okafor&page=20"),
        ),
        (
            "search an email".into(),
            format!("{members}?q=user77777%40"),
        ),
        ("search no match".into(), format!("{members}?q=zzzz")),
        (
            "search matching everyone".into(),
            format!("{members}?q=contoso&page=1000"),
        ),
        (
            "Object ID prefix".into(),
            format!("{members}?q=00000000-0001"),
        ),
        (
            "filter mapped".into(),
            format!("{members}?filter=mapped&page=100"),
        ),
        (
            "filter unmapped".into(),
            format!("{members}?filter=unmapped&page=10"),
        ),
        (
            "filter SSO enabled".into(),
            format!("{members}?filter=sso_enabled&page=500"),
        ),
        (
            "filter recent SSO".into(),
            format!("{members}?filter=recent_sso"),
        ),
        (
            "search + filter + sort".into(),
            format!("{members}?q=grace&filter=mapped&sort=email&page=3"),
        ),
    ];
    let mut all = Vec::new();
    println!(
        "\n## Members list API ({backend}, {} members + {} × {})\n",
        args.members, args.other_orgs, args.per_org
    );
    println!("| request | total | p50 ms | p99 ms |");
    println!("| --- | --- | --- | --- |");
    for (label, path) in &scenarios {
        let mut times = Vec::new();
        let mut total = 0;
        for _ in 0..args.samples {
            let (took, body) = api.get(path).await;
            total = body["total"].as_i64().unwrap_or(0);
            times.push(took);
        }
        times.sort();
        println!(
            "| {label} | {total} | {:.1} | {:.1} |",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
        all.extend(times);
    }
    all.sort();
    println!(
        "| **all {} requests** | | {:.1} | {:.1} |",
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.99)
    );

    // The sign-in lookup at the storage layer.
    let mut lookups = Vec::new();
    for n in 0..10_000usize {
        let i = (n * 7919) % args.members;
        let i = if i % 10 == 9 { i - 1 } else { i };
        let started = Instant::now();
        let found = storage
            .find_member_by_directory_identity(&org, TENANT, &oid(0, i))
            .await
            .expect("lookup");
        lookups.push(started.elapsed());
        assert!(found.is_some(), "member {i} is mapped");
    }
    lookups.sort();

    println!("\n## Import and lookup ({backend})\n");
    println!("| measure | value |");
    println!("| --- | --- |");
    println!("| CSV file | {} rows, {file_mib:.1} MiB |", args.members);
    println!(
        "| preview (upload + check) | {:.2} s |",
        preview_time.as_secs_f64()
    );
    println!(
        "| apply (one transaction) | {:.2} s |",
        apply_time.as_secs_f64()
    );
    println!(
        "| preview + apply | {:.2} s |",
        (preview_time + apply_time).as_secs_f64()
    );
    println!("| server memory before / peak | {rss_before:.1} / {peak:.1} MiB |");
    println!(
        "| lookup by (tenant id, object id), 10,000 | p50 {:.3} ms, p99 {:.3} ms |",
        percentile(&lookups, 0.5),
        percentile(&lookups, 0.99)
    );
    drop(server);
    storage.close().await;
    let _ = std::fs::remove_dir_all(&data_dir);
}
