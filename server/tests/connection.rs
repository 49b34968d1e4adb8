//! The setup wizard's API against the Entra-shaped provider: every field's validation, the live
//! checks with Entra's errors in plain words, and the draft/activate/version rules.

mod common;

use common::idp::{callback_from_provider, sign_in_at_provider, CONTOSO};
use common::wizard::{check, future_date, start_test_sign_in, wizard, SECRET, SECRET_ID};
use common::{body, field_error};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn the_wizard_shows_the_exact_values_to_register_in_entra() {
    let w = wizard().await;
    let view = w.connection().await;
    assert_eq!(view["status"], "none");
    assert_eq!(view["redirect_uri"], format!("{}/auth/callback", w.app.url));
    assert_eq!(
        view["home_page_url"],
        format!("{}/o/contoso/sso", w.app.url)
    );
    assert_eq!(view["draft_version"], 0);
}

#[tokio::test]
async fn every_field_is_checked_with_a_precise_message_and_nothing_is_saved() {
    let w = wizard().await;
    let response = w
        .app
        .send(
            &w.admin,
            reqwest::Method::PUT,
            &w.path("/draft/credentials"),
            json!({
                "version": 0, "cloud": "custom", "authority_host": "ftp://login.example",
                "tenant": "not a tenant", "client_id": "1234", "secret_expires_on": "2020-01-01",
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let errors = body(response).await;
    assert!(field_error(&errors, "authority_host").contains("Entra's clouds"));
    assert!(field_error(&errors, "tenant").contains("Directory (tenant) ID"));
    assert!(field_error(&errors, "client_id").contains("8-4-4-4-12"));
    assert!(field_error(&errors, "client_secret").contains("Value"));
    assert!(field_error(&errors, "secret_expires_on").contains("has passed"));
    let bad_date = w
        .app
        .send(
            &w.admin,
            reqwest::Method::PUT,
            &w.path("/draft/credentials"),
            json!({
                "version": 0, "cloud": "global", "tenant": CONTOSO, "client_id": w.client_id,
                "client_secret": "two words", "secret_expires_on": "05/01/2027",
            }),
        )
        .await;
    let errors = body(bad_date).await;
    assert!(field_error(&errors, "secret_expires_on").contains("YYYY-MM-DD"));
    assert!(field_error(&errors, "client_secret").contains("no spaces"));
    assert_eq!(w.connection().await["status"], "none", "nothing saved");
}

#[tokio::test]
async fn a_verified_domain_is_stored_as_the_directory_guid() {
    let w = wizard().await;
    let saved = w
        .save(0, "contoso.onmicrosoft.com", &w.client_id, Some(SECRET))
        .await;
    assert_eq!(saved.status(), StatusCode::OK);
    let view = body(saved).await;
    assert_eq!(view["draft"]["tenant_id"], CONTOSO);
    let unknown = w.save(1, "nowhere.example.com", &w.client_id, None).await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&body(unknown).await, "tenant")
        .contains("No directory found for nowhere.example.com"));
}

#[tokio::test]
async fn the_happy_path_verifies_sets_the_policy_and_activates() {
    let w = wizard().await;
    let saved = w.save(0, CONTOSO, &w.client_id, Some(SECRET)).await;
    let text = saved.text().await.unwrap();
    assert!(!text.contains(SECRET), "the secret is write-only");
    let view: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(view["status"], "draft");
    assert_eq!(view["draft"]["secret"]["last4"], "0001");
    assert_eq!(view["draft"]["secret"]["days_left"], 365);

    let stored = w.stored().await;
    assert!(!stored.draft_config.contains(SECRET), "sealed at rest");

    let premature = w
        .app
        .post(&w.admin, &w.path("/activate"), json!({"version": 1}))
        .await;
    assert_eq!(
        premature.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "verify first"
    );

    let verified = w.verify(1).await;
    assert_eq!(
        verified["draft"]["verification"]["passed"], true,
        "{verified}"
    );
    assert_eq!(check(&verified, "directory")["outcome"], "passed");
    assert_eq!(check(&verified, "credentials")["outcome"], "passed");
    assert_eq!(check(&verified, "secret_expiry")["outcome"], "passed");

    let policy = w
        .app
        .send(&w.admin, reqwest::Method::PUT, &w.path("/draft/policy"), json!({
            "version": 2, "mode": "selected_members", "allow_admins": true, "create_members": false,
            "new_member_role": "member", "email_domains": ["contoso.com", " Contoso.com "],
        }))
        .await;
    let policy = body(policy).await;
    assert_eq!(policy["draft"]["policy"]["mode"], "selected_members");
    assert_eq!(
        policy["draft"]["policy"]["email_domains"],
        json!([{"domain": "contoso.com", "verified": false}])
    );

    let untested = w
        .app
        .post(&w.admin, &w.path("/activate"), json!({"version": 3}))
        .await;
    assert_eq!(untested.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&body(untested).await, "activate").contains("test sign-in"));
    w.test_sign_in_as_simon().await;
    assert_eq!(
        w.version().await,
        3,
        "a test sign-in changes nothing in the draft (claims prove no domain)"
    );

    let active = body(w.activate().await).await;
    assert_eq!(active["status"], "active");
    assert_eq!(active["active"]["client_id"], w.client_id.as_str());
    assert!(active["activated_at"].is_string());
}

#[tokio::test]
async fn editing_an_active_connection_works_on_the_draft_until_it_is_activated() {
    let w = wizard().await;
    w.save(0, CONTOSO, &w.client_id, Some(SECRET)).await;
    w.verify(1).await;
    w.test_sign_in_as_simon().await;
    let activated = w
        .app
        .post(&w.admin, &w.path("/activate"), json!({"version": 2}))
        .await;
    assert_eq!(activated.status(), StatusCode::OK);
    let other_client = uuid::Uuid::new_v4().to_string();
    let edited = body(w.save(2, CONTOSO, &other_client, None).await).await;
    assert_eq!(edited["status"], "active");
    assert_eq!(edited["draft"]["client_id"], other_client.as_str());
    assert_eq!(
        edited["active"]["client_id"],
        w.client_id.as_str(),
        "the active configuration keeps serving"
    );
    assert!(
        edited["draft"]["verification"].is_null(),
        "new credentials need a new verification"
    );
    assert!(edited["test_sign_in"].is_null(), "and a new test sign-in");
    let refused = w
        .app
        .post(&w.admin, &w.path("/activate"), json!({"version": 3}))
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        w.connection().await["active"]["client_id"],
        w.client_id.as_str()
    );
}

#[tokio::test]
async fn two_admins_editing_the_same_draft_do_not_overwrite_each_other() {
    let w = wizard().await;
    assert_eq!(
        w.save(0, CONTOSO, &w.client_id, Some(SECRET))
            .await
            .status(),
        StatusCode::OK
    );
    let first = w.save(1, CONTOSO, &w.client_id, None).await;
    assert_eq!(first.status(), StatusCode::OK);
    let stale = w
        .save(1, CONTOSO, &uuid::Uuid::new_v4().to_string(), None)
        .await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    assert!(field_error(&body(stale).await, "version").contains("Someone else changed"));
    assert_eq!(
        w.connection().await["draft"]["client_id"],
        w.client_id.as_str()
    );
    let again = w.save(0, CONTOSO, &w.client_id, Some(SECRET)).await;
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "a second first save is stale too"
    );
}

#[tokio::test]
async fn an_unknown_directory_fails_verification_with_aadsts90002_guidance() {
    let w = wizard().await;
    w.save(
        0,
        &uuid::Uuid::new_v4().to_string(),
        &w.client_id,
        Some(SECRET),
    )
    .await;
    let view = w.verify(1).await;
    assert_eq!(view["draft"]["verification"]["passed"], false);
    let directory = check(&view, "directory");
    assert_eq!(directory["outcome"], "failed");
    assert_eq!(directory["aadsts"], "90002");
    assert!(directory["message"]
        .as_str()
        .unwrap()
        .contains("Directory (tenant) ID"));
    assert!(directory["details"]
        .as_str()
        .unwrap()
        .contains("AADSTS90002"));
    assert_eq!(check(&view, "credentials")["outcome"], "skipped");
}

#[tokio::test]
async fn an_unknown_client_id_fails_with_aadsts700016_guidance() {
    let w = wizard().await;
    w.save(0, CONTOSO, &uuid::Uuid::new_v4().to_string(), Some(SECRET))
        .await;
    let view = w.verify(1).await;
    let credentials = check(&view, "credentials");
    assert_eq!(credentials["aadsts"], "700016");
    assert!(credentials["message"]
        .as_str()
        .unwrap()
        .contains("No app with this Application (client) ID"));
}

#[tokio::test]
async fn a_secret_id_pasted_as_the_value_is_warned_about_and_fails_with_aadsts7000215() {
    let w = wizard().await;
    let saved = body(w.save(0, CONTOSO, &w.client_id, Some(SECRET_ID)).await).await;
    assert!(saved["warnings"]["client_secret"]
        .as_str()
        .unwrap()
        .contains("Secret ID"));
    let view = w.verify(1).await;
    let credentials = check(&view, "credentials");
    assert_eq!(credentials["aadsts"], "7000215");
    assert!(credentials["message"]
        .as_str()
        .unwrap()
        .contains("not its Secret ID"));
}

#[tokio::test]
async fn a_wrong_secret_and_an_expired_secret_each_get_their_guidance() {
    let w = wizard().await;
    w.save(0, CONTOSO, &w.client_id, Some("Not~The.Right_Secret"))
        .await;
    assert_eq!(
        check(&w.verify(1).await, "credentials")["aadsts"],
        "7000215"
    );

    let expired_app = uuid::Uuid::new_v4().to_string();
    w.idp
        .register_app(
            CONTOSO,
            &expired_app,
            json!([{ "id": SECRET_ID, "value": "Old~Secret", "expires": "2021-01-01T00:00:00Z" }]),
            &format!("{}/auth/callback", w.app.url),
        )
        .await;
    w.save(2, CONTOSO, &expired_app, Some("Old~Secret")).await;
    let credentials = check(&w.verify(3).await, "credentials").clone();
    assert_eq!(credentials["aadsts"], "7000222");
    assert!(credentials["message"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn a_secret_close_to_expiry_passes_with_a_warning() {
    let w = wizard().await;
    let response = w
        .app
        .send(&w.admin, reqwest::Method::PUT, &w.path("/draft/credentials"), json!({
            "version": 0, "cloud": "custom", "authority_host": w.idp.url, "tenant": CONTOSO,
            "client_id": w.client_id, "client_secret": SECRET, "secret_expires_on": future_date(10),
        }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let view = w.verify(1).await;
    assert_eq!(check(&view, "secret_expiry")["outcome"], "warning");
    assert_eq!(view["draft"]["verification"]["passed"], true);
}

#[tokio::test]
async fn disabling_sso_takes_effect_at_once() {
    let w = wizard().await;
    let not_active = w.app.post(&w.admin, &w.path("/disable"), json!({})).await;
    assert_eq!(not_active.status(), StatusCode::UNPROCESSABLE_ENTITY);
    w.save(0, CONTOSO, &w.client_id, Some(SECRET)).await;
    w.verify(1).await;
    w.test_sign_in_as_simon().await;
    assert_eq!(w.activate().await.status(), StatusCode::OK);
    let disabled = body(w.app.post(&w.admin, &w.path("/disable"), json!({})).await).await;
    assert_eq!(disabled["status"], "disabled");
    let audit = body(
        w.app
            .get(&w.admin, &format!("/organizations/{}/audit", w.org))
            .await,
    )
    .await;
    assert_eq!(audit["items"][0]["action"], "connection.disable");
    assert_eq!(audit["items"][1]["action"], "connection.activate");
}

#[tokio::test]
async fn another_organizations_admin_cannot_see_or_change_the_connection() {
    let w = wizard().await;
    w.save(0, CONTOSO, &w.client_id, Some(SECRET)).await;
    let operator = w.app.operator_again().await;
    let fabrikam = w.app.create_org(&operator, "Fabrikam", "fabrikam").await;
    let intruder = w
        .app
        .admin(&operator, &fabrikam, "mallory@fabrikam.com")
        .await;
    let credentials = json!({
        "version": 1, "cloud": "custom", "authority_host": w.idp.url, "tenant": CONTOSO,
        "client_id": w.client_id, "client_secret": "Mallory~Secret", "secret_expires_on": future_date(30),
    });
    let policy = json!({
        "version": 1, "mode": "everyone", "allow_admins": true, "create_members": true,
        "new_member_role": "admin", "email_domains": [],
    });
    for (method, rest, payload) in [
        (reqwest::Method::GET, "", json!(null)),
        (reqwest::Method::PUT, "/draft/credentials", credentials),
        (
            reqwest::Method::POST,
            "/draft/verify",
            json!({"version": 1}),
        ),
        (reqwest::Method::PUT, "/draft/policy", policy),
        (reqwest::Method::POST, "/activate", json!({"version": 1})),
        (reqwest::Method::POST, "/disable", json!({})),
    ] {
        let response = w
            .app
            .send(&intruder, method.clone(), &w.path(rest), payload)
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {rest}");
    }
    assert_eq!(w.connection().await["draft_version"], 1);
}

#[tokio::test]
async fn a_test_sign_in_shows_the_claims_and_creates_no_session_or_member() {
    let w = wizard().await;
    w.save(0, CONTOSO, &w.client_id, Some(SECRET)).await;
    let url = start_test_sign_in(&w).await;
    assert!(
        url.contains("code_challenge_method=S256")
            && url.contains("nonce=")
            && url.contains("state="),
        "{url}"
    );
    let callback =
        sign_in_at_provider(&w.admin, &url, "B.Simon@contoso.com", "Contoso-Demo-2026!").await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        callback.headers()["location"].to_str().unwrap(),
        format!("/console/orgs/{}/sso#step-test", w.org)
    );
    let result = w.connection().await["test_sign_in"].clone();
    assert_eq!(result["passed"], true, "{result}");
    assert_eq!(result["object_id"], common::idp::SIMON_OID);
    assert_eq!(result["tenant_id"], CONTOSO);
    assert_eq!(result["username"], "B.Simon@contoso.com");
    assert_eq!(result["email_verified"], true);
    assert!(result["mapping"].as_str().unwrap().contains("no member"));
    assert!(
        result["decision"].as_str().unwrap().contains("refused"),
        "{result}"
    );
    // The admin is still the admin: the test identity got no session, and no member was made.
    assert_eq!(
        body(w.app.get(&w.admin, "/session").await).await["email"],
        "ada@contoso.com"
    );
    let members = body(
        w.app
            .get(&w.admin, &format!("/organizations/{}/members", w.org))
            .await,
    )
    .await;
    assert_eq!(members["total"], 1);
}

#[tokio::test]
async fn a_callback_is_refused_when_replayed_or_from_another_browser() {
    let w = wizard().await;
    w.save(0, CONTOSO, &w.client_id, Some(SECRET)).await;
    let url = start_test_sign_in(&w).await;
    // Another browser finishes the provider's part and brings the code to Gatehouse.
    let stranger = w.app.browser();
    let callback =
        sign_in_at_provider(&stranger, &url, "B.Simon@contoso.com", "Contoso-Demo-2026!").await;
    assert_eq!(callback.status(), StatusCode::BAD_REQUEST);
    assert!(callback.text().await.unwrap().contains("another browser"));
    assert!(w.connection().await["test_sign_in"].is_null());

    let url = start_test_sign_in(&w).await;
    let callback_url =
        callback_from_provider(&w.admin, &url, "B.Simon@contoso.com", "Contoso-Demo-2026!").await;
    assert_eq!(
        w.admin
            .get(callback_url.clone())
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    let replay = w.admin.get(callback_url).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(replay.text().await.unwrap().contains("already used"));
}

#[tokio::test]
async fn a_user_not_assigned_to_the_app_comes_back_with_aadsts50105_guidance() {
    let w = wizard().await;
    let assigned_app = uuid::Uuid::new_v4().to_string();
    reqwest::Client::new()
        .post(format!("{}/_test/apps", w.idp.url))
        .json(&json!({
            "tenantId": CONTOSO, "clientId": assigned_app, "displayName": "Gatehouse",
            "secrets": [{ "id": SECRET_ID, "value": SECRET, "expires": "2099-01-01T00:00:00Z" }],
            "redirectUris": [format!("{}/auth/callback", w.app.url)],
            "assignmentRequired": true, "assignedUsers": [common::idp::SIMON_OID],
        }))
        .send()
        .await
        .unwrap();
    w.save(0, CONTOSO, &assigned_app, Some(SECRET)).await;
    let url = start_test_sign_in(&w).await;
    let callback =
        sign_in_at_provider(&w.admin, &url, "nobody@contoso.com", "Contoso-Demo-2026!").await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    let result = w.connection().await["test_sign_in"].clone();
    assert_eq!(result["passed"], false);
    assert_eq!(result["aadsts"], "50105");
    assert!(result["error"].as_str().unwrap().contains("not assigned"));
    assert!(result["details"]
        .as_str()
        .unwrap()
        .contains("access_denied"));
}

#[tokio::test]
async fn a_test_sign_in_never_proves_an_email_domain() {
    let w = wizard().await;
    w.save(0, CONTOSO, &w.client_id, Some(SECRET)).await;
    let policy = w
        .app
        .send(
            &w.admin,
            reqwest::Method::PUT,
            &w.path("/draft/policy"),
            json!({
                "version": 1, "mode": "everyone", "allow_admins": true, "create_members": false,
                "new_member_role": "member", "email_domains": ["contoso.com", "fabrikam.com"],
            }),
        )
        .await;
    assert_eq!(policy.status(), StatusCode::OK);
    let url = start_test_sign_in(&w).await;
    // B.Simon's UPN and email are in contoso.com: claims prove nothing.
    sign_in_at_provider(&w.admin, &url, "B.Simon@contoso.com", "Contoso-Demo-2026!").await;
    let view = w.connection().await;
    assert_eq!(view["test_sign_in"]["passed"], true);
    assert_eq!(
        view["draft"]["policy"]["email_domains"],
        json!([{"domain": "contoso.com", "verified": false}, {"domain": "fabrikam.com", "verified": false}])
    );
    let states: Vec<(&str, &str)> = view["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["domain"].as_str().unwrap(), d["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [("contoso.com", "waiting"), ("fabrikam.com", "waiting")]
    );
    assert_eq!(
        view["draft_version"], 2,
        "the test sign-in changed nothing in the draft"
    );
}

#[tokio::test]
async fn a_replayed_test_sign_in_callback_is_refused_and_keeps_the_result() {
    let w = wizard().await;
    w.save(0, CONTOSO, &w.client_id, Some(SECRET)).await;
    let started = w
        .app
        .post(&w.admin, &w.path("/test-sign-in"), json!({}))
        .await;
    assert_eq!(started.status(), StatusCode::OK);
    // The attempt's cookie, as someone who copied it would hold it.
    let attempt_cookie =
        common::cookie_set(&started, "gatehouse_sign_in_").expect("the attempt's cookie");
    let url = body(started).await["authorize_url"]
        .as_str()
        .unwrap()
        .to_string();
    let callback =
        callback_from_provider(&w.admin, &url, "B.Simon@contoso.com", "Contoso-Demo-2026!").await;
    let first = w.admin.get(callback.clone()).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert_eq!(w.connection().await["test_sign_in"]["passed"], true);

    let replay = w
        .app
        .browser()
        .get(callback)
        .header("cookie", attempt_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(replay.text().await.unwrap().contains("already used"));
    let kept = w.connection().await["test_sign_in"].clone();
    assert_eq!(kept["passed"], true, "the first result stays: {kept}");
}
