//! Where Gatehouse connects for an admin: Entra's clouds, or what the operator allows; never
//! internal addresses an admin types, never an endpoint a discovery document puts on another
//! host, never a raw or endless body from an unknown host.

mod common;

use common::idp::CONTOSO;
use common::wizard::{future_date, SECRET};
use common::{body, field_error, spawn_app, spawn_app_allowing, TestApp};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

async fn admin_of_contoso(app: &TestApp) -> (Client, String) {
    let operator = app.operator().await;
    let org = app.create_org(&operator, "Contoso", "contoso").await;
    (app.admin(&operator, &org, "ada@contoso.com").await, org)
}

async fn save(app: &TestApp, admin: &Client, org: &str, authority: &str) -> reqwest::Response {
    app.send(
        admin,
        reqwest::Method::PUT,
        &format!("/organizations/{org}/connection/draft/credentials"),
        json!({
            "version": 0, "cloud": "custom", "authority_host": authority,
            "tenant": CONTOSO, "client_id": "0b7f3c52-46c4-4c0b-9d39-64cf5a1e2b7c",
            "client_secret": SECRET, "secret_expires_on": future_date(365),
        }),
    )
    .await
}

#[tokio::test]
async fn an_admin_cannot_point_the_connection_at_internal_addresses() {
    let app = spawn_app().await;
    let (admin, org) = admin_of_contoso(&app).await;
    for internal in [
        "https://169.254.169.254",
        "http://127.0.0.1:9",
        "https://localhost",
        "https://login.microsoftonline.com.evil.test",
    ] {
        let refused = save(&app, &admin, &org, internal).await;
        assert_eq!(
            refused.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{internal}"
        );
        let message = field_error(&body(refused).await, "authority_host");
        assert!(message.contains("Entra's clouds"), "{internal}: {message}");
    }
}

/// A provider of the admin's own: its discovery document sends the token request to an
/// internal address.
async fn hostile_provider() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let issuer = format!("{base}/{CONTOSO}/v2.0");
    let discovery = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/{CONTOSO}/oauth2/v2.0/authorize"),
        "token_endpoint": "http://169.254.169.254/latest/meta-data/token",
        "jwks_uri": format!("{base}/keys"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    let router = axum::Router::new()
        .route(
            &format!("/{CONTOSO}/v2.0/.well-known/openid-configuration"),
            axum::routing::get(move || {
                let discovery = discovery.clone();
                async move { axum::Json(discovery) }
            }),
        )
        .route(
            "/keys",
            axum::routing::get(|| async { axum::Json(json!({"keys": []})) }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

#[tokio::test]
async fn a_discovery_document_that_sends_the_token_request_elsewhere_fails_verification() {
    let provider = hostile_provider().await;
    let app = spawn_app_allowing(&provider).await;
    let (admin, org) = admin_of_contoso(&app).await;
    assert_eq!(
        save(&app, &admin, &org, &provider).await.status(),
        StatusCode::OK
    );
    let verified: Value = body(
        app.post(
            &admin,
            &format!("/organizations/{org}/connection/draft/verify"),
            json!({"version": 1}),
        )
        .await,
    )
    .await;
    let checks = verified["draft"]["verification"]["checks"].to_string();
    assert_eq!(verified["draft"]["verification"]["passed"], false);
    assert!(checks.contains("another host"), "{checks}");
    // The test sign-in refuses the document too.
    let started = app
        .post(
            &admin,
            &format!("/organizations/{org}/connection/test-sign-in"),
            json!({}),
        )
        .await;
    assert_eq!(started.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let message = field_error(&body(started).await, "test_sign_in");
    assert!(message.contains("another host"), "{message}");
}
