//! Nothing is lost on a crash: the real `gatehouse` binary, on SQLite, is killed with SIGKILL
//! while people sign in and a CSV import is being applied; after a restart on the same data the
//! database is whole, every sign-in that the load saw succeed kept its session and its audit
//! entry, and the import is either all there or not there at all.

mod common;

use common::idp::{sign_in_at_provider, Idp, CONTOSO_PASSWORD, SIMON, SIMON_OID};
use common::wizard::{wizard_on, Wizard};
use common::{body, leptos_toml, spawn_app_on, spawn_app_on_sqlite_allowing};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Members in the import: enough that applying them takes a while.
const IMPORTED: usize = 30_000;
/// Sign-ins the load must have seen succeed before the kill.
const SIGN_INS_BEFORE_KILL: usize = 12;

/// The server binary, started on `address` with the test's data folder and database.
fn start_binary(address: &str, data_dir: &str, database_url: &str, authority: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["--listen", address, "--data-dir", data_dir])
        .args(["--database-url", database_url])
        .args(["--allowed-authorities", authority])
        .arg("--leptos-toml")
        .arg(leptos_toml())
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .expect("the gatehouse binary starts")
}

async fn wait_until_ready(url: &str) {
    for _ in 0..300 {
        if let Ok(response) = reqwest::get(format!("{url}/readyz")).await {
            if response.status() == StatusCode::OK {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server at {url} never became ready");
}

/// Uploads the CSV and waits for its preview.
async fn preview(url: &str, admin: &Client, org: &str, csv: String) -> String {
    let uploaded = admin
        .post(format!("{url}/api/v1/organizations/{org}/member-imports"))
        .header("Origin", url)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("upload");
    assert_eq!(uploaded.status(), StatusCode::ACCEPTED);
    let id = body(uploaded).await["id"].as_str().expect("id").to_string();
    for _ in 0..1200 {
        let view: Value = body(
            admin
                .get(format!(
                    "{url}/api/v1/organizations/{org}/member-imports/{id}"
                ))
                .send()
                .await
                .expect("import"),
        )
        .await;
        match view["stage"].as_str() {
            Some("ready") => {
                assert_eq!(view["to_create"], IMPORTED, "{view}");
                return id;
            }
            Some("failed") => panic!("the preview failed: {view}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("the preview never finished");
}

/// Signs B.Simon in, again and again, each time in a new browser; keeps the session id of every
/// sign-in that ended signed in.
async fn sign_in_forever(start_url: String, seen: Arc<Mutex<Vec<String>>>) {
    loop {
        let browser = Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let callback = sign_in_at_provider(&browser, &start_url, SIMON, CONTOSO_PASSWORD).await;
        if callback.status() == StatusCode::SEE_OTHER {
            if let Some(id) = common::cookie_set(&callback, "gatehouse_session=")
                .and_then(|c| c.strip_prefix("gatehouse_session=").map(str::to_string))
            {
                seen.lock().unwrap().push(id);
            }
        }
    }
}

async fn count(conn: &mut sqlx::SqliteConnection, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(conn)
        .await
        .expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_during_sign_ins_and_an_import_loses_no_sign_in_and_applies_the_import_whole_or_not_at_all(
) {
    let idp = Idp::start();
    let app = spawn_app_on_sqlite_allowing(&idp.url).await;
    let w = wizard_on(idp, app).await;
    w.connect(json!({ "mode": "selected_members" })).await;
    w.add_mapped_member(SIMON, "B. Simon", SIMON_OID, true)
        .await;
    let Wizard {
        app,
        idp,
        admin,
        org,
        ..
    } = w;
    let (url, dir, database_url) = (app.url.clone(), app.dir.clone(), app.database_url.clone());
    Arc::into_inner(app)
        .expect("the test's only Gatehouse")
        .stop()
        .await;

    // The same address, so the redirect URI registered in the directory still matches.
    let address = url.trim_start_matches("http://").to_string();
    let data_dir = dir.path().to_str().expect("utf-8 path").to_string();
    let mut server = start_binary(&address, &data_dir, &database_url, &idp.url);
    wait_until_ready(&url).await;

    let members_before = body(
        admin
            .get(format!("{url}/api/v1/organizations/{org}/members"))
            .send()
            .await
            .expect("members"),
    )
    .await["total"]
        .as_i64()
        .expect("total");
    let mut csv = String::from("email,display name,role,object id,sso enabled\n");
    for i in 0..IMPORTED {
        csv.push_str(&format!(
            "person{i:05}@contoso.com,Person {i:05},member,,no\n"
        ));
    }
    let import = preview(&url, &admin, &org, csv).await;

    let seen = Arc::new(Mutex::new(Vec::new()));
    let load: Vec<_> = (0..3)
        .map(|_| {
            tokio::spawn(sign_in_forever(
                format!("{url}/o/contoso/sso"),
                seen.clone(),
            ))
        })
        .collect();
    while seen.lock().unwrap().len() < SIGN_INS_BEFORE_KILL {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let applying = admin
        .post(format!(
            "{url}/api/v1/organizations/{org}/member-imports/{import}/apply"
        ))
        .header("Origin", &url)
        .json(&json!({}))
        .send()
        .await
        .expect("apply");
    assert_eq!(applying.status(), StatusCode::ACCEPTED);
    // Into the apply's transaction, with sign-ins still arriving.
    let import_url = format!("{url}/api/v1/organizations/{org}/member-imports/{import}");
    for _ in 0..500 {
        let view = body(admin.get(&import_url).send().await.expect("import")).await;
        if view["stage"] != "applying" || view["rows_done"].as_u64() > Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill().expect("SIGKILL");
    server.wait().expect("the server ends");
    let seen = seen.lock().unwrap().clone();
    for task in load {
        task.abort();
    }

    let mut db = sqlx::SqliteConnection::connect(&database_url)
        .await
        .expect("the database opens");
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut db)
        .await
        .expect("integrity check");
    assert_eq!(integrity, "ok");
    let signed_in = count(
        &mut db,
        "SELECT COUNT(*) FROM audit_event WHERE action = 'sso.sign_in' AND outcome = 'success'",
    )
    .await;
    let sso_sessions = count(
        &mut db,
        "SELECT COUNT(*) FROM web_session WHERE data LIKE '%directory_sign_out%'",
    )
    .await;
    db.close().await.expect("closed");
    assert!(seen.len() >= SIGN_INS_BEFORE_KILL);
    assert!(
        signed_in >= seen.len() as i64,
        "{} sign-ins succeeded, {signed_in} audited",
        seen.len()
    );
    assert_eq!(
        signed_in, sso_sessions,
        "every audited sign-in has its session"
    );

    // Restarted on the same data.
    let app = spawn_app_on(dir, database_url).await;
    for id in &seen {
        let session = Client::new()
            .get(app.api("/session"))
            .header("cookie", format!("gatehouse_session={id}"))
            .send()
            .await
            .expect("session");
        assert_eq!(session.status(), StatusCode::OK, "the session {id} is kept");
    }
    let members_after = body(
        app.get(&admin, &format!("/organizations/{org}/members"))
            .await,
    )
    .await["total"]
        .as_i64()
        .expect("total");
    assert!(
        members_after == members_before || members_after == members_before + IMPORTED as i64,
        "{members_before} members before, {members_after} after: the import was cut in half"
    );
    drop(idp);
}
