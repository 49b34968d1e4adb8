//! A directory outage: Fabrikam's directory stops answering (its token endpoint hangs) while
//! Contoso's people go on signing in. Reports how long Fabrikam's people wait for the page that
//! says their directory did not answer (Gatehouse's directory timeout, 5 s by default), the p50
//! and p99 of Contoso's sign-ins before and during the outage, the server's open files and
//! threads (nothing piles up), and how soon Fabrikam signs in again once its directory is back.
//!
//! Run through `bench/outage.sh` (release builds, Gatehouse pinned to one core).

use bench::{
    browser, files_and_threads, location, percentile, sign_in, sign_in_load, LoadPlan, SignInBench,
    Target,
};
use clap::Parser;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    target: Target,
    /// Contoso's concurrent users.
    #[arg(long, default_value_t = 4)]
    users: usize,
    /// Fabrikam's people trying to sign in during the outage, at once.
    #[arg(long, default_value_t = 16)]
    stuck: usize,
    /// Seconds before the outage, and seconds of it.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
}

const MEMBERS: usize = 200;

/// Contoso's people signing in for `seconds`: the callbacks' times, and how many failed.
async fn contoso_load(server: &str, users: usize, seconds: u64) -> (Vec<Duration>, u64) {
    let load = sign_in_load(LoadPlan::flat_out(
        server, "contoso", users, MEMBERS, seconds,
    ))
    .await;
    (load.times, load.failed)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let bench = SignInBench::start(
        &args.target,
        &[
            ("Contoso", "contoso", bench::TENANT),
            ("Fabrikam", "fabrikam", bench::FABRIKAM_TENANT),
        ],
        MEMBERS,
    )
    .await;
    let provider = &bench.provider;
    let pid = bench.pid();
    let url = bench.server.url.clone();

    // Warm: both directories' documents and keys are read once.
    contoso_load(&url, args.users, 3).await;
    sign_in(&browser(), &url, "fabrikam", 0)
        .await
        .expect("Fabrikam signs in before the outage");
    let (files_before, threads_before) = files_and_threads(pid);
    let (before, failed_before) = contoso_load(&url, args.users, args.seconds).await;

    // The outage: Fabrikam's token endpoint hangs.
    provider.hang(Some(bench::FABRIKAM_TENANT));
    let outage_on = Arc::new(AtomicBool::new(true));
    let stuck: Vec<_> = (0..args.stuck)
        .map(|i| {
            let (url, on) = (url.clone(), outage_on.clone());
            tokio::spawn(async move {
                let client = browser();
                let (mut waits, mut other) = (Vec::new(), 0u64);
                while on.load(Ordering::Relaxed) {
                    match sign_in(&client, &url, "fabrikam", i % MEMBERS).await {
                        Ok((took, done)) if done.status() == 502 => waits.push(took),
                        _ => other += 1,
                    }
                }
                (waits, other)
            })
        })
        .collect();
    let peak = Arc::new(std::sync::Mutex::new((0usize, 0usize)));
    let watcher = {
        let (peak, on) = (peak.clone(), outage_on.clone());
        tokio::spawn(async move {
            while on.load(Ordering::Relaxed) {
                let (files, threads) = files_and_threads(pid);
                {
                    let mut p = peak.lock().unwrap();
                    *p = (p.0.max(files), p.1.max(threads));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let (during, failed_during) = contoso_load(&url, args.users, args.seconds).await;
    outage_on.store(false, Ordering::Relaxed);
    provider.hang(None);
    let (mut waits, mut unexpected) = (Vec::new(), 0);
    for task in stuck {
        let (w, other) = task.await.expect("stuck user");
        waits.extend(w);
        unexpected += other;
    }
    watcher.await.ok();
    waits.sort();

    // Back: how soon Fabrikam signs in again.
    let back = Instant::now();
    let recovered = loop {
        if let Ok((_, done)) = sign_in(&browser(), &url, "fabrikam", 1).await {
            if location(&done).as_deref() == Ok("/account") {
                break back.elapsed();
            }
        }
        if back.elapsed() > Duration::from_secs(30) {
            break back.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (files_after, threads_after) = files_and_threads(pid);
    let peak = *peak.lock().unwrap();
    let backend = bench.backend;
    println!(
        "{backend}: contoso before p50={:.2}ms p99={:.2}ms (n={}, failed {failed_before}); \
         during p50={:.2}ms p99={:.2}ms (n={}, failed {failed_during}); \
         fabrikam's page after p50={:.0}ms p99={:.0}ms max={:.0}ms (n={}, other answers {unexpected}); \
         open files {files_before} → peak {} → {files_after}, threads {threads_before} → peak {} → {threads_after}; \
         fabrikam signs in again after {:.0}ms",
        percentile(&before, 0.5),
        percentile(&before, 0.99),
        before.len(),
        percentile(&during, 0.5),
        percentile(&during, 0.99),
        during.len(),
        percentile(&waits, 0.5),
        percentile(&waits, 0.99),
        percentile(&waits, 1.0),
        waits.len(),
        peak.0,
        peak.1,
        recovered.as_secs_f64() * 1000.0,
    );
    println!(
        "{}",
        serde_json::json!({
            "backend": backend,
            "contoso_p99_before_ms": percentile(&before, 0.99),
            "contoso_p99_during_ms": percentile(&during, 0.99),
            "fabrikam_error_page_p50_ms": percentile(&waits, 0.5),
            "recovered_ms": recovered.as_secs_f64() * 1000.0,
            "contoso_failed": failed_before + failed_during,
        })
    );
    drop(bench);
}
