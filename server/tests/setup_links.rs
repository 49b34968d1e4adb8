//! Setup links: an operator hands one out; whoever opens it becomes an admin of that one
//! organization and nothing else; links are single-use, revocable and expire.

mod common;

use common::{body, field_error, spawn_app, PASSWORD};
use reqwest::StatusCode;
use serde_json::json;

fn token_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_string()
}

#[tokio::test]
async fn a_setup_link_creates_an_admin_of_its_organization_once() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    let contoso = app.create_org(&operator, "Contoso", "contoso").await;
    let fabrikam = app.create_org(&operator, "Fabrikam", "fabrikam").await;
    let created = app
        .post(
            &operator,
            &format!("/organizations/{contoso}/setup-links"),
            json!({}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created = body(created).await;
    let url = created["setup_url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/connect/", app.url)));
    let token = token_of(url);

    let info = body(
        app.get(&app.browser(), &format!("/setup-links/{token}"))
            .await,
    )
    .await;
    assert_eq!(info["organization_name"], "Contoso");

    let it = app.browser();
    let bad = app
        .post(
            &it,
            &format!("/setup-links/{token}/accept"),
            json!({"email": "it", "name": "", "password": "short"}),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad = body(bad).await;
    assert!(!field_error(&bad, "email").is_empty());
    assert!(!field_error(&bad, "name").is_empty());
    assert!(!field_error(&bad, "password").is_empty());

    let used = app
        .post(
            &it,
            &format!("/setup-links/{token}/accept"),
            json!({"email": "it@contoso.com", "name": "Ivy IT", "password": PASSWORD}),
        )
        .await;
    assert_eq!(used.status(), StatusCode::OK);
    let me = body(used).await;
    assert_eq!(me["kind"], "admin");
    assert_eq!(me["organization"]["id"], contoso.as_str());

    // It grants this organization only.
    assert_eq!(
        app.get(&it, &format!("/organizations/{contoso}/connection"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&it, &format!("/organizations/{fabrikam}/connection"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&it, "/organizations").await.status(),
        StatusCode::FORBIDDEN
    );

    let again = app
        .post(
            &app.browser(),
            &format!("/setup-links/{token}/accept"),
            json!({"email": "eve@evil.example", "name": "Eve", "password": PASSWORD}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::GONE);
    let links = body(
        app.get(&operator, &format!("/organizations/{contoso}/setup-links"))
            .await,
    )
    .await;
    assert_eq!(links[0]["status"], "used");
    assert_eq!(links[0]["used_by"], "it@contoso.com");
    let members = body(
        app.get(&operator, &format!("/organizations/{contoso}/members"))
            .await,
    )
    .await;
    assert_eq!(members["total"], 1);
}

#[tokio::test]
async fn revoked_and_expired_links_stop_working() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    let org = app.create_org(&operator, "Contoso", "contoso").await;
    let create = |days: i64| {
        let (app, operator, org) = (&app, &operator, &org);
        async move {
            body(
                app.post(
                    operator,
                    &format!("/organizations/{org}/setup-links"),
                    json!({"valid_days": days}),
                )
                .await,
            )
            .await
        }
    };
    let revoked = create(7).await;
    let short = create(1).await;
    let path = format!(
        "/organizations/{org}/setup-links/{}",
        revoked["id"].as_str().unwrap()
    );
    assert_eq!(
        app.delete(&operator, &path).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&operator, &path).await.status(),
        StatusCode::NOT_FOUND
    );
    let token = token_of(revoked["setup_url"].as_str().unwrap());
    assert_eq!(
        app.get(&app.browser(), &format!("/setup-links/{token}"))
            .await
            .status(),
        StatusCode::GONE
    );

    app.clock
        .advance(time::Duration::days(1) + time::Duration::minutes(1));
    let token = token_of(short["setup_url"].as_str().unwrap());
    let late = app
        .post(
            &app.browser(),
            &format!("/setup-links/{token}/accept"),
            json!({"email": "it@contoso.com", "name": "Ivy", "password": PASSWORD}),
        )
        .await;
    assert_eq!(late.status(), StatusCode::GONE);
    let links = body(
        app.get(&operator, &format!("/organizations/{org}/setup-links"))
            .await,
    )
    .await;
    let statuses: Vec<_> = links
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].as_str().unwrap().to_string())
        .collect();
    assert!(
        statuses.contains(&"revoked".to_string()) && statuses.contains(&"expired".to_string()),
        "{statuses:?}"
    );

    let invalid = app
        .post(
            &operator,
            &format!("/organizations/{org}/setup-links"),
            json!({"valid_days": 90}),
        )
        .await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&body(invalid).await, "valid_days").contains("1 to 30"));
}

#[tokio::test]
async fn only_operators_hand_out_setup_links() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    let org = app.create_org(&operator, "Contoso", "contoso").await;
    let admin = app.admin(&operator, &org, "ada@contoso.com").await;
    let create = app
        .post(
            &admin,
            &format!("/organizations/{org}/setup-links"),
            json!({}),
        )
        .await;
    assert_eq!(create.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get(&admin, &format!("/organizations/{org}/setup-links"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}
