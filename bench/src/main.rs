//! Complete sign-ins (start → provider → callback → session) against a release Gatehouse
//! pinned to one core, with a fast stateless Entra-shaped provider that signs real RS256 ID
//! tokens. Reports sign-ins per second, p50/p99 of the callback, the server's CPU time per
//! sign-in, its memory over the run, and the provider's discovery and key fetches once warm.
//!
//! Run through `bench/run.sh`, which builds everything in release mode and pins the processes.

use bench::{
    cpu_time, memory_mib, percentile, sign_in_load, DatabaseProcesses, Load, LoadPlan, SignInBench,
    Target,
};
use clap::Parser;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    target: Target,
    /// Concurrent users.
    #[arg(long, default_value_t = 4)]
    users: usize,
    /// Measured seconds (after a warm-up of five).
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Mapped members to sign in as, round robin.
    #[arg(long, default_value_t = 1000)]
    members: usize,
}

// ---------------------------------------------------------------------------------------------
// The server process and its resource use.

// ---------------------------------------------------------------------------------------------
// The load: each user is a browser with its own cookies, signing in again and again.

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let bench = SignInBench::start(
        &args.target,
        &[("Contoso", "contoso", bench::TENANT)],
        args.members,
    )
    .await;
    let (provider, server) = (&bench.provider, &bench.server);
    let pid = bench.pid();

    let run = |seconds: u64| {
        sign_in_load(LoadPlan::flat_out(
            &server.url,
            "contoso",
            args.users,
            args.members,
            seconds,
        ))
    };

    // Warm up: the discovery document and keys are fetched once here.
    run(5).await;
    let warm = (
        provider.discovery.load(Ordering::Relaxed),
        provider.keys.load(Ordering::Relaxed),
    );
    let cpu_before = cpu_time(pid);
    let database = match args.target.database.as_str() {
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
    let Load {
        times: latencies,
        failed,
    } = run(args.seconds).await;
    let elapsed = began.elapsed().as_secs_f64();
    let cpu = cpu_time(pid) - cpu_before;
    let database_cpu = match database {
        Some(database) => database.spent().await,
        None => None,
    };
    let samples = sampler.await.unwrap_or_default();
    let (_, peak) = memory_mib(pid);
    let count = latencies.len() as f64;
    let fetches = (
        provider.discovery.load(Ordering::Relaxed) - warm.0,
        provider.keys.load(Ordering::Relaxed) - warm.1,
    );
    let backend = bench.backend;
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
    drop(bench);
}
