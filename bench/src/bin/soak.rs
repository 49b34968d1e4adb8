//! The soak: complete sign-ins at half of the peak this machine reaches, with an operator
//! reading the console (the members list and the audit log) every second, for ten minutes.
//! Every minute it prints the server's memory and open files, the sign-ins and failures so
//! far, and the database's size; at the end, the size per 100,000 sign-ins (what retention
//! has to keep bounded: each sign-in writes an audit entry and a used state).
//!
//! Run through `bench/soak.sh` (release builds, Gatehouse pinned to one core).

use bench::{
    files_and_threads, memory_mib, operator_console, seed_operator, sign_in_load, LoadPlan,
    Progress, SignInBench, Target,
};
use clap::Parser;
use gatehouse::storage::Storage;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    target: Target,
    #[arg(long, default_value_t = 4)]
    users: usize,
    /// Minutes of the soak (after ten seconds that measure the peak).
    #[arg(long, default_value_t = 10)]
    minutes: u64,
}

const MEMBERS: usize = 1000;

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

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let bench = SignInBench::start(
        &args.target,
        &[("Contoso", "contoso", bench::TENANT)],
        MEMBERS,
    )
    .await;
    // The operator arrives after the start, as one would with the first-run link.
    seed_operator(
        &Storage::connect(&bench.database_url)
            .await
            .expect("database"),
    )
    .await;
    let (database_url, data_dir) = (bench.database_url.clone(), bench.data_dir.clone());
    let pid = bench.pid();
    let url = bench.server.url.clone();
    let backend = bench.backend;

    // The peak: ten seconds flat out.
    let started = Instant::now();
    let peak_load =
        sign_in_load(LoadPlan::flat_out(&url, "contoso", args.users, MEMBERS, 10)).await;
    let peak = peak_load.times.len() as f64 / started.elapsed().as_secs_f64();
    let rate = peak / 2.0;
    let pace = Duration::from_secs_f64(args.users as f64 / rate);
    let size_before = database_size(&database_url, &data_dir).await;
    println!(
        "{backend}: peak {peak:.0} sign-ins/s; the soak runs at {rate:.0}/s for {} minutes",
        args.minutes
    );

    // The console: the operator reads the members list and the audit log every second.
    let console = operator_console(&url).await;
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
    let progress = Arc::new(Progress::default());
    let load = {
        let (url, progress) = (url.clone(), progress.clone());
        let users = args.users;
        tokio::spawn(async move {
            sign_in_load(LoadPlan {
                server: &url,
                slug: "contoso",
                users,
                members: MEMBERS,
                deadline,
                pace: Some(pace),
                record: false,
                progress,
            })
            .await
        })
    };
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
            progress.done.load(Ordering::Relaxed),
            progress.failed.load(Ordering::Relaxed),
            console_failed.load(Ordering::Relaxed),
            size as f64 / 1_048_576.0,
        );
        curve.push((rss, files));
    }
    let failed = load.await.expect("load").failed;
    reader.await.expect("console");
    let signed_in = progress.done.load(Ordering::Relaxed);
    let size_after = database_size(&database_url, &data_dir).await;
    let per_100k =
        (size_after.saturating_sub(size_before)) as f64 / signed_in.max(1) as f64 * 100_000.0;
    println!(
        "{}",
        serde_json::json!({
            "backend": backend,
            "peak_per_second": peak,
            "soak_per_second": signed_in as f64 / (args.minutes * 60) as f64,
            "sign_ins": signed_in,
            "failed": failed,
            "console_failures": console_failed.load(Ordering::Relaxed),
            "rss_mib_per_minute": curve.iter().map(|c| (c.0 * 10.0).round() / 10.0).collect::<Vec<_>>(),
            "open_files_per_minute": curve.iter().map(|c| c.1).collect::<Vec<_>>(),
            "database_mib_per_100k_sign_ins": (per_100k / 1_048_576.0 * 10.0).round() / 10.0,
        })
    );
    drop(bench);
}
