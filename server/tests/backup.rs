//! `gatehouse backup` and `gatehouse restore`, run as an operator runs them: the binary, beside a
//! serving Gatehouse on the embedded SQLite database.

mod common;

use common::{body, spawn_app_on, spawn_app_on_sqlite_allowing, TestApp};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// Runs `gatehouse <args>` on the app's data folder and database.
fn gatehouse(app_dir: &Path, database_url: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--data-dir")
        .arg(app_dir)
        .arg("--database-url")
        .arg(database_url)
        .args(args)
        .env_remove("GATEHOUSE_MASTER_KEY")
        .output()
        .expect("gatehouse runs")
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn slugs(app: &TestApp, operator: &reqwest::Client) -> Vec<String> {
    let list: Value = body(app.get(operator, "/organizations").await).await;
    let mut slugs: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["slug"].as_str().unwrap().to_string())
        .collect();
    slugs.sort();
    slugs
}

#[tokio::test]
async fn a_backup_made_while_serving_is_restored_once_gatehouse_has_stopped() {
    let app = spawn_app_on_sqlite_allowing("http://127.0.0.1:9").await;
    let operator = app.operator().await;
    app.create_org(&operator, "Contoso", "contoso").await;
    // A sealed secret in it: the provider's signing key.
    let signing = app.state.provider_services().keys().await.unwrap();
    let kid = signing.signing.kid().to_string();
    let dir = app.dir.clone();
    let url = app.database_url.clone();
    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("gatehouse-backup.db");
    let file_arg = file.to_str().unwrap();

    // While it serves, and while people keep working in it.
    let busy = {
        let (app_url, operator) = (app.url.clone(), operator.clone());
        tokio::spawn(async move {
            for i in 0..20 {
                operator
                    .post(format!("{app_url}/api/v1/organizations"))
                    .header("Origin", &app_url)
                    .json(&serde_json::json!({"name": format!("Busy {i}"), "slug": format!("busy-{i}")}))
                    .send()
                    .await
                    .unwrap();
            }
        })
    };
    let made = gatehouse(dir.path(), &url, &["backup", file_arg]);
    busy.await.unwrap();
    assert!(made.status.success(), "{}", said(&made));
    assert!(said(&made).contains("master key"), "{}", said(&made));
    let at_backup = said(&made);

    // Never over an earlier backup.
    let again = gatehouse(dir.path(), &url, &["backup", file_arg]);
    assert!(!again.status.success());
    assert!(said(&again).contains("exists already"), "{}", said(&again));

    // Not while it serves.
    let refused = gatehouse(dir.path(), &url, &["restore", file_arg]);
    assert!(!refused.status.success());
    assert!(
        said(&refused).contains("a running Gatehouse is using the data folder"),
        "{}",
        said(&refused)
    );

    // Work after the backup is what a restore gives up.
    app.create_org(&operator, "After", "after-backup").await;
    let before_restore = slugs(&app, &operator).await;
    assert!(before_restore.contains(&"after-backup".to_string()));
    app.stop().await;

    let restored = gatehouse(dir.path(), &url, &["restore", file_arg]);
    assert!(restored.status.success(), "{}", said(&restored));
    let organizations_at_backup = at_backup
        .split(" organizations")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .unwrap()
        .to_string();
    assert!(
        said(&restored).contains(&format!("{organizations_at_backup} organizations")),
        "{} / {at_backup}",
        said(&restored)
    );

    // It serves the backup's data again, its sealed secrets open with the same master key,
    // and the operator signs in as before.
    let back = spawn_app_on(dir.clone(), url.clone()).await;
    let operator = back.operator_again().await;
    let now = slugs(&back, &operator).await;
    assert!(now.contains(&"contoso".to_string()));
    assert!(!now.contains(&"after-backup".to_string()));
    assert_eq!(
        now.len().to_string(),
        organizations_at_backup,
        "as many organizations as the backup said"
    );
    let keys = back.state.provider_services().keys().await.unwrap();
    assert_eq!(keys.signing.kid(), kid, "the sealed signing key opens");
}

#[tokio::test]
async fn files_that_are_not_backups_are_refused_before_anything_is_replaced() {
    let app = spawn_app_on_sqlite_allowing("http://127.0.0.1:9").await;
    let operator = app.operator().await;
    app.create_org(&operator, "Contoso", "contoso").await;
    let dir = app.dir.clone();
    let url = app.database_url.clone();
    app.stop().await;

    let other = tempfile::tempdir().unwrap();
    let text = other.path().join("notes.txt");
    std::fs::write(&text, "not a database").unwrap();
    let refused = gatehouse(dir.path(), &url, &["restore", text.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        said(&refused).contains("not a backup Gatehouse can restore")
            || said(&refused).contains("file is not a database"),
        "{}",
        said(&refused)
    );

    // A SQLite database, but not Gatehouse's.
    let foreign = other.path().join("foreign.db");
    let foreign_url = format!("sqlite://{}?mode=rwc", foreign.display());
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&foreign_url).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let refused = gatehouse(dir.path(), &url, &["restore", foreign.to_str().unwrap()]);
    assert!(
        said(&refused).contains("it is not a Gatehouse database"),
        "{}",
        said(&refused)
    );
    // A backup a newer Gatehouse made: restored only by that version.
    let newer = other.path().join("newer.db");
    let made = gatehouse(dir.path(), &url, &["backup", newer.to_str().unwrap()]);
    assert!(made.status.success(), "{}", said(&made));
    {
        use sqlx::Connection;
        let newer_url = format!("sqlite://{}", newer.display());
        let mut conn = sqlx::SqliteConnection::connect(&newer_url).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES (9999, 'from the future', TRUE, x'00', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    }
    let refused = gatehouse(dir.path(), &url, &["restore", newer.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        said(&refused).contains("a newer Gatehouse made it (schema 9999"),
        "{}",
        said(&refused)
    );
    let missing = gatehouse(
        dir.path(),
        &url,
        &["restore", other.path().join("nothing.db").to_str().unwrap()],
    );
    assert!(
        said(&missing).contains("does not exist"),
        "{}",
        said(&missing)
    );

    // The database is as it was.
    let back = spawn_app_on(dir.clone(), url).await;
    let operator = back.operator_again().await;
    assert_eq!(slugs(&back, &operator).await, vec!["contoso".to_string()]);

    // PostgreSQL is backed up with its own tools.
    let postgres = gatehouse(
        dir.path(),
        "postgres://postgres@127.0.0.1:5432/test",
        &["backup", other.path().join("pg.db").to_str().unwrap()],
    );
    assert!(!postgres.status.success());
    assert!(said(&postgres).contains("pg_dump"), "{}", said(&postgres));
}
