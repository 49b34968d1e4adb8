//! Email domains: proven by a DNS record or an operator, never by a token's claims; a proven
//! domain belongs to one organization; proofs are checked again daily, and a lapsed one stops
//! routing email-first sign-in after seven days (a failed lookup is not a missing record).

mod common;

use common::dns::Dns;
use common::idp::{Idp, CONTOSO as CONTOSO_TENANT, FABRIKAM};
use common::smtp::Smtp;
use common::wizard::{future_date, wizard_on, Wizard, SECRET};
use common::{body, field_error, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

const RECORD: &str = "_gatehouse-challenge.contoso.com";

/// Contoso with SSO active for contoso.com (not proven yet), its domains looked up at `dns`.
async fn contoso(dns: &Dns) -> Wizard {
    contoso_with(dns, &[]).await
}

async fn contoso_with(dns: &Dns, flags: &[&str]) -> Wizard {
    let w = contoso_admin(dns, "--allowed-authorities", flags).await;
    w.connect(json!({})).await;
    w
}

/// Contoso's admin on a fresh Gatehouse that reaches the test provider through `provider_flag`
/// (an allowed authority, or the stand-in for Entra's global cloud) and looks domains up at
/// `dns`.
async fn contoso_admin(dns: &Dns, provider_flag: &str, flags: &[&str]) -> Wizard {
    let idp = Idp::start();
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let url = common::fresh_database_url(&dir).await;
    let app = spawn_app_with(
        dir,
        url,
        &[
            provider_flag,
            &idp.url,
            "--dns-server",
            &dns.address,
            // The tests move the clock by days; the admin's session outlives them.
            "--session-lifetime-hours",
            "10000",
        ]
        .iter()
        .chain(flags)
        .copied()
        .collect::<Vec<_>>(),
    )
    .await;
    wizard_on(idp, app).await
}

async fn domain(w: &Wizard, name: &str) -> Value {
    w.connection().await["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == name)
        .expect("the domain is listed")
        .clone()
}

async fn method(w: &Wizard, email: &str) -> Value {
    body(
        w.app
            .post(
                &w.app.browser(),
                "/sign-in/method",
                json!({ "email": email }),
            )
            .await,
    )
    .await["method"]
        .clone()
}

/// contoso.com proven as its owner would: the record the wizard shows, published, then checked.
/// Answers the record's value.
async fn prove_contoso_by_dns(w: &Wizard, dns: &Dns) -> String {
    let value = domain(w, "contoso.com").await["record_value"]
        .as_str()
        .unwrap()
        .to_string();
    dns.set_txt(RECORD, &[&value]).await;
    assert_eq!(check(w, "contoso.com").await.status(), StatusCode::OK);
    value
}

async fn check(w: &Wizard, name: &str) -> reqwest::Response {
    w.app
        .post(
            &w.admin,
            &format!("/organizations/{}/email-domains/{name}/check", w.org),
            json!({}),
        )
        .await
}

async fn audit_actions(w: &Wizard) -> Vec<String> {
    body(
        w.app
            .get(&w.admin, &format!("/organizations/{}/audit", w.org))
            .await,
    )
    .await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_dns_record_proves_a_domain_and_then_email_first_sign_in_uses_it() {
    let dns = Dns::start();
    let w = contoso(&dns).await;
    let waiting = domain(&w, "contoso.com").await;
    assert_eq!(waiting["state"], "waiting");
    assert_eq!(waiting["record_name"], RECORD);
    let value = waiting["record_value"].as_str().unwrap().to_string();
    assert!(value.len() > 40, "a random value: {value}");
    assert_eq!(method(&w, "b.simon@contoso.com").await, "password");

    // No record yet: the page says which record it looked for.
    let missing = check(&w, "contoso.com").await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&body(missing).await, "domain").contains(RECORD));
    // The DNS does not answer: nothing is decided.
    dns.fail(RECORD).await;
    let outage = check(&w, "contoso.com").await;
    assert_eq!(outage.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&body(outage).await, "domain").contains("did not answer"));
    // Another value is not the proof.
    dns.set_txt(RECORD, &["gatehouse-domain-proof=someone-else"])
        .await;
    assert_eq!(
        check(&w, "contoso.com").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(domain(&w, "contoso.com").await["state"], "waiting");

    dns.set_txt(RECORD, &["v=spf1 -all", &value]).await;
    let proven = check(&w, "contoso.com").await;
    assert_eq!(proven.status(), StatusCode::OK);
    let proven = body(proven).await;
    assert_eq!(proven["state"], "proven");
    assert_eq!(proven["proven_by"], "its DNS record");
    assert_eq!(method(&w, "b.simon@contoso.com").await, "sso");
    // Each domain on its own: a subdomain is not proven with it.
    assert_eq!(method(&w, "someone@eu.contoso.com").await, "password");
    assert!(audit_actions(&w)
        .await
        .contains(&"email_domain.proven".to_string()));
}

#[tokio::test]
async fn a_proven_domain_belongs_to_one_organization_and_listing_it_squats_nothing() {
    let dns = Dns::start();
    let w = contoso(&dns).await;
    let operator = w.app.operator_again().await;
    let fabrikam = w.app.create_org(&operator, "Fabrikam", "fabrikam").await;
    let mallory = w
        .app
        .admin(&operator, &fabrikam, "mallory@fabrikam.com")
        .await;
    let path = |rest: &str| format!("/organizations/{fabrikam}/connection{rest}");
    let saved = w
        .app
        .send(
            &mallory,
            reqwest::Method::PUT,
            &path("/draft/credentials"),
            json!({
                "version": 0, "cloud": "custom", "authority_host": w.idp.url,
                "tenant": common::idp::CONTOSO, "client_id": w.client_id,
                "client_secret": SECRET, "secret_expires_on": future_date(365),
            }),
        )
        .await;
    assert_eq!(saved.status(), StatusCode::OK);
    let list = |version: i64| {
        let (app, mallory, path) = (&w.app, &mallory, path("/draft/policy"));
        async move {
            app.send(
                mallory,
                reqwest::Method::PUT,
                &path,
                json!({
                    "version": version, "mode": "everyone", "allow_admins": true,
                    "create_members": false, "new_member_role": "member",
                    "email_domains": ["contoso.com"],
                }),
            )
            .await
        }
    };
    // Listed first by Fabrikam, unproven: it blocks no one.
    assert_eq!(list(1).await.status(), StatusCode::OK);
    prove_contoso_by_dns(&w, &dns).await;

    // Now Contoso's: Fabrikam cannot prove it, nor list it again, and is not told by whom.
    let theirs = body(w.app.get(&mallory, &path("")).await).await;
    assert_eq!(theirs["domains"][0]["state"], "claimed_elsewhere");
    let check_theirs = w
        .app
        .post(
            &mallory,
            &format!("/organizations/{fabrikam}/email-domains/contoso.com/check"),
            json!({}),
        )
        .await;
    assert_eq!(check_theirs.status(), StatusCode::CONFLICT);
    let refused = list(2).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let message = field_error(&body(refused).await, "email_domains");
    assert!(message.contains("another organization"), "{message}");
    assert!(
        !message.contains("Contoso") && !message.contains("Fabrikam"),
        "{message}"
    );
    assert_eq!(method(&w, "x@contoso.com").await, "sso");
    assert_eq!(
        body(
            w.app
                .post(
                    &w.app.browser(),
                    "/sign-in/method",
                    json!({"email": "x@contoso.com"})
                )
                .await
        )
        .await["organization_name"],
        "Contoso"
    );
}

#[tokio::test]
async fn a_missing_record_stops_routing_after_seven_days_and_an_outage_is_not_a_miss() {
    let dns = Dns::start();
    let w = contoso(&dns).await;
    let value = prove_contoso_by_dns(&w, &dns).await;
    let recheck = || gatehouse::domains::recheck(w.app.state.domain_services());

    // A day later the DNS is down: nothing changes.
    dns.fail(RECORD).await;
    w.app
        .clock
        .advance(time::Duration::days(1) + time::Duration::minutes(1));
    recheck().await.unwrap();
    assert_eq!(domain(&w, "contoso.com").await["state"], "proven");

    // The record is gone: missing from the first day (audited), still routing for seven.
    dns.remove(RECORD).await;
    recheck().await.unwrap();
    let missing = domain(&w, "contoso.com").await;
    assert_eq!(missing["state"], "missing");
    assert!(missing["missing_since"].is_string());
    assert!(audit_actions(&w)
        .await
        .contains(&"email_domain.proof_missing".to_string()));
    assert_eq!(method(&w, "x@contoso.com").await, "sso");
    for _ in 0..7 {
        w.app
            .clock
            .advance(time::Duration::days(1) + time::Duration::minutes(1));
        recheck().await.unwrap();
    }
    assert_eq!(domain(&w, "contoso.com").await["state"], "lapsed");
    assert_eq!(method(&w, "x@contoso.com").await, "password");

    // Back in place: proven again at the next check.
    dns.set_txt(RECORD, &[&value]).await;
    assert_eq!(check(&w, "contoso.com").await.status(), StatusCode::OK);
    assert_eq!(method(&w, "x@contoso.com").await, "sso");
}

#[tokio::test]
async fn the_admins_are_told_by_email_from_the_first_day_a_proof_is_missing() {
    let dns = Dns::start();
    let smtp = Smtp::start();
    let w = contoso_with(
        &dns,
        &[
            "--smtp-url",
            &smtp.url,
            "--mail-from",
            "Gatehouse <gatehouse@vendor.example>",
        ],
    )
    .await;
    let value = prove_contoso_by_dns(&w, &dns).await;
    let state = &w.app.state;
    let deliver = || {
        gatehouse::mail::deliver_due(
            &state.storage,
            state.mailer.as_ref().expect("a mailer"),
            state.now(),
        )
    };
    // The next day's re-check of the organization's domains.
    let next_day = || async {
        w.app
            .clock
            .advance(time::Duration::days(1) + time::Duration::minutes(1));
        gatehouse::domains::recheck(state.domain_services())
            .await
            .unwrap();
    };

    dns.remove(RECORD).await;
    next_day().await;
    // The SMTP server is down at first: the message waits and is tried again minutes later.
    let down = gatehouse::mail::Mailer::from_settings(
        Some("smtp://127.0.0.1:1"),
        Some("gatehouse@vendor.example"),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        gatehouse::mail::deliver_due(&state.storage, &down, state.now())
            .await
            .unwrap(),
        0
    );
    assert_eq!(deliver().await.unwrap(), 0, "not due again yet");
    w.app.clock.advance(time::Duration::minutes(3));
    assert_eq!(deliver().await.unwrap(), 1);
    let messages = smtp.messages().await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let warning = &messages[0];
    assert_eq!(warning["to"], json!(["ada@contoso.com"]));
    assert_eq!(warning["from"], "gatehouse@vendor.example");
    assert_eq!(
        warning["subject"],
        "Gatehouse: the proof of contoso.com is missing"
    );
    let text = warning["text"].as_str().unwrap();
    assert!(text.contains(RECORD) && text.contains(&value), "{text}");
    assert!(text.contains("for 7 days"), "{text}");

    // Told once: the next days' checks of the same miss send nothing more.
    next_day().await;
    assert_eq!(deliver().await.unwrap(), 0);
    assert_eq!(smtp.messages().await.len(), 1);
}

#[tokio::test]
async fn an_operator_approves_a_domain_and_admins_cannot() {
    let dns = Dns::start();
    let w = contoso(&dns).await;
    let by_admin = w
        .app
        .post(
            &w.admin,
            &format!("/organizations/{}/email-domains/contoso.com/approve", w.org),
            json!({}),
        )
        .await;
    assert_eq!(by_admin.status(), StatusCode::FORBIDDEN);
    w.approve_domain("contoso.com").await;
    let approved = domain(&w, "contoso.com").await;
    assert_eq!(
        approved["proven_by"],
        "an operator's approval (ops@vendor.example)"
    );
    assert_eq!(method(&w, "x@contoso.com").await, "sso");
}

/// Contoso's admin choosing Entra's global cloud, which the test provider plays.
async fn contoso_on_the_global_cloud(dns: &Dns) -> Wizard {
    let mut w = contoso_admin(dns, "--test-global-cloud", &[]).await;
    w.cloud = "global";
    w
}

#[tokio::test]
async fn on_entra_clouds_the_directory_s_verified_domains_prove_the_listed_ones() {
    let dns = Dns::start();
    let w = contoso_on_the_global_cloud(&dns).await;
    // contoso.com is listed before the test sign-in, which reads the verified domains.
    w.connect(json!({})).await;
    let test = w.connection().await["test_sign_in"].clone();
    assert_eq!(
        test["directory_domains"],
        json!(["contoso.onmicrosoft.com", "contoso.com"])
    );
    let proven = domain(&w, "contoso.com").await;
    assert_eq!(proven["state"], "proven", "{proven}");
    assert_eq!(proven["proven_by"], "the directory's own verified domains");
    assert_eq!(method(&w, "b.simon@contoso.com").await, "sso");

    // Listed after the test sign-in (the wizard's own order): proven by what it read. A
    // subdomain the directory has not verified waits for its own proof.
    let listed = w
        .set_policy(json!({
            "email_domains": ["contoso.com", "contoso.onmicrosoft.com", "eu.contoso.com"]
        }))
        .await;
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(
        domain(&w, "contoso.onmicrosoft.com").await["state"],
        "proven"
    );
    assert_eq!(domain(&w, "eu.contoso.com").await["state"], "waiting");

    // The daily check asks the cloud which directory verified the domain: once the
    // directory drops it, the proof is missing (audited) and lapses after seven days.
    w.idp
        .set_domains(CONTOSO_TENANT, &["contoso.onmicrosoft.com"])
        .await;
    let recheck = || gatehouse::domains::recheck(w.app.state.domain_services());
    w.app
        .clock
        .advance(time::Duration::days(1) + time::Duration::minutes(1));
    recheck().await.unwrap();
    assert_eq!(domain(&w, "contoso.com").await["state"], "missing");
    assert_eq!(
        domain(&w, "contoso.onmicrosoft.com").await["state"],
        "proven"
    );
    assert!(audit_actions(&w)
        .await
        .contains(&"email_domain.proof_missing".to_string()));

    // New credentials for another directory: its proofs are checked at once, and the old
    // directory's no longer hold.
    let version = w.version().await;
    let saved = w.save(version, FABRIKAM, &w.client_id, None).await;
    assert_eq!(saved.status(), StatusCode::OK);
    assert_eq!(
        domain(&w, "contoso.onmicrosoft.com").await["state"],
        "missing"
    );
}

#[tokio::test]
async fn a_custom_authority_s_verified_domains_prove_nothing() {
    let dns = Dns::start();
    // The same provider, allowed as a custom authority, lists contoso.com as verified.
    let w = contoso(&dns).await;
    let test = w.connection().await["test_sign_in"].clone();
    assert_eq!(test["passed"], true);
    assert_eq!(test["directory_domains"], json!([]));
    assert!(test["directory_domains_note"]
        .as_str()
        .unwrap()
        .contains("not one of Microsoft Entra's clouds"));
    assert_eq!(domain(&w, "contoso.com").await["state"], "waiting");
    assert_eq!(method(&w, "b.simon@contoso.com").await, "password");
}
