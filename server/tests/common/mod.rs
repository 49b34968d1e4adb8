//! Test helpers: each test gets its own Gatehouse on port 0 with a fresh database — a SQLite
//! file in a temporary folder, or a new PostgreSQL database when
//! `GATEHOUSE_TEST_POSTGRES_URL` names a server (as `.ci/run` does).
#![allow(dead_code)]

pub mod dns;
pub mod idp;
pub mod smtp;
pub mod wizard;

use clap::Parser;
use gatehouse::clock::{Clock, ManualClock};
use gatehouse::config::{Cli, Config};
use gatehouse::state::AppState;
use gatehouse::storage::Storage;
use gatehouse::Application;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection;
use std::path::PathBuf;
use std::sync::Arc;
use tempfile::TempDir;
use time::OffsetDateTime;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery staple";

/// A fresh, empty database URL for one test.
pub async fn fresh_database_url(dir: &TempDir) -> String {
    match std::env::var("GATEHOUSE_TEST_POSTGRES_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("gh_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin_url)
                .await
                .expect("the test PostgreSQL server answers");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create a test database");
            let (base, _) = admin_url
                .rsplit_once('/')
                .expect("URL with a database name");
            format!("{base}/{name}")
        }
        _ => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("gatehouse.db").display()
        ),
    }
}

pub async fn fresh_storage() -> (Storage, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database_url(&dir).await;
    (Storage::connect(&url).await.expect("storage connects"), dir)
}

pub fn leptos_toml() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../Leptos.toml"))
}

pub struct TestApp {
    pub url: String,
    /// Where `/metrics` is, when `--metrics-listen` moved it off the public listener.
    pub metrics_url: Option<String>,
    pub first_run_url: Option<String>,
    pub state: AppState,
    pub clock: ManualClock,
    pub database_url: String,
    pub dir: Arc<TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn spawn_app() -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let url = fresh_database_url(&dir).await;
    spawn_app_on(dir, url).await
}

/// Gatehouse on a fresh database that lets admins connect to `authority` (the test
/// provider) besides Entra's clouds.
pub async fn spawn_app_allowing(authority: &str) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let url = fresh_database_url(&dir).await;
    spawn_app_with(dir, url, &["--allowed-authorities", authority]).await
}

/// Gatehouse on a SQLite file in a fresh folder, whatever database the other tests use,
/// allowing `authority` as `spawn_app_allowing` does.
pub async fn spawn_app_on_sqlite_allowing(authority: &str) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("gatehouse.db").display()
    );
    spawn_app_with(dir, url, &["--allowed-authorities", authority]).await
}

/// Starts Gatehouse on an existing data folder and database (a "restart").
pub async fn spawn_app_on(dir: Arc<TempDir>, database_url: String) -> TestApp {
    spawn_app_with(dir, database_url, &[]).await
}

/// The same, with more flags (`gatehouse --help`).
pub async fn spawn_app_with(dir: Arc<TempDir>, database_url: String, flags: &[&str]) -> TestApp {
    let leptos_toml = leptos_toml();
    let base = [
        "gatehouse",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().expect("utf-8 path"),
        "--database-url",
        &database_url,
        "--leptos-toml",
        leptos_toml.to_str().expect("utf-8 path"),
    ];
    let cli = Cli::parse_from(base.iter().chain(flags));
    let config = Config::load(cli).expect("config");
    let clock = ManualClock::new(OffsetDateTime::now_utc());
    let app = Application::build_with_clock(config, Arc::new(clock.clone()) as Arc<dyn Clock>)
        .await
        .expect("Gatehouse starts");
    // Where the server listens (the public URL, unless a test sets another).
    let url = format!("http://{}", app.local_addr());
    let first_run_url = app.first_run_url().map(str::to_owned);
    let metrics_url = app.metrics_addr().map(|a| format!("http://{a}/metrics"));
    let state = app.state().clone();
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        let _ = app
            .run_until(async move {
                let _ = rx.await;
            })
            .await;
    });
    TestApp {
        url,
        metrics_url,
        first_run_url,
        state,
        clock,
        database_url,
        dir,
        shutdown: Some(tx),
        task: Some(task),
    }
}

impl TestApp {
    /// A browser-like client with its own cookie jar.
    pub fn browser(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// Stops the server and waits until it has finished.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    pub async fn get(&self, client: &Client, path: &str) -> Response {
        client.get(self.api(path)).send().await.expect("request")
    }

    /// A state-changing call as Gatehouse's own pages make it (same origin).
    pub async fn send(
        &self,
        client: &Client,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Response {
        client
            .request(method, self.api(path))
            .header("Origin", &self.url)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, client: &Client, path: &str, body: Value) -> Response {
        self.send(client, reqwest::Method::POST, path, body).await
    }

    pub async fn patch(&self, client: &Client, path: &str, body: Value) -> Response {
        self.send(client, reqwest::Method::PATCH, path, body).await
    }

    pub async fn delete(&self, client: &Client, path: &str) -> Response {
        client
            .delete(self.api(path))
            .header("Origin", &self.url)
            .send()
            .await
            .expect("request")
    }

    pub fn first_run_token(&self) -> String {
        let url = self.first_run_url.as_deref().expect("a first-run link");
        url.rsplit('/').next().expect("token").to_string()
    }

    /// Creates the first operator through the first-run link; returns their signed-in client.
    pub async fn operator(&self) -> Client {
        let client = self.browser();
        let response = self
            .post(
                &client,
                "/first-run",
                json!({"token": self.first_run_token(), "email": "ops@vendor.example",
                       "name": "Olivia Operator", "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            response.text().await.unwrap_or_default()
        );
        client
    }

    /// The first operator (made by `operator`) signed in again with their password, in a new
    /// browser.
    pub async fn operator_again(&self) -> Client {
        let client = self.browser();
        let response = self
            .post(
                &client,
                "/session",
                json!({"email": "ops@vendor.example", "password": PASSWORD}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        client
    }

    pub async fn create_org(&self, operator: &Client, name: &str, slug: &str) -> String {
        let response = self
            .post(
                operator,
                "/organizations",
                json!({"name": name, "slug": slug}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        body(response).await["id"].as_str().expect("id").to_string()
    }

    /// Invites and signs in an admin of `org_id`; returns their client.
    pub async fn admin(&self, operator: &Client, org_id: &str, email: &str) -> Client {
        let response = self
            .post(
                operator,
                &format!("/organizations/{org_id}/invites"),
                json!({"email": email}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let invite_url = body(response).await["invite_url"]
            .as_str()
            .expect("url")
            .to_string();
        let token = invite_url.rsplit('/').next().expect("token").to_string();
        let client = self.browser();
        let response = self
            .post(
                &client,
                &format!("/invites/{token}/accept"),
                json!({"name": "Ada Admin", "password": PASSWORD}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        client
    }
}

/// The `name=value` of the first cookie a response sets whose name starts with `prefix`.
pub fn cookie_set(response: &Response, prefix: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(prefix))
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
}

pub async fn body(response: Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// The per-field message of a validation error body.
pub fn field_error(body: &Value, field: &str) -> String {
    body["error"]["fields"][field]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
