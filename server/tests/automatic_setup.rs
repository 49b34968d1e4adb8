//! "Set up automatically": Contoso's admin signs in once with a device code at the test
//! directory, and Gatehouse creates the app registration through Microsoft Graph; every way it
//! can stop says what to do, and the admin's token reaches neither the database nor the logs.

mod common;

use common::idp::{Idp, CONTOSO, CONTOSO_PASSWORD, LEE, MEGAN, SETUP_CLIENT, SIMON};
use common::wizard::{wizard_on, Wizard};
use common::{body, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Everything Gatehouse logs in this test binary, at every level.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || Captured(writer.clone()))
            .try_init();
        buffer
    })
}

struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Contoso's admin on a Gatehouse (SQLite in its own folder) with the setup client set.
async fn setup_wizard() -> Wizard {
    setup_wizard_on("--allowed-authorities").await
}

/// The same, the test provider given with `provider_flag` (`--test-global-cloud` makes it
/// Entra's global cloud).
async fn setup_wizard_on(provider_flag: &str) -> Wizard {
    logs();
    let idp = Idp::start();
    idp.device_interval(1).await;
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let database = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("gatehouse.db").display()
    );
    let app = spawn_app_with(
        dir,
        database,
        &[provider_flag, &idp.url, "--setup-client-id", SETUP_CLIENT],
    )
    .await;
    let mut w = wizard_on(idp, app).await;
    if provider_flag == "--test-global-cloud" {
        w.cloud = "global";
    }
    w
}

async fn start(w: &Wizard, picker: bool) -> reqwest::Response {
    w.app
        .post(
            &w.admin,
            &w.path("/automatic"),
            json!({ "cloud": w.cloud, "authority_host": w.idp.url, "tenant": "", "directory_picker": picker }),
        )
        .await
}

async fn setup(w: &Wizard) -> Value {
    body(w.app.get(&w.admin, &w.path("/automatic")).await).await["setup"].clone()
}

/// Waits until the setup reaches `stage` (or ends elsewhere): answers it.
async fn until(w: &Wizard, stage: &str) -> Value {
    for _ in 0..240 {
        let now = setup(w).await;
        let at = now["stage"].as_str().unwrap_or_default().to_string();
        if at == stage || ["done", "failed", "cancelled"].contains(&at.as_str()) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the setup never reached {stage}: {}", setup(w).await);
}

/// Starts the setup and signs in at the code page as `username`: answers the setup once it
/// has left the sign-in stage.
async fn sign_in_as(w: &Wizard, username: &str, picker: bool) -> Value {
    let started = start(w, picker).await;
    assert_eq!(started.status(), StatusCode::OK);
    let started = body(started).await["setup"].clone();
    assert_eq!(started["stage"], "sign_in");
    let left = started["code_seconds_left"].as_i64().unwrap();
    assert!((890..=900).contains(&left), "{left}");
    w.idp
        .enter_device_code(
            started["verification_uri"].as_str().unwrap(),
            started["user_code"].as_str().unwrap(),
            username,
            CONTOSO_PASSWORD,
            true,
        )
        .await;
    until(w, "confirm").await
}

async fn confirm(w: &Wizard, id: &Value, proceed: bool, remove_setup_access: bool) -> Value {
    let answered = w
        .app
        .post(
            &w.admin,
            &w.path("/automatic/confirm"),
            json!({ "id": id, "proceed": proceed, "remove_setup_access": remove_setup_access }),
        )
        .await;
    assert_eq!(answered.status(), StatusCode::OK);
    until(w, "done").await
}

fn tagged_apps(registrations: &Value, org: &str) -> Vec<Value> {
    let tag = format!("gatehouse-organization:{org}");
    registrations["apps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            a["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == &json!(tag)))
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_admin_connects_contoso_automatically_and_the_token_is_never_kept() {
    let w = setup_wizard().await;
    let confirming = sign_in_as(&w, MEGAN, false).await;
    assert_eq!(confirming["stage"], "confirm", "{confirming}");
    assert_eq!(confirming["directory"]["tenant_id"], CONTOSO);
    assert_eq!(confirming["directory"]["name"], "Contoso");
    assert!(confirming["directory"]["domains"]
        .as_array()
        .unwrap()
        .contains(&json!("contoso.com")));
    assert_eq!(confirming["directory"]["admin"], MEGAN);
    assert!(confirming["user_code"].is_null());

    let done = confirm(&w, &confirming["id"], true, true).await;
    assert_eq!(done["stage"], "done", "{done}");
    assert!(
        done["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["done"] == true),
        "{done}"
    );

    // The app registration, exactly as the issue lists it.
    let held = w.idp.registrations(CONTOSO).await;
    let apps = tagged_apps(&held, &w.org);
    assert_eq!(apps.len(), 1, "{held}");
    let app = &apps[0];
    assert_eq!(app["displayName"], "Gatehouse SSO for Contoso");
    assert_eq!(app["signInAudience"], "AzureADMyOrg");
    assert_eq!(
        app["redirectUris"],
        json!([format!("{}/auth/callback", w.app.url)])
    );
    assert_eq!(app["homePageUrl"], format!("{}/o/contoso/sso", w.app.url));
    assert_eq!(
        app["frontchannelLogoutUri"],
        format!("{}/auth/logout", w.app.url)
    );
    let claims: Vec<&str> = app["optionalClaims"]["idToken"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(claims, ["email", "xms_edov", "sid"]);
    let access = app["requiredResourceAccess"][0]["resourceAccess"]
        .as_array()
        .unwrap();
    assert_eq!(access.len(), 4, "only openid, profile, email and User.Read");
    assert_eq!(app["consentRequired"], false, "admin consent was granted");
    assert_eq!(
        app["graphPermissions"],
        json!([]),
        "no application permission without the picker"
    );
    assert_eq!(app["secrets"], 0);
    assert_eq!(app["certificates"].as_array().unwrap().len(), 1);
    // The setup client's own grant is gone.
    let setup_principal = held["servicePrincipals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|sp| sp["appId"] == SETUP_CLIENT)
        .unwrap()["id"]
        .clone();
    assert!(
        !held["permissionGrants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["clientId"] == setup_principal),
        "{held}"
    );

    // The draft uses it with Gatehouse's certificate and passed verification.
    let connection = w.connection().await;
    assert_eq!(connection["draft"]["client_id"], app["clientId"]);
    assert_eq!(connection["draft"]["tenant_id"], CONTOSO);
    assert_eq!(connection["draft"]["credential"], "certificate");
    assert_eq!(
        connection["draft"]["certificate"]["thumbprint"],
        app["certificates"][0]["thumbprint"]
    );
    assert_eq!(
        connection["draft"]["verification"]["passed"], true,
        "{connection}"
    );
    let stored: Value = serde_json::from_str(&w.stored().await.draft_config).unwrap();
    assert_eq!(stored["application_object_id"], app["objectId"]);
    assert_eq!(
        stored["certificate"]["key_id"],
        app["certificates"][0]["keyId"]
    );

    // Then the same test sign-in and activation as the manual path.
    assert_eq!(w.set_policy(json!({})).await.status(), StatusCode::OK);
    w.test_sign_in_as_simon().await;
    let activated = w.activate().await;
    assert_eq!(activated.status(), StatusCode::OK);
    assert_eq!(body(activated).await["status"], "active");
    let audit = body(
        w.app
            .get(&w.admin, &format!("/organizations/{}/audit", w.org))
            .await,
    )
    .await;
    assert!(
        audit.to_string().contains("connection.automatic_setup"),
        "{audit}"
    );

    // The admin's token is in neither the database nor the logs.
    let tokens = w.idp.device_tokens().await;
    assert_eq!(tokens.len(), 1);
    let folder = w.app.dir.path().to_path_buf();
    let logs = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    assert!(logs.contains("automatic"), "the logs were captured");
    for token in &tokens {
        let signature = token.rsplit('.').next().unwrap();
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(signature),
                    "{} holds the admin's token",
                    path.display()
                );
            }
        }
        assert!(!logs.contains(signature), "the logs hold the admin's token");
    }

    // Running it again finds the app it made instead of making a second one.
    let again = sign_in_as(&w, MEGAN, true).await;
    let done = confirm(&w, &again["id"], true, false).await;
    assert_eq!(done["stage"], "done", "{done}");
    assert!(
        done["steps"][0]["label"]
            .as_str()
            .unwrap()
            .starts_with("Update the app registration"),
        "{done}"
    );
    let apps = tagged_apps(&w.idp.registrations(CONTOSO).await, &w.org);
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0]["objectId"], app["objectId"]);
    assert_eq!(
        apps[0]["certificates"].as_array().unwrap().len(),
        2,
        "the serving certificate stays beside the new one"
    );
    assert_eq!(
        apps[0]["graphPermissions"],
        json!(["User.Read.All"]),
        "the picker's permission"
    );
    assert_eq!(
        apps[0]["requiredResourceAccess"][0]["resourceAccess"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[tokio::test]
async fn each_polling_answer_has_its_own_message() {
    let w = setup_wizard().await;
    for (error, words) in [
        ("authorization_declined", "declined"),
        ("bad_verification_code", "no longer recognizes this code"),
        ("expired_token", "code expired"),
    ] {
        w.idp
            .device_poll_errors(&["authorization_pending", error])
            .await;
        assert_eq!(start(&w, false).await.status(), StatusCode::OK);
        let ended = until(&w, "failed").await;
        assert_eq!(ended["stage"], "failed", "{error}: {ended}");
        assert!(
            ended["message"].as_str().unwrap().contains(words),
            "{error}: {ended}"
        );
        assert!(ended["user_code"].is_null());
    }
    // slow_down: Gatehouse waits longer and says so, and keeps waiting.
    w.idp.device_poll_errors(&["slow_down"]).await;
    assert_eq!(start(&w, false).await.status(), StatusCode::OK);
    let mut message = Value::Null;
    for _ in 0..40 {
        message = setup(&w).await["message"].clone();
        if !message.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        message.as_str().unwrap_or_default().contains("less often"),
        "{message}"
    );
    assert_eq!(setup(&w).await["stage"], "sign_in");
    // The admin stops it.
    let id = setup(&w).await["id"].clone();
    let cancelled = w
        .app
        .post(
            &w.admin,
            &w.path("/automatic/cancel"),
            json!({ "id": id, "proceed": false }),
        )
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    assert_eq!(until(&w, "cancelled").await["stage"], "cancelled");
    // A directory that does not exist is refused at once.
    let unknown = w
        .app
        .post(
            &w.admin,
            &w.path("/automatic"),
            json!({ "cloud": "custom", "authority_host": w.idp.url, "tenant": "nowhere.example" }),
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(unknown)
        .await
        .to_string()
        .contains("No directory nowhere.example"));
}

#[tokio::test]
async fn conditional_access_consent_and_missing_roles_say_what_to_do_and_leave_nothing_behind() {
    let w = setup_wizard().await;
    // Conditional Access blocks the device code flow.
    w.idp.block_device_code(CONTOSO, true).await;
    let blocked = sign_in_as(&w, MEGAN, false).await;
    assert_eq!(blocked["stage"], "failed");
    assert!(
        blocked["message"]
            .as_str()
            .unwrap()
            .contains("Conditional Access"),
        "{blocked}"
    );
    w.idp.block_device_code(CONTOSO, false).await;

    // A person who may not consent to the setup client's permissions.
    let member = sign_in_as(&w, SIMON, false).await;
    assert_eq!(member["stage"], "failed");
    assert!(
        member["message"]
            .as_str()
            .unwrap()
            .contains("administrator's approval"),
        "{member}"
    );

    // An Application Administrator creates the app but may not grant admin consent: the app
    // is deleted again.
    let lee = sign_in_as(&w, LEE, false).await;
    assert_eq!(lee["stage"], "confirm");
    let ended = confirm(&w, &lee["id"], true, true).await;
    assert_eq!(ended["stage"], "failed", "{ended}");
    assert!(
        ended["message"]
            .as_str()
            .unwrap()
            .contains("Privileged Role Administrator"),
        "{ended}"
    );
    assert!(
        ended["steps"]
            .to_string()
            .contains("Delete the app registration"),
        "{ended}"
    );
    assert!(ended["leftovers"].as_array().unwrap().is_empty());
    assert!(tagged_apps(&w.idp.registrations(CONTOSO).await, &w.org).is_empty());
    // Nothing reached the draft.
    assert!(w.connection().await["draft"].is_null(), "nothing was saved");

    // Declining at the confirmation creates nothing.
    let megan = sign_in_as(&w, MEGAN, false).await;
    let stopped = confirm(&w, &megan["id"], false, false).await;
    assert_eq!(stopped["stage"], "cancelled");
    assert!(tagged_apps(&w.idp.registrations(CONTOSO).await, &w.org).is_empty());
}

#[tokio::test]
async fn entra_replication_delays_are_waited_out() {
    let w = setup_wizard().await;
    w.idp.replication_delay(2500).await;
    let confirming = sign_in_as(&w, MEGAN, false).await;
    let done = confirm(&w, &confirming["id"], true, false).await;
    assert_eq!(done["stage"], "done", "{done}");
    assert_eq!(
        w.connection().await["draft"]["verification"]["passed"],
        true
    );
}

#[tokio::test]
async fn automatic_rotation_runs_with_the_clock_moved_forward() {
    let w = setup_wizard().await;
    let confirming = sign_in_as(&w, MEGAN, false).await;
    assert_eq!(
        confirm(&w, &confirming["id"], true, true).await["stage"],
        "done"
    );
    assert_eq!(w.set_policy(json!({})).await.status(), StatusCode::OK);
    w.test_sign_in_as_simon().await;
    assert_eq!(w.activate().await.status(), StatusCode::OK);
    let active = |record: &gatehouse::storage::ConnectionRecord| -> Value {
        serde_json::from_str(record.active_config.as_deref().unwrap()).unwrap()
    };
    let before = active(&w.stored().await);
    let old = before["certificate"].clone();

    // Nothing is due while the certificate has two years left.
    gatehouse::background::housekeeping(w.app.state.clone()).await;
    assert_eq!(active(&w.stored().await)["certificate"], old);

    // 700 days later, 30 days are left: the housekeeping round rotates it, with no admin.
    w.app.clock.advance(time::Duration::days(700));
    gatehouse::background::housekeeping(w.app.state.clone()).await;
    w.app.clock.advance(time::Duration::days(-700));
    let record = w.stored().await;
    let after = active(&record);
    let new = after["certificate"].clone();
    assert_ne!(new["thumbprint"], old["thumbprint"]);
    assert_ne!(new["key_id"], old["key_id"]);
    assert!(new["expires_on"].as_str().unwrap() > old["expires_on"].as_str().unwrap());
    assert_eq!(after["client_id"], before["client_id"], "the same app");
    let draft: Value = serde_json::from_str(&record.draft_config).unwrap();
    assert_eq!(
        draft["certificate"]["thumbprint"], new["thumbprint"],
        "the draft follows"
    );

    // The directory holds the new key only, added and removed through Graph with proofs.
    let apps = tagged_apps(&w.idp.registrations(CONTOSO).await, &w.org);
    let keys: Vec<&Value> = apps[0]["certificates"].as_array().unwrap().iter().collect();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["thumbprint"], new["thumbprint"]);
    assert_eq!(keys[0]["keyId"], new["key_id"]);
    let stats = w.idp.stats().await;
    assert_eq!(
        (stats["keysAdded"].as_i64(), stats["keysRemoved"].as_i64()),
        (Some(1), Some(1))
    );
    let audit = body(
        w.app
            .get(&w.admin, &format!("/organizations/{}/audit", w.org))
            .await,
    )
    .await;
    let rotated = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "connection.certificate_rotated")
        .cloned();
    let rotated = rotated.unwrap_or_else(|| panic!("audited: {audit}"));
    assert_eq!(rotated["outcome"], "success");
    assert_eq!(rotated["actor"], "system");

    // People keep signing in: the new certificate serves.
    let accepted = w.idp.stats().await["assertionsAccepted"].as_i64().unwrap();
    w.test_sign_in_as_simon().await;
    assert!(w.idp.stats().await["assertionsAccepted"].as_i64().unwrap() > accepted);
    // And the next round has nothing to do.
    gatehouse::background::housekeeping(w.app.state.clone()).await;
    assert_eq!(active(&w.stored().await)["certificate"], new);
}

#[tokio::test]
async fn on_entra_s_cloud_the_directory_s_verified_domains_prove_the_listed_ones() {
    let w = setup_wizard_on("--test-global-cloud").await;
    let first = sign_in_as(&w, MEGAN, false).await;
    assert_eq!(confirm(&w, &first["id"], true, true).await["stage"], "done");
    // contoso.com listed after the setup waits for a proof (no test sign-in yet)...
    let listed = w
        .set_policy(json!({ "email_domains": ["contoso.com", "eu.contoso.com"] }))
        .await;
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(domain_state(&w, "contoso.com").await, "waiting");
    // ...and the setup run again proves it by the verified domains Graph's /organization
    // names; a domain the directory has not verified still waits.
    let again = sign_in_as(&w, MEGAN, false).await;
    assert_eq!(confirm(&w, &again["id"], true, true).await["stage"], "done");
    assert_eq!(domain_state(&w, "contoso.com").await, "proven");
    assert_eq!(domain_state(&w, "eu.contoso.com").await, "waiting");
}

async fn domain_state(w: &Wizard, name: &str) -> Value {
    w.connection().await["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == name)
        .unwrap()["state"]
        .clone()
}
