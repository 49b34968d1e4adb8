//! A connection's credentials near their expiry: the admins are emailed once per threshold
//! (30, 14, 7 and 1 days, and once expired) even with two instances checking, each warning is
//! audited, the organization's overview and the operator's console list the credential, the
//! `gatehouse_credentials_expiring` gauge counts it, and once expired, sign-in is refused with
//! the date. (One test in this file: the gauge is the process's, so no other server may set it
//! meanwhile.)

mod common;

use common::idp::{sign_in_at_provider, Idp, CONTOSO_PASSWORD, SIMON, SIMON_OID};
use common::smtp::Smtp;
use common::wizard::wizard_on;
use common::{body, fresh_database_url, spawn_app_with, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

/// One housekeeping round on each instance, at the same time.
async fn both_check(one: &TestApp, two: &TestApp) {
    tokio::join!(
        gatehouse::background::housekeeping(one.state.clone()),
        gatehouse::background::housekeeping(two.state.clone())
    );
}

/// Sends what the outbox holds (as the mail job does), then answers every message received.
async fn mailbox(app: &TestApp, smtp: &Smtp) -> Vec<Value> {
    let state = &app.state;
    gatehouse::mail::deliver_due(
        &state.storage,
        state.mailer.as_ref().expect("a mailer"),
        state.now(),
    )
    .await
    .unwrap();
    smtp.messages().await
}

async fn warnings_audited(app: &TestApp, operator: &reqwest::Client, org: &str) -> Vec<Value> {
    let audit = body(
        app.get(operator, &format!("/organizations/{org}/audit?page=1"))
            .await,
    )
    .await;
    audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "connection.credential_expiring")
        .cloned()
        .collect()
}

async fn gauge(app: &TestApp, within: &str) -> String {
    gatehouse::background::measure_credentials(&app.state).await;
    let metrics = reqwest::get(format!("{}/metrics", app.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("gatehouse_credentials_expiring{{within_days=\"{within}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .unwrap_or_else(|| panic!("{series} missing from:\n{metrics}"))
        .to_string()
}

#[tokio::test]
async fn a_secret_ten_days_from_expiry_warns_once_per_threshold_everywhere_and_refuses_once_expired(
) {
    let idp = Idp::start();
    let smtp = Smtp::start();
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let url = fresh_database_url(&dir).await;
    let flags = [
        "--allowed-authorities",
        &idp.url,
        "--smtp-url",
        &smtp.url,
        "--mail-from",
        "Gatehouse <gatehouse@vendor.example>",
    ];
    let two = spawn_app_with(dir.clone(), url.clone(), &flags).await;
    let one = spawn_app_with(dir, url, &flags).await;
    let mut w = wizard_on(idp, one).await;
    w.secret_days = 10;
    w.connect(json!({})).await;
    w.add_mapped_member(SIMON, "B. Simon", SIMON_OID, true)
        .await;
    let one = &w.app;
    let operator = one.operator_again().await;
    // People sign in as usual meanwhile.
    let start = format!("{}/o/contoso/sso", one.url);
    let signed_in = sign_in_at_provider(&one.browser(), &start, SIMON, CONTOSO_PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);

    // Activated 10 days before the secret expires: the 14-day warning goes out at once.
    let audited = warnings_audited(one, &operator, &w.org).await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert!(
        audited[0]["detail"]
            .as_str()
            .unwrap()
            .contains("the 14-day warning"),
        "{audited:?}"
    );
    let messages = mailbox(one, &smtp).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["to"], json!(["ada@contoso.com"]));
    assert_eq!(
        messages[0]["subject"],
        "Gatehouse: single sign-on for Contoso stops in 10 days"
    );
    let text = messages[0]["text"].as_str().unwrap();
    let expires_on = common::wizard::future_date(10);
    assert!(text.contains("The client secret …0001"), "{text}");
    assert!(text.contains(&expires_on), "{text}");
    assert!(
        text.contains(&format!("{}/console/orgs/{}/sso", one.url, w.org)),
        "{text}"
    );

    // The overview and the console say so too.
    let connection = w.connection().await;
    assert_eq!(connection["expiring"].as_array().unwrap().len(), 1);
    assert_eq!(connection["expiring"][0]["days_left"], 10);
    assert_eq!(connection["expiring"][0]["expires_on"], expires_on.as_str());
    let listed = body(one.get(&operator, "/expiring-credentials").await).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["organization_name"], "Contoso");
    assert_eq!(
        one.get(&w.admin, "/expiring-credentials").await.status(),
        StatusCode::FORBIDDEN,
        "an organization's admin does not see the others'"
    );
    assert_eq!(gauge(one, "30").await, "1");
    assert_eq!(gauge(one, "7").await, "0");

    // Both instances check, again and again: nothing more until the next threshold.
    both_check(one, &two).await;
    both_check(one, &two).await;
    assert_eq!(mailbox(one, &smtp).await.len(), 1);
    assert_eq!(warnings_audited(one, &operator, &w.org).await.len(), 1);

    // Four days on, 6 days are left: the 7-day warning, once, from whichever instance.
    for app in [one.as_ref(), &two] {
        app.clock.advance(time::Duration::days(4));
    }
    both_check(one, &two).await;
    both_check(one, &two).await;
    let messages = mailbox(one, &smtp).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(
        messages[1]["subject"],
        "Gatehouse: single sign-on for Contoso stops in 6 days"
    );
    assert_eq!(warnings_audited(one, &operator, &w.org).await.len(), 2);
    assert_eq!(gauge(one, "7").await, "1");

    // Seven days on, it has expired: one last warning, and sign-in is refused with the date,
    // before anyone is sent to the directory.
    for app in [one.as_ref(), &two] {
        app.clock.advance(time::Duration::days(7));
    }
    both_check(one, &two).await;
    let messages = mailbox(one, &smtp).await;
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(
        messages[2]["subject"],
        "Gatehouse: single sign-on for Contoso has stopped"
    );
    let refused = one.browser().get(&start).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains(&format!(
            "Your administrator&#39;s SSO credential expired on {expires_on}"
        )),
        "{page}"
    );
    // Eleven days on, the console sessions have lapsed: the operator signs in again.
    let operator = one.operator_again().await;
    let audit = body(
        one.get(&operator, &format!("/organizations/{}/audit?page=1", w.org))
            .await,
    )
    .await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "sso.sign_in"
                && e["outcome"] == "failure"
                && e["detail"].as_str().unwrap().contains("credential_expired")),
        "{audit}"
    );
    let connection = body(one.get(&operator, &w.path("")).await).await;
    assert_eq!(connection["expiring"][0]["days_left"], -1);
    let listed = body(one.get(&operator, "/expiring-credentials").await).await;
    assert_eq!(listed[0]["days_left"], -1, "{listed}");
}
