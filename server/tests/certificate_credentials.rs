//! Certificate credentials in the manual path: Gatehouse generates the key and a certificate
//! valid two years, the admin downloads the `.cer` and uploads it to the app in Entra, and
//! Gatehouse authenticates with client assertions (`private_key_jwt`) from then on: at
//! verification, at the test sign-in, at people's sign-ins and for Graph. Verification proves
//! the upload: before it, Entra's AADSTS700027 in plain words.

mod common;

use common::idp::{sign_in_at_provider, CONTOSO_PASSWORD, SIMON, SIMON_OID};
use common::wizard::{check, wizard};
use common::{body, field_error};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn a_certificate_gatehouse_generates_signs_people_in_once_the_admin_uploads_it() {
    let w = wizard().await;

    // Saving with a certificate before there is one: the way forward, nothing saved.
    let early = w.save_with_certificate().await;
    assert_eq!(early.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&body(early).await, "credential").contains("Generate"));
    assert_eq!(w.version().await, 0);

    // Generate: a certificate valid two years; its private key never leaves Gatehouse.
    let generated = w
        .app
        .post(
            &w.admin,
            &w.path("/draft/certificate"),
            json!({"version": 0}),
        )
        .await;
    assert_eq!(generated.status(), StatusCode::OK);
    let view = body(generated).await;
    let certificate = &view["draft"]["certificate"];
    let thumbprint = certificate["thumbprint"].as_str().unwrap().to_string();
    assert_eq!(thumbprint.len(), 40);
    let two_years = (time::OffsetDateTime::now_utc() + time::Duration::days(730))
        .date()
        .to_string();
    assert_eq!(certificate["expires_on"], two_years.as_str());
    let text = view.to_string();
    assert!(
        !text.contains("PRIVATE") && !text.contains("sealed"),
        "{text}"
    );

    // The .cer the admin downloads: DER, with the thumbprint the wizard shows.
    let download = w
        .admin
        .get(format!(
            "{}{}",
            w.app.url,
            certificate["download_url"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.headers()["content-type"], "application/pkix-cert");
    assert!(download.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("gatehouse-contoso.cer"));
    let der = download.bytes().await.unwrap().to_vec();
    let sha1 = openssl::hash::hash(openssl::hash::MessageDigest::sha1(), &der).unwrap();
    let hex: String = sha1.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(hex, thumbprint);

    // Saved with the certificate, not yet uploaded: verification names the missing upload.
    let saved = w.save_with_certificate().await;
    assert_eq!(saved.status(), StatusCode::OK);
    let saved = body(saved).await;
    assert_eq!(saved["draft"]["credential"], "certificate");
    assert!(saved["draft"]["secret"].is_null());
    let version = w.version().await;
    let verified = w.verify(version).await;
    let credentials = check(&verified, "credentials");
    assert_eq!(credentials["outcome"], "failed", "{verified}");
    assert_eq!(
        credentials["title"],
        "The app exists in it and the certificate works"
    );
    assert_eq!(credentials["aadsts"], "700027");
    assert!(credentials["message"]
        .as_str()
        .unwrap()
        .contains("Upload the certificate"));

    // Uploaded in Entra: verification proves it, then the test sign-in and people's sign-ins
    // exchange their codes with client assertions.
    w.idp.upload_certificate(&w.client_id, &der).await;
    let version = w.version().await;
    let verified = w.verify(version).await;
    assert_eq!(
        verified["draft"]["verification"]["passed"], true,
        "{verified}"
    );
    assert_eq!(
        check(&verified, "secret_expiry")["title"],
        "The certificate is not about to expire"
    );
    assert!(check(&verified, "secret_expiry")["message"]
        .as_str()
        .unwrap()
        .contains(&two_years));
    assert_eq!(w.set_policy(json!({})).await.status(), StatusCode::OK);
    let before = w.idp.stats().await["assertionsAccepted"].as_i64().unwrap();
    w.test_sign_in_as_simon().await;
    assert_eq!(w.activate().await.status(), StatusCode::OK);
    w.add_mapped_member(SIMON, "B. Simon", SIMON_OID, true)
        .await;
    let start = format!("{}/o/contoso/sso", w.app.url);
    let signed_in = sign_in_at_provider(&w.app.browser(), &start, SIMON, CONTOSO_PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let after = w.idp.stats().await["assertionsAccepted"].as_i64().unwrap();
    assert!(
        after >= before + 2,
        "the test sign-in and the sign-in each sent one ({before} → {after})"
    );

    // The overview lists the certificate as the credential, with its expiry.
    let connection = w.connection().await;
    assert_eq!(connection["active"]["credential"], "certificate");
    assert_eq!(
        connection["active"]["certificate"]["thumbprint"],
        thumbprint.as_str()
    );
    assert!(connection["expiring"].as_array().unwrap().is_empty());

    // The stored configuration holds the key sealed, never in clear.
    let stored = w.stored().await;
    let config: Value = serde_json::from_str(stored.active_config.as_deref().unwrap()).unwrap();
    assert!(config["certificate"]["sealed_key"].as_str().unwrap().len() > 100);
    assert!(!stored.draft_config.contains("PRIVATE KEY"));

    // A new certificate (before this one expires) goes to the draft, which must be verified
    // again; the active one keeps serving meanwhile.
    let version = w.version().await;
    let again = w
        .app
        .post(
            &w.admin,
            &w.path("/draft/certificate"),
            json!({"version": version}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let again = body(again).await;
    assert_ne!(
        again["draft"]["certificate"]["thumbprint"],
        thumbprint.as_str()
    );
    assert_eq!(
        again["active"]["certificate"]["thumbprint"],
        thumbprint.as_str()
    );
    assert!(again["draft"]["verification"].is_null(), "{again}");
    let still = sign_in_at_provider(&w.app.browser(), &start, SIMON, CONTOSO_PASSWORD).await;
    assert_eq!(still.status(), StatusCode::SEE_OTHER);

    // Entra stops accepting the certificate (it expired there): the sign-in fails with Entra's
    // reason in the audit log, nobody is signed in.
    w.idp.expire_credentials(&w.client_id).await;
    let refused = sign_in_at_provider(&w.app.browser(), &start, SIMON, CONTOSO_PASSWORD).await;
    assert_ne!(refused.status(), StatusCode::SEE_OTHER);
}
