//! Upgrades: a database made by an earlier Gatehouse (the schema of commit 5dbaa25), with
//! organizations, mapped members, sign-ins and their audit entries in it, is brought up to
//! today's schema by starting today's Gatehouse on it, with everything intact. On SQLite, or on
//! PostgreSQL when `GATEHOUSE_TEST_POSTGRES_URL` is set.
//!
//! That schema is the migrations the project had then: the first 14 of SQLite's and the first
//! 12 of PostgreSQL's. Migrations are only ever added, never changed (sqlx refuses to start on
//! a database whose applied migrations' checksums differ), so those files are that schema.

mod common;

use common::{body, fresh_database_url, spawn_app_on, PASSWORD};
use serde_json::Value;
use sqlx::{AnyConnection, Connection};
use std::path::Path;
use std::sync::Arc;

const MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
const TENANT: &str = "6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11";
/// 2026-11-27, when that schema was current (Unix milliseconds).
const THEN: i64 = 1_795_776_000_000;

/// Members of Contoso in the old database, in the order they first signed in.
struct OldMember {
    id: &'static str,
    email: &'static str,
    name: &'static str,
    role: &'static str,
    oid: &'static str,
    /// Minutes after THEN.
    last_sign_in: Option<i64>,
}

const MEMBERS: [OldMember; 3] = [
    OldMember {
        id: "m-adele",
        email: "AdeleV@contoso.com",
        name: "Adele Vance",
        role: "admin",
        oid: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        last_sign_in: Some(10),
    },
    OldMember {
        id: "m-simon",
        email: "B.Simon@contoso.com",
        name: "B. Simon",
        role: "member",
        oid: "3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f",
        last_sign_in: Some(30),
    },
    OldMember {
        id: "m-alex",
        email: "AlexW@contoso.com",
        name: "Alex Wilber",
        role: "member",
        oid: "4c5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e7f",
        last_sign_in: None,
    },
];

/// The old schema, with what people did in it, written as that version wrote it.
async fn old_database(url: &str) {
    sqlx::any::install_default_drivers();
    // The newest migration of each backend at commit 5dbaa25.
    let (backend, newest_then) = if url.starts_with("sqlite:") {
        ("sqlite", 14)
    } else {
        ("postgres", 12)
    };
    let mut migrator = sqlx::migrate::Migrator::new(Path::new(MIGRATIONS).join(backend))
        .await
        .expect("the migrations");
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= newest_then)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let mut conn = AnyConnection::connect(url).await.expect("connects");
    migrator.run(&mut conn).await.expect("the old schema");
    let newest: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        newest, newest_then,
        "the schema of that commit, not today's"
    );

    let hash = gatehouse::crypto::passwords::hash(PASSWORD).unwrap();
    sqlx::query(
        "INSERT INTO operator (id, email, email_normalized, name, password_hash, created_at, \
         updated_at) VALUES ('op-1', 'ops@vendor.example', 'ops@vendor.example', 'Ops', $1, $2, $2)",
    )
    .bind(hash)
    .bind(THEN)
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO organization (id, name, name_normalized, slug, created_at, updated_at) \
         VALUES ('org-contoso', 'Contoso', 'contoso', 'contoso', $1, $1)",
    )
    .bind(THEN)
    .execute(&mut conn)
    .await
    .unwrap();
    for OldMember {
        id,
        email,
        name,
        role,
        oid,
        last_sign_in,
    } in MEMBERS
    {
        sqlx::query(
            "INSERT INTO member (id, organization_id, email, email_normalized, display_name, \
             display_name_normalized, role, status, directory_tenant_id, directory_object_id, \
             directory_upn, sso_enabled, created_at, updated_at) \
             VALUES ($1, 'org-contoso', $2, $3, $4, $5, $6, 'active', $7, $8, $2, 1, $9, $9)",
        )
        .bind(id)
        .bind(email)
        .bind(email.to_lowercase())
        .bind(name)
        .bind(name.to_lowercase())
        .bind(role)
        .bind(TENANT)
        .bind(oid)
        .bind(THEN)
        .execute(&mut conn)
        .await
        .unwrap();
        if let Some(minutes) = last_sign_in {
            let at = THEN + minutes * 60_000;
            sqlx::query(
                "UPDATE member_last_sign_in SET last_sso_sign_in_at = $1 WHERE member_id = $2",
            )
            .bind(at)
            .bind(id)
            .execute(&mut conn)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO audit_event (organization_id, actor, action, target, outcome, \
                 detail, client_addr, created_at) VALUES ('org-contoso', $1, 'sso.sign_in', $2, \
                 'success', $3, '127.0.0.1', $4)",
            )
            .bind(format!("sso:{email}"))
            .bind(oid)
            .bind(format!("signed in as {email}"))
            .bind(at)
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_database_of_an_earlier_version_is_upgraded_with_everything_in_it() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let url = fresh_database_url(&dir).await;
    old_database(&url).await;

    let app = spawn_app_on(dir.clone(), url).await;
    let operator = app.operator_again().await;

    let organizations = body(app.get(&operator, "/organizations").await).await;
    assert_eq!(organizations["items"][0]["slug"], "contoso");
    assert_eq!(organizations["items"][0]["id"], "org-contoso");

    // The members, their mappings and their last sign-ins, in the list's own order.
    let members = body(
        app.get(
            &operator,
            "/organizations/org-contoso/members?sort=last_sign_in",
        )
        .await,
    )
    .await;
    let listed: Vec<(&str, &str, Option<&str>)> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap(),
                m["role"].as_str().unwrap(),
                m["directory_object_id"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            ("B.Simon@contoso.com", "member", Some(MEMBERS[1].oid)),
            ("AdeleV@contoso.com", "admin", Some(MEMBERS[0].oid)),
            ("AlexW@contoso.com", "member", Some(MEMBERS[2].oid)),
        ],
        "{members}"
    );
    assert!(members["items"][0]["last_sso_sign_in_at"].is_string());
    assert!(members["items"][2]["last_sso_sign_in_at"].is_null());

    // Found by the Object ID search that came with the newer schema.
    let found = body(
        app.get(&operator, "/organizations/org-contoso/members?q=9a8b7c6d")
            .await,
    )
    .await;
    assert_eq!(found["items"][0]["email"], "AdeleV@contoso.com");

    // The sign-ins' audit entries, newest first.
    let audit: Value = body(app.get(&operator, "/organizations/org-contoso/audit").await).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["sso:B.Simon@contoso.com", "sso:AdeleV@contoso.com"]
    );

    // And the new parts work on it: an application registered, its signing key made.
    let created = app
        .post(
            &operator,
            "/applications",
            serde_json::json!({"name": "Acme Backup", "kind": "confidential",
                "redirect_uris": ["https://acme.example/cb"]}),
        )
        .await;
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
}
