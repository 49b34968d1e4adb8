//! Rotation without an outage ("Update configuration"): the admin adds a new secret in Entra
//! beside the serving one, and the draft takes it, is verified and passes a test sign-in while
//! the active configuration keeps serving; activation switches atomically. Sign-ins that were
//! at the directory when it switched, and sign-ins running beside the switch, all succeed; the
//! admin is told to remove the old secret in Entra, and once they have, sign-ins go on.

mod common;

use common::body;
use common::idp::{
    callback_from_provider, sign_in_at_provider, CONTOSO, CONTOSO_PASSWORD, SIMON, SIMON_OID,
};
use common::wizard::{wizard, SECRET, SECRET_ID};
use reqwest::StatusCode;
use serde_json::json;

const NEW_SECRET: &str = "Rotated~Secret.Value_For-Tests_0002";

#[tokio::test]
async fn a_new_secret_is_tested_beside_the_serving_one_then_switched_and_no_sign_in_fails() {
    let w = wizard().await;
    w.connect(json!({})).await;
    w.add_mapped_member(SIMON, "B. Simon", SIMON_OID, true)
        .await;
    let start = format!("{}/o/contoso/sso", w.app.url);
    let redirect_uri = format!("{}/auth/callback", w.app.url);
    let secret = |id: &str, value: &str| json!({ "id": id, "value": value, "expires": "2099-01-01T00:00:00Z" });
    let new_id = uuid::Uuid::new_v4().to_string();

    // In Entra, a second secret beside the first.
    w.idp
        .register_app(
            CONTOSO,
            &w.client_id,
            json!([secret(SECRET_ID, SECRET), secret(&new_id, NEW_SECRET)]),
            &redirect_uri,
        )
        .await;
    // Sign-ins already at the directory, to come back after the switch.
    let mut pending = Vec::new();
    for _ in 0..3 {
        let browser = w.app.browser();
        let callback = callback_from_provider(&browser, &start, SIMON, CONTOSO_PASSWORD).await;
        pending.push((browser, callback));
    }

    // The draft takes the new secret; verification and a test sign-in prove it while the old
    // secret keeps serving people.
    let version = w.version().await;
    let saved = w
        .save(version, CONTOSO, &w.client_id, Some(NEW_SECRET))
        .await;
    assert_eq!(saved.status(), StatusCode::OK);
    let verified = w.verify(w.version().await).await;
    assert_eq!(
        verified["draft"]["verification"]["passed"], true,
        "{verified}"
    );
    assert_eq!(verified["active"]["secret"]["last4"], "0001");
    assert_eq!(
        sign_in_at_provider(&w.app.browser(), &start, SIMON, CONTOSO_PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    w.test_sign_in_as_simon().await;

    // The switch, with sign-ins running beside it.
    let sign_in = || async {
        sign_in_at_provider(&w.app.browser(), &start, SIMON, CONTOSO_PASSWORD)
            .await
            .status()
    };
    let (activated, a, b, c) = tokio::join!(w.activate(), sign_in(), sign_in(), sign_in());
    assert_eq!(activated.status(), StatusCode::OK);
    assert_eq!([a, b, c], [StatusCode::SEE_OTHER; 3]);
    let view = body(activated).await;
    assert_eq!(view["active"]["secret"]["last4"], "0002");
    let notice = view["warnings"]["activate"].as_str().unwrap();
    assert!(
        notice.contains("The client secret …0002 now signs people in")
            && notice.contains("The client secret …0001 still works in Entra"),
        "{notice}"
    );
    // The sign-ins that were at the directory come back after it: each finishes.
    for (browser, callback) in pending {
        let response = browser.get(callback).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }

    // The admin removes the old secret in Entra: sign-ins go on with the new one.
    w.idp
        .register_app(
            CONTOSO,
            &w.client_id,
            json!([secret(&new_id, NEW_SECRET)]),
            &redirect_uri,
        )
        .await;
    assert_eq!(sign_in().await, StatusCode::SEE_OTHER);
    // Not one sign-in failed along the way.
    let audit = body(
        w.app
            .get(&w.admin, &format!("/organizations/{}/audit?page=1", w.org))
            .await,
    )
    .await;
    let failures = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "sso.sign_in" && e["outcome"] == "failure")
        .count();
    assert_eq!(failures, 0, "{audit}");
}
