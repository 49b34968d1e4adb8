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

/// An operator's setup link for `org`; answers its token.
async fn setup_link(app: &common::TestApp, operator: &reqwest::Client, org: &str) -> String {
    let created = app
        .post(
            operator,
            &format!("/organizations/{org}/setup-links"),
            json!({}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    token_of(body(created).await["setup_url"].as_str().unwrap())
}

async fn password_sign_in(app: &common::TestApp, email: &str, password: &str) -> StatusCode {
    app.post(
        &app.browser(),
        "/session",
        json!({"email": email, "password": password}),
    )
    .await
    .status()
}

#[tokio::test]
async fn a_setup_link_never_changes_an_existing_account() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    let org = app.create_org(&operator, "Contoso", "contoso").await;
    let admin = app.admin(&operator, &org, "ada@contoso.com").await;
    let created = app
        .post(
            &admin,
            &format!("/organizations/{org}/members"),
            json!({"email": "bob@contoso.com", "display_name": "Bob", "role": "member"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let bob = body(created).await["id"].as_str().unwrap().to_string();
    let token = setup_link(&app, &operator, &org).await;

    // Whoever holds the link types an existing admin's email, or a member's: refused, and the
    // message says to sign in as that account first.
    for email in ["ada@contoso.com", "BOB@contoso.com"] {
        let taken = app
            .post(
                &app.browser(),
                &format!("/setup-links/{token}/accept"),
                json!({"email": email, "name": "Mallory", "password": "Mallory-Takes-Over-1"}),
            )
            .await;
        assert_eq!(taken.status(), StatusCode::CONFLICT);
        let message = field_error(&body(taken).await, "email");
        assert!(message.contains("Sign in as that account"), "{message}");
    }
    // Ada's password is still hers, the new one does not work, and Bob is still a member.
    assert_eq!(
        password_sign_in(&app, "ada@contoso.com", PASSWORD).await,
        StatusCode::OK
    );
    assert_eq!(
        password_sign_in(&app, "ada@contoso.com", "Mallory-Takes-Over-1").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        password_sign_in(&app, "bob@contoso.com", "Mallory-Takes-Over-1").await,
        StatusCode::UNAUTHORIZED
    );
    let members = body(
        app.get(&admin, &format!("/organizations/{org}/members"))
            .await,
    )
    .await;
    let bob_now = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == bob.as_str())
        .expect("Bob")
        .clone();
    assert_eq!(bob_now["role"], "member");
    assert_eq!(bob_now["display_name"], "Bob");
    // The refused attempts did not spend the link.
    assert_eq!(
        app.get(&app.browser(), &format!("/setup-links/{token}"))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_signed_in_account_claims_the_link_and_only_its_role_changes() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    let contoso = app.create_org(&operator, "Contoso", "contoso").await;
    let fabrikam = app.create_org(&operator, "Fabrikam", "fabrikam").await;
    let ada = app.admin(&operator, &contoso, "ada@contoso.com").await;
    let token = setup_link(&app, &operator, &contoso).await;

    // Nobody signed in: 401. An operator has no use for it; another organization's admin is
    // told to sign out first. None of these spends the link.
    let claim = format!("/setup-links/{token}/claim");
    assert_eq!(
        app.post(&app.browser(), &claim, json!({})).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post(&operator, &claim, json!({})).await.status(),
        StatusCode::FORBIDDEN
    );
    let fabia = app.admin(&operator, &fabrikam, "fabia@fabrikam.com").await;
    let elsewhere = app.post(&fabia, &claim, json!({})).await;
    assert_eq!(elsewhere.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&body(elsewhere).await, "account").contains("another organization"));

    // Contoso's own admin claims it: still Ada, same password, and the link is spent.
    let claimed = app.post(&ada, &claim, json!({})).await;
    assert_eq!(claimed.status(), StatusCode::OK);
    let me = body(claimed).await;
    assert_eq!(me["kind"], "admin");
    assert_eq!(me["organization"]["id"], contoso.as_str());
    assert_eq!(
        password_sign_in(&app, "ada@contoso.com", PASSWORD).await,
        StatusCode::OK
    );
    assert_eq!(
        app.post(&ada, &claim, json!({})).await.status(),
        StatusCode::GONE
    );
    let audit = body(
        app.get(&operator, &format!("/organizations/{contoso}/audit"))
            .await,
    )
    .await
    .to_string();
    assert!(audit.contains("an existing account, made admin"), "{audit}");
}

#[tokio::test]
async fn one_time_links_are_rate_limited_per_address_before_any_password_is_hashed() {
    let app = spawn_app().await;
    let browser = app.browser();
    let mut statuses = Vec::new();
    for _ in 0..25 {
        let response = app
            .post(
                &browser,
                "/setup-links/not-a-token/accept",
                json!({"email": "x@example.com", "name": "X", "password": PASSWORD}),
            )
            .await;
        statuses.push(response.status());
    }
    assert_eq!(statuses[0], StatusCode::GONE);
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
    let invite = app
        .post(
            &browser,
            "/invites/not-a-token/accept",
            json!({"name": "X", "password": PASSWORD}),
        )
        .await;
    assert_eq!(invite.status(), StatusCode::TOO_MANY_REQUESTS);
}
