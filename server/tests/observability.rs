//! What a platform team watches: sign-in outcomes and directory latency in `/metrics`, the
//! Grafana dashboard in `deploy/grafana/` built on exactly those names, and a readiness check
//! that fails while the database is unreachable and recovers by itself.

mod common;

use common::idp::{sign_in_at_provider, ADELE, CONTOSO_PASSWORD, SIMON, SIMON_OID};
use common::wizard::wizard;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};

const DASHBOARD: &str = include_str!("../../deploy/grafana/gatehouse.json");

/// The queries of every panel.
fn dashboard_queries() -> Vec<String> {
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().expect("expr").to_string())
        .collect()
}

/// The metric names a query reads (Gatehouse's own and the HTTP ones), without a histogram's
/// `_bucket` suffix, and the labels it groups by.
fn names_and_labels(query: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let names = query
        .split(|c: char| !word(c))
        .filter(|w| w.starts_with("gatehouse_") || w.starts_with("http_"))
        .map(|w| w.trim_end_matches("_bucket").to_string())
        .collect();
    let labels = query
        .split("by (")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .flat_map(|list| list.split(',').map(|l| l.trim().to_string()))
        .filter(|l| l != "le")
        .collect();
    (names, labels)
}

#[tokio::test]
async fn sign_in_outcomes_and_directory_latency_are_exported_and_the_dashboard_reads_them() {
    let w = wizard().await;
    w.connect(json!({})).await;
    w.add_mapped_member(SIMON, "B. Simon", SIMON_OID, true)
        .await;
    let start = format!("{}/o/contoso/sso", w.app.url);
    let signed_in = sign_in_at_provider(&w.app.browser(), &start, SIMON, CONTOSO_PASSWORD).await;
    assert_eq!(signed_in.status(), 303);
    // Adele is in the directory but not a member here: refused.
    let refused = sign_in_at_provider(&w.app.browser(), &start, ADELE, CONTOSO_PASSWORD).await;
    assert_eq!(refused.status(), 403);

    let metrics = reqwest::get(format!("{}/metrics", w.app.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"gatehouse_sign_ins_total{protocol="oidc",outcome="success",reason="signed_in"}"#,
        r#"gatehouse_sign_ins_total{protocol="oidc",outcome="refused",reason="no_member"}"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    for kind in ["discovery", "token"] {
        let bucket =
            format!(r#"gatehouse_directory_request_duration_seconds_bucket{{kind="{kind}","#);
        assert!(metrics.contains(&bucket), "{bucket} missing");
    }
    // Labels never name an organization or a person.
    assert!(!metrics.contains("contoso"), "{metrics}");
    assert!(!metrics.contains(SIMON_OID));

    // Every metric the dashboard reads is exported, with the labels it groups by.
    let queries = dashboard_queries();
    assert!(queries.len() >= 6);
    for query in queries {
        let (names, labels) = names_and_labels(&query);
        assert!(
            !names.is_empty(),
            "{query} reads none of Gatehouse's metrics"
        );
        for name in names {
            assert!(
                metrics.contains(&format!("# TYPE {name} ")),
                "the dashboard reads {name}, which Gatehouse does not export"
            );
            let samples: Vec<&str> = metrics
                .lines()
                .filter(|l| {
                    l.starts_with(&format!("{name}{{"))
                        || l.starts_with(&format!("{name}_bucket{{"))
                })
                .collect();
            for label in &labels {
                assert!(
                    samples.iter().any(|l| l.contains(&format!("{label}=\""))),
                    "{query}: {name} has no label {label}"
                );
            }
        }
    }
}

/// A TCP relay to PostgreSQL that can be cut (every connection dropped, new ones refused at
/// once) and restored, as a database outage looks to Gatehouse.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn to(target: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (target, relay_up, relay_connections) =
            (target.to_string(), up.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !relay_up.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let relayed = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                relay_connections.lock().unwrap().push(relayed);
            }
        });
        Relay {
            port,
            up,
            connections,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn ready(app: &common::TestApp) -> reqwest::StatusCode {
    reqwest::get(format!("{}/readyz", app.url))
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn readiness_fails_while_postgresql_is_unreachable_and_recovers_by_itself() {
    let Ok(admin_url) = std::env::var("GATEHOUSE_TEST_POSTGRES_URL") else {
        eprintln!("PostgreSQL only: set GATEHOUSE_TEST_POSTGRES_URL (scripts/test.sh does)");
        return;
    };
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let direct = common::fresh_database_url(&dir).await;
    let (server, database) = direct
        .trim_start_matches("postgres://")
        .split_once('/')
        .map(|(authority, db)| (authority.rsplit('@').next().unwrap().to_string(), db))
        .unwrap();
    let relay = Relay::to(&server).await;
    let user = admin_url
        .trim_start_matches("postgres://")
        .split('@')
        .next()
        .unwrap();
    let through_relay = format!("postgres://{user}@127.0.0.1:{}/{database}", relay.port);
    let app = common::spawn_app_on(dir, through_relay).await;
    assert_eq!(ready(&app).await, 200);

    relay.cut();
    let started = std::time::Instant::now();
    assert_eq!(
        ready(&app).await,
        503,
        "not ready while the database is cut off"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    relay.restore();
    let mut answers = Vec::new();
    for _ in 0..40 {
        let status = ready(&app).await;
        answers.push(status.as_u16());
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(
        answers.last(),
        Some(&200),
        "ready again by itself within 10 s: {answers:?}"
    );
}
