//! Several Gatehouse instances on one database (PostgreSQL when `GATEHOUSE_TEST_POSTGRES_URL`
//! is set, else one SQLite file) and one master key, as behind a load balancer: a sign-in
//! started on one finishes on the other, what an admin changes on one holds on the other at
//! once, rate limits are each instance's own, and background work runs on one of them at a time
//! and passes to another when that one stops.

mod common;

use common::idp::{callback_from_provider, Idp, CONTOSO_PASSWORD, SIMON, SIMON_OID};
use common::wizard::wizard_on;
use common::{fresh_database_url, spawn_app_on, spawn_app_with, TestApp};
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Who holds `job`'s lease, once someone does (waits up to five seconds).
async fn holder(app: &TestApp, job: &str, not: Option<&str>) -> String {
    for _ in 0..50 {
        if let Some((holder, _)) = app.state.storage.lease_holder(job).await.unwrap() {
            if Some(holder.as_str()) != not {
                return holder;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nobody took the {job} lease");
}

#[tokio::test]
async fn background_work_runs_on_one_instance_at_a_time_and_passes_on_when_it_stops() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let url = fresh_database_url(&dir).await;
    let one = spawn_app_on(dir.clone(), url.clone()).await;
    let two = spawn_app_on(dir.clone(), url).await;
    let ids = [
        one.state.instance.to_string(),
        two.state.instance.to_string(),
    ];

    let leader = holder(&one, "logouts", None).await;
    assert!(ids.contains(&leader), "{leader} is one of the instances");
    // Rounds go on every second; the lease stays where it is.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(holder(&one, "logouts", None).await, leader);
    assert_eq!(holder(&one, "housekeeping", None).await, leader);

    // The leader stops: it gives its leases up, and the other instance takes them.
    let (stopping, staying) = if leader == ids[0] {
        (one, two)
    } else {
        (two, one)
    };
    stopping.stop().await;
    let next = holder(&staying, "logouts", Some(&leader)).await;
    assert_eq!(next, staying.state.instance.to_string());
}

#[tokio::test]
async fn a_sign_in_started_on_one_instance_finishes_on_the_other() {
    let idp = Idp::start();
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let url = fresh_database_url(&dir).await;
    let authority = idp.url.clone();
    let one = spawn_app_with(
        dir.clone(),
        url.clone(),
        &["--allowed-authorities", &authority],
    )
    .await;
    // Both answer at one public address (the load balancer's); each listens on its own. The
    // second starts once the first operator exists (each start would issue a first-run link).
    let public = one.url.clone();
    let w = wizard_on(idp, one).await;
    let two = spawn_app_with(
        dir,
        url,
        &["--allowed-authorities", &authority, "--public-url", &public],
    )
    .await;
    w.connect(json!({})).await;
    w.add_mapped_member(SIMON, "B. Simon", SIMON_OID, true)
        .await;

    // Started on the first instance, the callback lands on the second.
    let browser = w.app.browser();
    let start = format!("{public}/o/contoso/sso");
    let callback = callback_from_provider(&browser, &start, SIMON, CONTOSO_PASSWORD).await;
    let callback = callback.to_string();
    assert!(callback.starts_with(&public), "{callback}");
    let on_two = callback.replacen(&public, &two.url, 1);
    let done = browser.get(&on_two).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()["location"], "/account");
    // The session is the database's: both instances know it.
    for app in [&*w.app, &two] {
        let session = body_of(app.get(&browser, "/session").await).await;
        assert_eq!(session["email"], SIMON, "{session}");
    }

    // Single sign-on turned off on the first instance: the second refuses at once.
    let disabled = w
        .app
        .post(
            &w.admin,
            &format!("/organizations/{}/connection/disable", w.org),
            json!({}),
        )
        .await;
    assert_eq!(disabled.status(), StatusCode::OK);
    let refused = two
        .browser()
        .get(format!("{}/o/contoso/sso", two.url))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND, "no sign-in starts");
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("Single sign-on is not on"));
}

async fn body_of(response: reqwest::Response) -> serde_json::Value {
    common::body(response).await
}

#[tokio::test]
async fn rate_limits_are_each_instances_own() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let url = fresh_database_url(&dir).await;
    let flags = ["--sso-requests-per-minute", "3"];
    let one = spawn_app_with(dir.clone(), url.clone(), &flags).await;
    let two = spawn_app_with(dir, url, &flags).await;
    let starts = |app: &TestApp| {
        let url = format!("{}/o/nobody/sso", app.url);
        async move {
            let browser = reqwest::Client::new();
            let mut statuses = Vec::new();
            for _ in 0..4 {
                statuses.push(browser.get(&url).send().await.unwrap().status().as_u16());
            }
            statuses
        }
    };
    // The fourth start in a minute from one address is refused by each instance on its own:
    // behind N instances in turn, an address gets up to N times the limit.
    assert_eq!(starts(&one).await[3], 429);
    assert_eq!(starts(&two).await[..3], [404, 404, 404]);
}
