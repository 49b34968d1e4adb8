//! SAML connections through the real flow against the Entra-shaped provider's SAML side: the
//! wizard's API (metadata upload, metadata URL, the three pasted values), verification, the
//! test sign-in and activation; SP- and IdP-initiated sign-in; and the signature battery — each
//! bad response ends on a page with a reference its audit entry carries, with no session and no
//! member made.

mod common;

use common::body;
use common::idp::{
    post_to_reply_url, saml_form_from_provider, CONTOSO, CONTOSO_PASSWORD, SIMON, SIMON_OID,
};
use common::wizard::{wizard, Wizard};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

/// Contoso's admin with Gatehouse added as a SAML Enterprise application in the directory:
/// the Identifier and Reply URL the wizard shows, registered at the provider.
async fn registered() -> (Wizard, Value) {
    let w = wizard().await;
    let app = register_enterprise_app(&w).await;
    (w, app)
}

/// Adds Gatehouse to Contoso's directory as a SAML Enterprise application, with the Identifier
/// and Reply URL the wizard shows; answers the provider's app (appId, metadata URL, …).
async fn register_enterprise_app(w: &Wizard) -> Value {
    let saml = w.connection().await["saml"].clone();
    w.idp
        .register_saml_app(
            CONTOSO,
            saml["identifier"].as_str().unwrap(),
            saml["reply_url"].as_str().unwrap(),
        )
        .await
}

async fn save_saml(w: &Wizard, request: Value) -> Response {
    let mut body = json!({ "version": w.version().await });
    for (k, v) in request.as_object().unwrap() {
        body[k] = v.clone();
    }
    w.app
        .send(&w.admin, reqwest::Method::PUT, &w.path("/draft/saml"), body)
        .await
}

async fn metadata_of(app: &Value) -> String {
    reqwest::get(app["metadataUrl"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// SAML from the metadata file (or from its URL when `extra` names `metadata_url`) with the
/// other `extra` settings, a policy over "everyone" with contoso.com (approved), a passed
/// test sign-in and activation; B.Simon is mapped.
async fn connected(extra: Value) -> Wizard {
    let (w, app) = registered().await;
    let mut request = if extra.get("metadata_url").is_some() {
        json!({ "metadata_url": app["metadataUrl"] })
    } else {
        json!({ "metadata_xml": metadata_of(&app).await })
    };
    for (k, v) in extra.as_object().unwrap() {
        if k != "metadata_url" {
            request[k] = v.clone();
        }
    }
    assert_eq!(save_saml(&w, request).await.status(), StatusCode::OK);
    let version = w.version().await;
    let verified = w.verify(version).await;
    assert_eq!(
        verified["draft"]["verification"]["passed"], true,
        "{verified}"
    );
    assert_eq!(w.set_policy(json!({})).await.status(), StatusCode::OK);
    w.approve_domain("contoso.com").await;
    test_sign_in(&w).await;
    let activated = w.activate().await;
    assert_eq!(activated.status(), StatusCode::OK);
    w.add_mapped_member(SIMON, "B. Simon", SIMON_OID, true)
        .await;
    w
}

/// The wizard's test sign-in as B.Simon; answers what the wizard shows of it.
async fn test_sign_in(w: &Wizard) -> Value {
    let url = common::wizard::start_test_sign_in(w).await;
    let post = saml_form_from_provider(&w.admin, &url, SIMON, CONTOSO_PASSWORD).await;
    let back = post_to_reply_url(&w.admin, &post).await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert!(back.headers()["location"]
        .to_str()
        .unwrap()
        .ends_with("/sso#step-test"));
    w.connection().await["test_sign_in"].clone()
}

fn start_url(w: &Wizard) -> String {
    format!("{}/o/contoso/sso", w.app.url)
}

async fn sign_in(w: &Wizard, browser: &Client) -> (Response, common::idp::SamlPost) {
    let post = saml_form_from_provider(browser, &start_url(w), SIMON, CONTOSO_PASSWORD).await;
    (post_to_reply_url(browser, &post).await, post)
}

async fn member_count(w: &Wizard) -> i64 {
    body(
        w.app
            .get(&w.admin, &format!("/organizations/{}/members", w.org))
            .await,
    )
    .await["total"]
        .as_i64()
        .unwrap()
}

async fn newest_audit(w: &Wizard) -> Value {
    body(
        w.app
            .get(&w.admin, &format!("/organizations/{}/audit", w.org))
            .await,
    )
    .await["items"][0]
        .clone()
}

/// The refusal page with its reference, the audit entry with that reference and `reason`, no
/// session for the browser, no member made.
async fn assert_refused(
    w: &Wizard,
    browser: &Client,
    response: Response,
    status: StatusCode,
    reason: &str,
    members_before: i64,
) {
    assert_eq!(response.status(), status);
    let page = response.text().await.unwrap();
    let reference = page
        .split("<code id=\"reference\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("a reference on the page: {page}"))
        .to_string();
    let newest = newest_audit(w).await;
    assert_eq!(newest["action"], "sso.sign_in");
    assert_eq!(newest["outcome"], "failure");
    let detail = newest["detail"].as_str().unwrap();
    assert_eq!(detail, format!("ref {reference}: {reason}"), "{newest}");
    assert_eq!(
        w.app.get(browser, "/session").await.status(),
        StatusCode::UNAUTHORIZED,
        "no session"
    );
    assert_eq!(member_count(w).await, members_before, "no member created");
}

#[tokio::test]
async fn the_wizard_shows_the_addresses_to_register_built_from_the_organization_id() {
    let w = wizard().await;
    let saml = w.connection().await["saml"].clone();
    assert_eq!(saml["identifier"], format!("{}/saml/{}", w.app.url, w.org));
    assert_eq!(
        saml["reply_url"],
        format!("{}/saml/{}/acs", w.app.url, w.org)
    );
    assert_eq!(saml["sign_on_url"], format!("{}/o/contoso/sso", w.app.url));
    let metadata = reqwest::get(saml["metadata_url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(metadata.status(), StatusCode::OK);
    let xml = metadata.text().await.unwrap();
    assert!(xml.contains(&format!(
        "entityID=\"{}\"",
        saml["identifier"].as_str().unwrap()
    )));
    assert!(xml.contains(saml["reply_url"].as_str().unwrap()));
}

#[tokio::test]
async fn metadata_by_url_or_pasted_values_make_the_same_saml_draft_and_bad_input_is_named() {
    let (w, app) = registered().await;
    let by_url = save_saml(&w, json!({ "metadata_url": app["metadataUrl"] })).await;
    assert_eq!(by_url.status(), StatusCode::OK);
    let draft = body(by_url).await["draft"].clone();
    assert_eq!(draft["protocol"], "saml");
    assert_eq!(draft["tenant_id"], CONTOSO);
    assert_eq!(
        draft["saml"]["entity_id"],
        format!("https://sts.windows.net/{CONTOSO}/")
    );
    assert_eq!(draft["saml"]["login_url"], app["loginUrl"]);
    assert_eq!(draft["saml"]["metadata_url"], app["metadataUrl"]);

    let pasted = save_saml(
        &w,
        json!({ "login_url": app["loginUrl"], "entity_id": app["issuer"], "certificate": app["certificate"] }),
    )
    .await;
    assert_eq!(pasted.status(), StatusCode::OK);
    let draft = body(pasted).await["draft"].clone();
    assert_eq!(draft["saml"]["entity_id"], app["issuer"]);
    assert_eq!(draft["saml"]["certificates"].as_array().unwrap().len(), 1);

    let not_xml = save_saml(&w, json!({ "metadata_xml": "<html>Sign in" })).await;
    assert_eq!(not_xml.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(common::field_error(&body(not_xml).await, "metadata").contains("not XML"));
    let elsewhere = save_saml(
        &w,
        json!({ "metadata_url": "https://evil.example/federationmetadata.xml" }),
    )
    .await;
    assert!(common::field_error(&body(elsewhere).await, "metadata_url")
        .contains("Microsoft Entra's hosts"));
    let other_tenant = app["loginUrl"]
        .as_str()
        .unwrap()
        .replace(CONTOSO, common::idp::FABRIKAM);
    let mismatch = save_saml(&w, json!({ "login_url": other_tenant, "entity_id": app["issuer"], "certificate": app["certificate"] })).await;
    assert!(
        common::field_error(&body(mismatch).await, "login_url").contains("same Entra application")
    );
}

#[tokio::test]
async fn an_admin_connects_saml_and_b_simon_signs_in_sp_initiated() {
    let w = connected(json!({})).await;
    let test = w.connection().await["test_sign_in"].clone();
    assert_eq!(test["passed"], true, "{test}");
    assert_eq!(test["object_id"], SIMON_OID);
    assert_eq!(test["saml"]["name_id"], SIMON);
    assert!(test["saml"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "http://schemas.microsoft.com/identity/claims/tenantid"));

    let browser = w.app.browser();
    let (done, _) = sign_in(&w, &browser).await;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        done.text().await
    );
    let session = body(w.app.get(&browser, "/session").await).await;
    assert_eq!(session["email"], SIMON, "{session}");

    let request = w.idp.saml_requests().await.pop().unwrap();
    assert!(request["id"].as_str().unwrap().starts_with('_'));
    assert_eq!(request["hasSubject"], false);
    assert_eq!(request["hasRequestedAuthnContext"], false);
}

#[tokio::test]
async fn a_replayed_response_is_refused() {
    let w = connected(json!({})).await;
    let browser = w.app.browser();
    let (first, post) = sign_in(&w, &browser).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let other = w.app.browser();
    let before = member_count(&w).await;
    let again = post_to_reply_url(&other, &post).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        w.app.get(&other, "/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(member_count(&w).await, before);
}

/// The directory's "Test this application" (and My Apps tile) address for Gatehouse's app.
async fn idp_initiated_url(w: &Wizard) -> String {
    let app = register_enterprise_app(w).await;
    format!(
        "{}/{CONTOSO}/saml2/idp-initiated?appid={}",
        w.idp.url,
        app["appId"].as_str().unwrap()
    )
}

#[tokio::test]
async fn idp_initiated_sign_in_is_refused_unless_the_organization_allows_it() {
    let w = connected(json!({})).await;
    let browser = w.app.browser();
    let before = member_count(&w).await;
    let post = saml_form_from_provider(
        &browser,
        &idp_initiated_url(&w).await,
        SIMON,
        CONTOSO_PASSWORD,
    )
    .await;
    let refused = post_to_reply_url(&browser, &post).await;
    assert_refused(
        &w,
        &browser,
        refused,
        StatusCode::BAD_REQUEST,
        "unsolicited",
        before,
    )
    .await;

    let on = connected(json!({ "allow_idp_initiated": true })).await;
    let browser = on.app.browser();
    let post = saml_form_from_provider(
        &browser,
        &idp_initiated_url(&on).await,
        SIMON,
        CONTOSO_PASSWORD,
    )
    .await;
    let admitted = post_to_reply_url(&browser, &post).await;
    assert_eq!(admitted.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        on.app.get(&browser, "/session").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_person_not_assigned_gets_entras_refusal_explained() {
    let w = connected(json!({})).await;
    let saml = w.connection().await["saml"].clone();
    // The admin turns on "Assignment required?" and assigns nobody.
    reqwest::Client::new()
        .post(format!("{}/_test/saml-apps", w.idp.url))
        .json(&json!({ "tenantId": CONTOSO, "identifier": saml["identifier"], "replyUrls": [saml["reply_url"]], "assignmentRequired": true }))
        .send()
        .await
        .unwrap();
    let browser = w.app.browser();
    let before = member_count(&w).await;
    let (refused, _) = sign_in(&w, &browser).await;
    assert_refused(
        &w,
        &browser,
        refused,
        StatusCode::FORBIDDEN,
        "provider_error AADSTS50105",
        before,
    )
    .await;
}

/// One test per bad response: refused, with its reason in the audit log.
macro_rules! bad_response {
    ($name:ident, $mode:literal, $reason:literal) => {
        #[tokio::test]
        async fn $name() {
            let w = connected(json!({})).await;
            let before = member_count(&w).await;
            w.idp.next_saml_response($mode).await;
            let browser = w.app.browser();
            let (refused, _) = sign_in(&w, &browser).await;
            assert_refused(
                &w,
                &browser,
                refused,
                StatusCode::BAD_REQUEST,
                $reason,
                before,
            )
            .await;
        }
    };
}

bad_response!(an_unsigned_response_is_refused, "unsigned", "signature");
bad_response!(
    a_signature_by_a_certificate_not_in_the_metadata_is_refused,
    "unknown_certificate",
    "signature"
);
bad_response!(
    an_evil_assertion_before_the_signed_one_is_refused,
    "wrapped_before",
    "assertion_count"
);
bad_response!(
    an_evil_assertion_after_the_signed_one_is_refused,
    "wrapped_after",
    "assertion_count"
);
bad_response!(
    a_signed_assertion_hidden_in_extensions_is_refused,
    "wrapped_in_extensions",
    "assertion_count"
);
bad_response!(
    a_signed_assertion_hidden_in_advice_is_refused,
    "wrapped_in_advice",
    "assertion_count"
);
bad_response!(
    a_comment_inside_the_name_id_is_refused,
    "comment_in_name_id",
    "comment"
);
bad_response!(
    a_comment_inside_an_attribute_is_refused,
    "comment_in_attribute",
    "comment"
);
bad_response!(
    two_signed_assertions_are_refused,
    "two_assertions",
    "assertion_count"
);
bad_response!(a_wrong_issuer_is_refused, "wrong_issuer", "issuer");
bad_response!(a_wrong_audience_is_refused, "wrong_audience", "audience");
bad_response!(a_wrong_recipient_is_refused, "wrong_recipient", "recipient");
bad_response!(an_expired_assertion_is_refused, "expired", "expired");
bad_response!(
    an_assertion_not_yet_valid_is_refused,
    "not_yet_valid",
    "not_yet_valid"
);
bad_response!(
    an_answer_to_another_request_is_refused,
    "other_request",
    "in_response_to"
);
bad_response!(
    another_tenants_assertion_is_refused,
    "other_tenant",
    "other_tenant"
);
bad_response!(a_response_with_a_doctype_is_refused, "doctype", "doctype");
bad_response!(an_oversized_response_is_refused, "oversized", "oversized");
bad_response!(an_rsa_sha1_signature_is_refused, "sha1", "signature");

#[tokio::test]
async fn a_response_signed_as_a_whole_is_accepted() {
    let w = connected(json!({})).await;
    w.idp.next_saml_response("signed_response_only").await;
    let browser = w.app.browser();
    let (done, _) = sign_in(&w, &browser).await;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        done.text().await
    );
}

/// The SessionIndex of the assertion in Entra's posted form.
fn session_index_of(post: &common::idp::SamlPost) -> String {
    use base64::Engine;
    let encoded = &post
        .fields
        .iter()
        .find(|(k, _)| k == "SAMLResponse")
        .unwrap()
        .1;
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap();
    let start = xml.find("SessionIndex=\"").unwrap() + "SessionIndex=\"".len();
    xml[start..start + xml[start..].find('"').unwrap()].to_string()
}

#[tokio::test]
async fn the_directorys_single_logout_ends_the_session_it_started() {
    use base64::Engine;
    use std::io::Write;
    let w = connected(json!({})).await;
    let browser = w.app.browser();
    let (done, post) = sign_in(&w, &browser).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let other = w.app.browser();
    assert_eq!(sign_in(&w, &other).await.0.status(), StatusCode::SEE_OTHER);

    let request = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_logout" Version="2.0" IssueInstant="2026-12-06T00:00:00Z"><saml:Issuer>https://sts.windows.net/{CONTOSO}/</saml:Issuer><saml:NameID>{SIMON}</saml:NameID><samlp:SessionIndex>{}</samlp:SessionIndex></samlp:LogoutRequest>"#,
        session_index_of(&post)
    );
    let mut deflater =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflater.write_all(request.as_bytes()).unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(deflater.finish().unwrap());
    let logout_url = w.connection().await["saml"]["logout_url"]
        .as_str()
        .unwrap()
        .to_string();
    // The directory's request comes from its own site: no cookie of the browser comes along.
    let logout = reqwest::Client::new()
        .get(&logout_url)
        .query(&[("SAMLRequest", encoded.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::OK);
    assert_eq!(
        w.app.get(&browser, "/session").await.status(),
        StatusCode::UNAUTHORIZED,
        "that session ended"
    );
    assert_eq!(
        w.app.get(&other, "/session").await.status(),
        StatusCode::OK,
        "another sign-in's session stays"
    );

    let garbled = reqwest::get(format!("{logout_url}?SAMLRequest=not-base64!"))
        .await
        .unwrap();
    assert_eq!(garbled.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_metadata_url_is_read_again_so_entras_next_certificate_is_trusted_before_the_switch() {
    let w = connected(json!({ "metadata_url": true })).await;
    let services = w.app.state.connection_services();
    assert_eq!(
        gatehouse::connections::saml::refresh_metadata(&services)
            .await
            .unwrap(),
        0,
        "nothing new yet"
    );

    // Entra publishes its next certificate; the daily read picks it up, then Entra switches.
    w.idp.saml_certificate("add").await;
    assert_eq!(
        gatehouse::connections::saml::refresh_metadata(&services)
            .await
            .unwrap(),
        1
    );
    let active = w.connection().await["active"]["saml"]["certificates"].clone();
    assert_eq!(active.as_array().unwrap().len(), 2, "{active}");
    assert_eq!(newest_audit(&w).await["action"], "connection.saml.metadata");
    w.idp.saml_certificate("switch").await;
    let browser = w.app.browser();
    let (done, _) = sign_in(&w, &browser).await;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "signed with the next certificate, already trusted"
    );

    // Without the read, a certificate Entra switched to is not trusted.
    w.idp.saml_certificate("add").await;
    w.idp.saml_certificate("switch").await;
    let before = member_count(&w).await;
    let browser = w.app.browser();
    let (refused, _) = sign_in(&w, &browser).await;
    assert_refused(
        &w,
        &browser,
        refused,
        StatusCode::BAD_REQUEST,
        "signature",
        before,
    )
    .await;
}

#[tokio::test]
async fn the_email_first_page_starts_a_saml_sign_in_with_the_email_as_login_hint() {
    let w = connected(json!({})).await;
    let browser = w.app.browser();
    let method = body(
        w.app
            .post(
                &browser,
                "/sign-in/method",
                json!({ "email": SIMON, "return_to": "/account?from=email" }),
            )
            .await,
    )
    .await;
    assert_eq!(method["method"], "sso", "{method}");
    let sso_url = format!("{}{}", w.app.url, method["sso_url"].as_str().unwrap());
    let post = saml_form_from_provider(&browser, &sso_url, SIMON, CONTOSO_PASSWORD).await;
    let request = w.idp.saml_requests().await.pop().unwrap();
    assert_eq!(
        request["loginHint"], SIMON,
        "the email goes as login_hint, not as a Subject"
    );
    assert_eq!(request["hasSubject"], false);
    let done = post_to_reply_url(&browser, &post).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()["location"], "/account?from=email");
}
