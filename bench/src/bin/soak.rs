//! The soak: complete sign-ins at half of the peak this machine reaches, with an operator
//! reading the console (the members list and the audit log) every second, for ten minutes.
//! Every minute it prints the server's memory and open files, the sign-ins and failures so
//! far, and the database's size; at the end, the size per 100,000 sign-ins (what retention
//! has to keep bounded: each sign-in writes an audit entry and a used state).
//!
//! Run through `bench/soak.sh` (release builds, Gatehouse pinned to one core).

use bench::{browser, files_and_threads, location, memory_mib, sign_in, SignInBench};
use clap::Parser;
use gatehouse::storage::{Actor, Storage};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value = "target/release/gatehouse")]
    gatehouse: String,
    /// `sqlite` for a fresh file, or a PostgreSQL URL of an empty database.
    #[arg(long, default_value = "sqlite")]
    database: String,
    #[arg(long, default_value_t = 4)]
    users: usize,
    /// Minutes of the soak (after ten seconds that measure the peak).
    #[arg(long, default_value_t = 10)]
    minutes: u64,
    #[arg(long, default_value_t = 0)]
    server_core: usize,
}

const MEMBERS: usize = 1000;
const OPERATOR: &str = "ops@vendor.example";
const PASSWORD: &str = "correct horse battery staple";

/// The first operator, as the first-run page makes them.
async fn operator(database_url: &str) {
    let storage = Storage::connect(database_url).await.expect("database");
    let now = time::OffsetDateTime::now_utc();
    let (token, hash) = gatehouse::crypto::tokens::generate();
    let _ = token;
    storage
        .create_first_run_link(&hash, now + time::Duration::hours(1), now)
        .await
        .expect("first-run link");
    let password = gatehouse::crypto::passwords::hash(PASSWORD).expect("hash");
    storage
        .create_first_operator(
            &hash,
            (OPERATOR, OPERATOR),
            "Ops",
            &password,
            &Actor::system(),
            now,
        )
        .await
        .expect("operator");
}

/// The database's size in bytes: the SQLite file and its log, or PostgreSQL's own count.
async fn database_size(database_url: &str, data_dir: &str) -> u64 {
    if database_url.starts_with("sqlite") {
        ["gatehouse.db", "gatehouse.db-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(format!("{data_dir}/{f}")).ok())
            .map(|m| m.len())
            .sum()
    } else {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(database_url).await.expect("pg");
        let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
            .fetch_one(&mut conn)
            .await
            .expect("size");
        size as u64
    }
}

/// Sign-ins by `users` browsers until `deadline`, each waiting for its next slot when `pace`
/// is set: answers how many succeeded and failed.
async fn sign_ins(
    server: String,
    users: usize,
    deadline: Instant,
    pace: Option<Duration>,
    done: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
) {
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..users)
        .map(|i| {
            let (server, next, done, failed) = (
                server.to_string(),
                next.clone(),
                done.clone(),
                failed.clone(),
            );
            tokio::spawn(async move {
                let client = browser();
                let mut slot =
                    Instant::now() + pace.map_or(Duration::ZERO, |p| p * i as u32 / users as u32);
                while Instant::now() < deadline {
                    if let Some(pace) = pace {
                        tokio::time::sleep_until(slot.into()).await;
                        slot += pace;
                    }
                    let user = (next.fetch_add(1, Ordering::Relaxed) as usize) % MEMBERS;
                    match sign_in(&client, &server, "contoso", user).await {
                        Ok((_, answer)) if location(&answer).as_deref() == Ok("/account") => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("user");
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let bench = SignInBench::start(
        &args.gatehouse,
        &args.database,
        args.server_core,
        &[("Contoso", "contoso", bench::TENANT)],
        MEMBERS,
    )
    .await;
    // The operator arrives after the start, as one would with the first-run link.
    operator(&bench.database_url).await;
    let (database_url, data_dir) = (bench.database_url.clone(), bench.data_dir.clone());
    let pid = bench.pid();
    let url = bench.server.url.clone();
    let backend = bench.backend;

    // The peak: ten seconds flat out.
    let (done, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    sign_ins(
        url.clone(),
        args.users,
        started + Duration::from_secs(10),
        None,
        done.clone(),
        failed.clone(),
    )
    .await;
    let peak = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    let rate = peak / 2.0;
    let pace = Duration::from_secs_f64(args.users as f64 / rate);
    let size_before = database_size(&database_url, &data_dir).await;
    let signed_in_before = done.load(Ordering::Relaxed);
    println!(
        "{backend}: peak {peak:.0} sign-ins/s; the soak runs at {rate:.0}/s for {} minutes",
        args.minutes
    );

    // The console: the operator reads the members list and the audit log every second.
    let console = browser();
    let session = console
        .post(format!("{url}/api/v1/session"))
        .header("Origin", &url)
        .json(&serde_json::json!({"email": OPERATOR, "password": PASSWORD}))
        .send()
        .await
        .expect("operator sign-in");
    assert!(
        session.status().is_success(),
        "operator sign-in: {}",
        session.status()
    );
    let orgs: serde_json::Value = console
        .get(format!("{url}/api/v1/organizations"))
        .send()
        .await
        .expect("organizations")
        .json()
        .await
        .expect("json");
    let org = orgs["items"][0]["id"]
        .as_str()
        .expect("Contoso")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(args.minutes * 60);
    let console_failed = Arc::new(AtomicU64::new(0));
    let reader = {
        let (url, failed) = (url.clone(), console_failed.clone());
        tokio::spawn(async move {
            while Instant::now() < deadline {
                for path in [
                    format!("/api/v1/organizations/{org}/members?sort=last_sign_in"),
                    format!("/api/v1/organizations/{org}/audit"),
                ] {
                    let ok = console
                        .get(format!("{url}{path}"))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if !ok {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let (soak_done, soak_failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load = tokio::spawn(sign_ins(
        url.clone(),
        args.users,
        deadline,
        Some(pace),
        soak_done.clone(),
        soak_failed.clone(),
    ));
    let mut curve = Vec::new();
    for minute in 1..=args.minutes {
        tokio::time::sleep_until(
            (deadline - Duration::from_secs((args.minutes - minute) * 60)).into(),
        )
        .await;
        let (rss, _) = memory_mib(pid);
        let (files, threads) = files_and_threads(pid);
        let size = database_size(&database_url, &data_dir).await;
        println!(
            "{backend} minute {minute:>2}: rss {rss:.1} MiB, open files {files}, threads {threads}, \
             sign-ins {} (failed {}), console failures {}, database {:.1} MiB",
            soak_done.load(Ordering::Relaxed),
            soak_failed.load(Ordering::Relaxed),
            console_failed.load(Ordering::Relaxed),
            size as f64 / 1_048_576.0,
        );
        curve.push((rss, files));
    }
    load.await.expect("load");
    reader.await.expect("console");
    let signed_in =
        soak_done.load(Ordering::Relaxed) + done.load(Ordering::Relaxed) - signed_in_before;
    let size_after = database_size(&database_url, &data_dir).await;
    let per_100k =
        (size_after.saturating_sub(size_before)) as f64 / signed_in.max(1) as f64 * 100_000.0;
    println!(
        "{}",
        serde_json::json!({
            "backend": backend,
            "peak_per_second": peak,
            "soak_per_second": soak_done.load(Ordering::Relaxed) as f64 / (args.minutes * 60) as f64,
            "sign_ins": soak_done.load(Ordering::Relaxed),
            "failed": soak_failed.load(Ordering::Relaxed),
            "console_failures": console_failed.load(Ordering::Relaxed),
            "rss_mib_per_minute": curve.iter().map(|c| (c.0 * 10.0).round() / 10.0).collect::<Vec<_>>(),
            "open_files_per_minute": curve.iter().map(|c| c.1).collect::<Vec<_>>(),
            "database_mib_per_100k_sign_ins": (per_100k / 1_048_576.0 * 10.0).round() / 10.0,
        })
    );
    drop(bench);
}
