//! End-user sign-in through the real flow against the Entra-shaped provider, and the security
//! battery of `shared/brief/security.md`: every bad token, callback or redirect ends on a page
//! that names the problem, and leaves no session, member or mapping behind.

mod common;

use common::idp::{
    callback_from_provider, sign_in_at_provider, Idp, ADELE, ADELE_OID, CONTOSO, CONTOSO_PASSWORD,
    SIMON, SIMON_OID,
};
use common::wizard::{wizard, wizard_on, Wizard, FABRIKAM_DIRECTORY, SECRET, SECRET_ID};
use common::{body, field_error};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

/// Contoso with SSO active under `policy`, and B.Simon mapped (selected for SSO).
async fn contoso(policy: Value) -> (Wizard, String) {
    let w = wizard().await;
    w.connect(policy).await;
    let simon = w
        .add_mapped_member(SIMON, "B. Simon", SIMON_OID, true)
        .await;
    (w, simon)
}

fn start_url(w: &Wizard, rest: &str) -> String {
    format!("{}/o/contoso/sso{rest}", w.app.url)
}

async fn sign_in(w: &Wizard, browser: &Client, user: &str) -> Response {
    sign_in_at_provider(browser, &start_url(w, ""), user, CONTOSO_PASSWORD).await
}

fn location(response: &Response) -> String {
    response.headers()["location"]
        .to_str()
        .expect("location")
        .to_string()
}

async fn session_of(w: &Wizard, browser: &Client) -> Response {
    w.app.get(browser, "/session").await
}

async fn member_count(w: &Wizard) -> i64 {
    body(
        w.app
            .get(&w.admin, &format!("/organizations/{}/members", w.org))
            .await,
    )
    .await["total"]
        .as_i64()
        .expect("total")
}

async fn audit(w: &Wizard) -> Vec<Value> {
    body(
        w.app
            .get(&w.admin, &format!("/organizations/{}/audit", w.org))
            .await,
    )
    .await["items"]
        .as_array()
        .expect("items")
        .clone()
}

/// The refusal page: the status, the plain words, and a reference that the newest audit
/// entry carries; then no session for the browser and no new member.
async fn assert_refused(
    w: &Wizard,
    browser: &Client,
    response: Response,
    status: StatusCode,
    words: &str,
    members_before: i64,
) {
    assert_eq!(response.status(), status);
    let page = response.text().await.expect("page");
    assert!(page.contains(words), "expected “{words}” in {page}");
    let reference = page
        .split("<code id=\"reference\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("a reference on the page")
        .to_string();
    let newest = audit(w).await[0].clone();
    assert_eq!(newest["action"], "sso.sign_in");
    assert_eq!(newest["outcome"], "failure");
    assert!(
        newest["detail"].as_str().unwrap().contains(&reference),
        "{newest}"
    );
    assert_eq!(
        session_of(w, browser).await.status(),
        StatusCode::UNAUTHORIZED,
        "no session"
    );
    assert_eq!(member_count(w).await, members_before, "no member created");
}

/// The session id the callback hands to the browser.
fn session_cookie(callback: &Response) -> String {
    common::cookie_set(callback, "gatehouse_session=")
        .and_then(|c| c.strip_prefix("gatehouse_session=").map(str::to_string))
        .expect("a session cookie")
}

/// Whether a browser holding only this session id is signed in.
async fn signed_in_with(w: &Wizard, session_id: &str) -> bool {
    let status = Client::new()
        .get(w.app.api("/session"))
        .header("cookie", format!("gatehouse_session={session_id}"))
        .send()
        .await
        .expect("request")
        .status();
    status == StatusCode::OK
}

#[tokio::test]
async fn a_start_from_another_site_asks_before_replacing_a_session() {
    let (w, _) = contoso(json!({})).await;
    let start = |browser: &Client, site: &'static str| {
        browser
            .get(start_url(&w, "?return_to=%2Faccount"))
            .header("Sec-Fetch-Site", site)
            .send()
    };
    // Nobody signed in: the My Apps tile (another site) is one click.
    let tile = start(&w.app.browser(), "cross-site").await.unwrap();
    assert_eq!(tile.status(), StatusCode::SEE_OTHER);

    let browser = w.app.browser();
    sign_in(&w, &browser, SIMON).await;
    let asked = start(&browser, "cross-site").await.unwrap();
    assert_eq!(asked.status(), StatusCode::OK);
    let page = asked.text().await.unwrap();
    assert!(
        page.contains("You are signed in to Gatehouse as B.Simon@contoso.com"),
        "{page}"
    );
    assert!(
        page.contains(r#"href="/o/contoso/sso?return_to=%2Faccount""#),
        "{page}"
    );
    assert_eq!(
        session_of(&w, &browser).await.status(),
        StatusCode::OK,
        "still signed in"
    );
    // "Continue" on Gatehouse's own page goes on to the directory.
    let continued = start(&browser, "same-origin").await.unwrap();
    assert_eq!(continued.status(), StatusCode::SEE_OTHER);
    assert!(location(&continued).starts_with(&w.idp.url));
}

#[tokio::test]
async fn signing_out_at_the_directory_ends_the_gatehouse_session_through_the_front_channel() {
    let (w, _) = contoso(json!({})).await;
    let browser = w.app.browser();
    sign_in(&w, &browser, SIMON).await;
    let other_browser = w.app.browser();
    sign_in(&w, &other_browser, SIMON).await;
    assert_eq!(session_of(&w, &browser).await.status(), StatusCode::OK);

    // B.Simon signs out at her directory: its page loads Gatehouse's logout URL in a hidden
    // iframe, from its own site, with only the directory's session id.
    let sign_out = browser
        .get(format!("{}/{CONTOSO}/oauth2/v2.0/logout", w.idp.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let src = sign_out
        .split(r#"class="front-channel-logout" hidden src=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("a front-channel logout iframe: {sign_out}"))
        .replace("&amp;", "&");
    assert!(
        src.starts_with(&format!("{}/auth/logout?sid=", w.app.url)),
        "{src}"
    );
    let framed = Client::new().get(&src).send().await.unwrap();
    assert_eq!(framed.status(), StatusCode::OK);
    assert_eq!(
        session_of(&w, &browser).await.status(),
        StatusCode::UNAUTHORIZED,
        "the session that directory session started has ended"
    );
    assert_eq!(
        session_of(&w, &other_browser).await.status(),
        StatusCode::OK,
        "another directory session's is untouched"
    );
}

#[tokio::test]
async fn sessions_are_stored_under_the_hash_of_their_id() {
    let (w, _) = contoso(json!({})).await;
    let id = session_cookie(&sign_in(&w, &w.app.browser(), SIMON).await);
    sqlx::any::install_default_drivers();
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&w.app.database_url)
        .await
        .expect("the test database");
    let count = |sql: &'static str, value: String| sqlx::query_scalar::<_, i64>(sql).bind(value);
    let plain = count("SELECT COUNT(*) FROM web_session WHERE id = $1", id.clone())
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(plain, 0, "the id itself is nowhere in the database");
    let digest = {
        use sha2::Digest;
        sha2::Sha256::digest(id.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let hashed = count("SELECT COUNT(*) FROM web_session WHERE id = $1", digest)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(hashed, 1);
    assert!(signed_in_with(&w, &id).await);
}

#[tokio::test]
async fn every_sign_in_starts_a_new_session_and_ends_the_one_before() {
    let (w, _) = contoso(json!({})).await;
    let browser = w.app.browser();
    let first = session_cookie(&sign_in(&w, &browser, SIMON).await);
    assert!(signed_in_with(&w, &first).await);
    let second = session_cookie(&sign_in(&w, &browser, SIMON).await);
    assert_ne!(first, second, "a fresh id");
    assert!(signed_in_with(&w, &second).await);
    assert!(!signed_in_with(&w, &first).await, "the old session is gone");
    let page = body(session_of(&w, &browser).await).await;
    assert_eq!(page["email"], SIMON);
}

#[tokio::test]
async fn b_simon_signs_in_with_the_organizations_start_url() {
    let (w, simon) = contoso(json!({})).await;
    let browser = w.app.browser();
    let callback = sign_in(&w, &browser, SIMON).await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&callback), "/account");
    let me = body(session_of(&w, &browser).await).await;
    assert_eq!(me["kind"], "member");
    assert_eq!(me["id"], simon.as_str());
    assert_eq!(me["organization"]["slug"], "contoso");

    let entry = audit(&w).await[0].clone();
    assert_eq!(entry["action"], "sso.sign_in");
    assert_eq!(entry["outcome"], "success");
    assert_eq!(entry["target"], SIMON_OID);
    let connection = w.connection().await;
    assert!(connection["last_sign_in_at"].is_string(), "{connection}");
    let members = body(
        w.app
            .get(
                &w.admin,
                &format!("/organizations/{}/members?q=simon", w.org),
            )
            .await,
    )
    .await;
    assert!(members["items"][0]["last_sso_sign_in_at"].is_string());

    // Members reach their own session, never the console's API.
    assert_eq!(
        w.app.get(&browser, "/organizations").await.status(),
        StatusCode::FORBIDDEN
    );
    let out = body(w.app.delete(&browser, "/session").await).await;
    assert_eq!(
        out["directory_sign_out_url"],
        format!("{}/{CONTOSO}/oauth2/v2.0/logout", w.idp.url)
    );
    assert_eq!(
        session_of(&w, &browser).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_email_first_page_sends_a_proven_domain_to_its_directory() {
    let (w, _) = contoso(json!({})).await;
    w.approve_domain("contoso.com").await;
    let browser = w.app.browser();
    let method = body(
        w.app
            .post(
                &browser,
                "/sign-in/method",
                json!({"email": "B.Simon@Contoso.com", "return_to": "/account?from=email"}),
            )
            .await,
    )
    .await;
    assert_eq!(method["method"], "sso", "{method}");
    assert_eq!(method["organization_name"], "Contoso");
    let sso_url = method["sso_url"].as_str().unwrap();
    assert!(sso_url.starts_with("/o/contoso/sso?login_hint=B.Simon%40Contoso.com"));
    let callback = sign_in_at_provider(
        &browser,
        &format!("{}{sso_url}", w.app.url),
        SIMON,
        CONTOSO_PASSWORD,
    )
    .await;
    assert_eq!(location(&callback), "/account?from=email");

    for other in ["ada@fabrikam.com", "someone@example.org"] {
        let method = body(
            w.app
                .post(&browser, "/sign-in/method", json!({ "email": other }))
                .await,
        )
        .await;
        assert_eq!(method["method"], "password", "{other}");
    }
    let bad = w
        .app
        .post(
            &browser,
            "/sign-in/method",
            json!({"email": "not an email"}),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_unproven_domain_and_a_disabled_connection_ask_for_the_password() {
    let w = wizard().await;
    // fabrikam.com is listed but never proven; contoso.com is, by the operator.
    w.connect(json!({"email_domains": ["contoso.com", "fabrikam.com"]}))
        .await;
    w.approve_domain("contoso.com").await;
    let browser = w.app.browser();
    let ask = |email: &'static str| {
        let (app, browser) = (&w.app, &browser);
        async move {
            body(
                app.post(browser, "/sign-in/method", json!({ "email": email }))
                    .await,
            )
            .await["method"]
                .clone()
        }
    };
    assert_eq!(ask("x@contoso.com").await, "sso");
    assert_eq!(ask("x@fabrikam.com").await, "password");
    w.app.post(&w.admin, &w.path("/disable"), json!({})).await;
    assert_eq!(ask("x@contoso.com").await, "password");
    let start = browser.get(start_url(&w, "")).send().await.unwrap();
    assert_eq!(start.status(), StatusCode::NOT_FOUND);
    assert!(start
        .text()
        .await
        .unwrap()
        .contains("not turned on single sign-on"));
}

#[tokio::test]
async fn return_to_is_honoured_only_for_paths_on_gatehouse() {
    let (w, _) = contoso(json!({})).await;
    let browser = w.app.browser();
    let callback = sign_in_at_provider(
        &browser,
        &start_url(&w, "?return_to=%2Faccount%3Ftab%3Dsecurity"),
        SIMON,
        CONTOSO_PASSWORD,
    )
    .await;
    assert_eq!(location(&callback), "/account?tab=security");
    for evil in [
        "%2F%2Fevil.example",
        "https%3A%2F%2Fevil.example",
        "%2F%5Cevil.example",
    ] {
        let browser = w.app.browser();
        let callback = sign_in_at_provider(
            &browser,
            &start_url(&w, &format!("?return_to={evil}")),
            SIMON,
            CONTOSO_PASSWORD,
        )
        .await;
        assert_eq!(location(&callback), "/account", "{evil}");
    }
}

/// One test per bad ID token the provider can send: each is refused with its own words.
macro_rules! bad_token {
    ($name:ident, $mode:literal, $words:literal) => {
        #[tokio::test]
        async fn $name() {
            let (w, _) = contoso(json!({})).await;
            let before = member_count(&w).await;
            w.idp.next_token($mode).await;
            let browser = w.app.browser();
            let callback = sign_in(&w, &browser, SIMON).await;
            assert_refused(
                &w,
                &browser,
                callback,
                StatusCode::BAD_REQUEST,
                $words,
                before,
            )
            .await;
        }
    };
}

bad_token!(
    a_bad_signature_is_refused,
    "bad_signature",
    "signature is not valid"
);
bad_token!(an_unsigned_token_is_refused, "alg_none", "RS256");
bad_token!(an_hs256_token_is_refused, "hs256", "RS256");
bad_token!(
    a_token_signed_with_a_key_not_published_is_refused,
    "unknown_key",
    "key the directory does not publish"
);
bad_token!(
    a_wrong_issuer_is_refused,
    "wrong_issuer",
    "issued by another directory"
);
bad_token!(
    a_token_from_another_directory_is_refused,
    "other_tenant",
    "issued by another directory"
);
bad_token!(
    a_wrong_audience_is_refused,
    "wrong_audience",
    "another application"
);
bad_token!(an_expired_token_is_refused, "expired", "has expired");
bad_token!(
    a_token_not_yet_valid_is_refused,
    "not_yet_valid",
    "not valid yet"
);
bad_token!(a_wrong_nonce_is_refused, "wrong_nonce", "wrong nonce");

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let (w, _) = contoso(json!({})).await;
    let browser = w.app.browser();
    let callback =
        callback_from_provider(&browser, &start_url(&w, ""), SIMON, CONTOSO_PASSWORD).await;
    let first = browser.get(callback.clone()).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    w.app.delete(&browser, "/session").await;
    let replay = browser.get(callback).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(replay.text().await.unwrap().contains("already used"));
    assert_eq!(
        session_of(&w, &browser).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_replayed_callback_that_brings_the_attempts_cookie_is_refused() {
    use reqwest::cookie::CookieStore;
    let (w, _) = contoso(json!({})).await;
    // A browser whose cookies can be copied, as an attacker who captured them would.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let callback =
        callback_from_provider(&browser, &start_url(&w, ""), SIMON, CONTOSO_PASSWORD).await;
    let cookies = jar.cookies(&callback).expect("the attempt's cookie");
    assert!(cookies.to_str().unwrap().contains("gatehouse_sign_in_"));
    let first = browser.get(callback.clone()).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let entries_before = audit(&w).await.len();
    let members_before = member_count(&w).await;

    let attacker = w.app.browser();
    let replay = attacker
        .get(callback)
        .header("cookie", cookies)
        .send()
        .await
        .unwrap();
    // The page gives the reference of the audit entry that records the replay, and nothing
    // starts.
    assert_refused(
        &w,
        &attacker,
        replay,
        StatusCode::BAD_REQUEST,
        "already used",
        members_before,
    )
    .await;
    let entries = audit(&w).await;
    assert_eq!(entries.len(), entries_before + 1);
    assert!(entries[0]["detail"].as_str().unwrap().contains("replay"));
}

#[tokio::test]
async fn a_callback_without_the_browsers_session_is_refused() {
    let (w, _) = contoso(json!({})).await;
    let browser = w.app.browser();
    let callback =
        callback_from_provider(&browser, &start_url(&w, ""), SIMON, CONTOSO_PASSWORD).await;
    let cookieless = w.app.browser();
    let response = cookieless.get(callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("another browser"));
    assert_eq!(
        session_of(&w, &cookieless).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        session_of(&w, &browser).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_code_brought_to_another_sign_in_fails_the_providers_pkce_check() {
    let (w, _) = contoso(json!({})).await;
    let before = member_count(&w).await;
    let browser = w.app.browser();
    // Two sign-ins in one browser; the code of the first arrives with the state of the second,
    // so Gatehouse sends the second's PKCE verifier with the first's code.
    let first = callback_from_provider(&browser, &start_url(&w, ""), SIMON, CONTOSO_PASSWORD).await;
    let second =
        callback_from_provider(&browser, &start_url(&w, ""), SIMON, CONTOSO_PASSWORD).await;
    let code = first
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .unwrap();
    let mut swapped = second.clone();
    let pairs: Vec<(String, String)> = second
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "code" {
                code.clone()
            } else {
                v.to_string()
            };
            (k.to_string(), v)
        })
        .collect();
    swapped.query_pairs_mut().clear().extend_pairs(pairs);
    let response = browser.get(swapped).send().await.unwrap();
    assert_refused(
        &w,
        &browser,
        response,
        StatusCode::BAD_REQUEST,
        "refused to complete the sign-in",
        before,
    )
    .await;
}

#[tokio::test]
async fn a_name_from_the_directory_is_checked_like_any_name() {
    let (w, _) = contoso(json!({"create_members": true})).await;
    let oid = "5d6e7f80-91a2-4b3c-8d4e-5f6a7b8c9d0e";
    w.idp
        .add_users(
            CONTOSO,
            json!([{ "oid": oid, "name": "Eve\u{7}\u{1b}[31mRed", "upn": "eve@contoso.com",
                     "password": CONTOSO_PASSWORD }]),
        )
        .await;
    let callback = sign_in(&w, &w.app.browser(), "eve@contoso.com").await;
    assert_eq!(location(&callback), "/account");
    let eve = body(
        w.app
            .get(&w.admin, &format!("/organizations/{}/members?q=eve", w.org))
            .await,
    )
    .await["items"][0]
        .clone();
    assert_eq!(eve["directory_object_id"], oid);
    assert_eq!(
        eve["display_name"], "eve@contoso.com",
        "a name with control characters is not taken"
    );
}

async fn member_named(w: &Wizard, q: &str) -> Value {
    body(
        w.app
            .get(&w.admin, &format!("/organizations/{}/members?q={q}", w.org))
            .await,
    )
    .await["items"][0]
        .clone()
}

#[tokio::test]
async fn a_member_takes_an_email_only_when_the_directory_vouches_for_it() {
    let (w, _) = contoso(json!({"create_members": true})).await;
    // Verified by the domain's owner (xms_edov): taken.
    sign_in(&w, &w.app.browser(), ADELE).await;
    assert_eq!(member_named(&w, "adele").await["email"], ADELE);

    // An email claim the directory does not vouch for, in a domain not proven here: none.
    let mallory = "6e7f8091-a2b3-4c4d-9e5f-6a7b8c9d0e1f";
    let grace = "7f8091a2-b3c4-4d5e-8f6a-7b8c9d0e1f2a";
    w.idp
        .add_users(
            CONTOSO,
            json!([
                { "oid": mallory, "name": "Mallory", "upn": "mallory@contoso.com",
                  "email": "ceo@fabrikam.com", "password": CONTOSO_PASSWORD },
                { "oid": grace, "name": "Grace", "upn": "grace@contoso.com",
                  "email": "grace@contoso.com", "password": CONTOSO_PASSWORD },
            ]),
        )
        .await;
    let callback = sign_in(&w, &w.app.browser(), "mallory@contoso.com").await;
    assert_eq!(location(&callback), "/account");
    let member = member_named(&w, "mallory").await;
    assert_eq!(member["directory_object_id"], mallory);
    assert!(member["email"].is_null(), "{member}");
    assert_eq!(
        body(
            w.app
                .get(
                    &w.admin,
                    &format!("/organizations/{}/members?q=fabrikam", w.org)
                )
                .await
        )
        .await["items"],
        json!([])
    );

    // Once contoso.com is proven for the organization, its addresses are taken.
    w.approve_domain("contoso.com").await;
    sign_in(&w, &w.app.browser(), "grace@contoso.com").await;
    assert_eq!(
        member_named(&w, "grace").await["email"],
        "grace@contoso.com"
    );

    // An admin sets the missing email; one already in use is refused.
    let path = format!(
        "/organizations/{}/members/{}",
        w.org,
        member["id"].as_str().unwrap()
    );
    let taken = w.app.patch(&w.admin, &path, json!({"email": ADELE})).await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    assert!(field_error(&body(taken).await, "email").contains("already exists"));
    let set = w
        .app
        .patch(&w.admin, &path, json!({"email": "Mallory@contoso.com"}))
        .await;
    assert_eq!(set.status(), StatusCode::OK);
    assert_eq!(body(set).await["email"], "Mallory@contoso.com");
    let audit = body(
        w.app
            .get(&w.admin, &format!("/organizations/{}/audit", w.org))
            .await,
    )
    .await;
    assert!(audit["items"].as_array().unwrap().iter().any(|e| {
        e["action"] == "member.update"
            && e["detail"]
                .as_str()
                .is_some_and(|d| d.contains("email: none → Mallory@contoso.com"))
    }));
}

#[tokio::test]
async fn an_email_claim_never_signs_in_as_another_member() {
    // Adele's email claim equals an existing member's email, but that member is not mapped to
    // her directory user: she must not become that member, even when members are created.
    let (w, _) = contoso(json!({"create_members": true})).await;
    let created = w
        .app
        .post(
            &w.admin,
            &format!("/organizations/{}/members", w.org),
            json!({"email": ADELE, "display_name": "Adele (unmapped)", "role": "member"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let before = member_count(&w).await;
    let browser = w.app.browser();
    let callback = sign_in(&w, &browser, ADELE).await;
    assert_refused(
        &w,
        &browser,
        callback,
        StatusCode::FORBIDDEN,
        "not linked to your directory account",
        before,
    )
    .await;
    let adele = body(
        w.app
            .get(
                &w.admin,
                &format!("/organizations/{}/members?q=adele", w.org),
            )
            .await,
    )
    .await;
    assert!(
        adele["items"][0]["directory_object_id"].is_null(),
        "no mapping made"
    );
}

#[tokio::test]
async fn a_first_sign_in_creates_a_member_only_when_allowed() {
    let (w, _) = contoso(json!({})).await;
    let before = member_count(&w).await;
    let browser = w.app.browser();
    let refused = sign_in(&w, &browser, ADELE).await;
    assert_refused(
        &w,
        &browser,
        refused,
        StatusCode::FORBIDDEN,
        "not linked to a member",
        before,
    )
    .await;

    assert_eq!(
        w.set_policy(json!({"create_members": true})).await.status(),
        StatusCode::OK
    );
    assert_eq!(w.activate().await.status(), StatusCode::OK);
    let callback = sign_in(&w, &browser, ADELE).await;
    assert_eq!(location(&callback), "/account");
    assert_eq!(member_count(&w).await, before + 1);
    let adele = body(
        w.app
            .get(
                &w.admin,
                &format!("/organizations/{}/members?q=adele", w.org),
            )
            .await,
    )
    .await["items"][0]
        .clone();
    assert_eq!(adele["directory_object_id"], ADELE_OID);
    assert_eq!(adele["directory_tenant_id"], CONTOSO);
    assert_eq!(adele["display_name"], "Adele Vance");
    assert_eq!(adele["role"], "member");
}

#[tokio::test]
async fn selected_members_mode_refuses_members_not_selected() {
    let (w, simon) = contoso(json!({"mode": "selected_members"})).await;
    w.app
        .patch(
            &w.admin,
            &format!("/organizations/{}/members/{simon}", w.org),
            json!({"sso_enabled": false}),
        )
        .await;
    let before = member_count(&w).await;
    let browser = w.app.browser();
    let refused = sign_in(&w, &browser, SIMON).await;
    assert_refused(
        &w,
        &browser,
        refused,
        StatusCode::FORBIDDEN,
        "selected members",
        before,
    )
    .await;
    w.app
        .patch(
            &w.admin,
            &format!("/organizations/{}/members/{simon}", w.org),
            json!({"sso_enabled": true}),
        )
        .await;
    assert_eq!(location(&sign_in(&w, &browser, SIMON).await), "/account");
}

#[tokio::test]
async fn a_member_disabled_between_start_and_callback_is_refused() {
    let (w, simon) = contoso(json!({})).await;
    let before = member_count(&w).await;
    let browser = w.app.browser();
    let callback =
        callback_from_provider(&browser, &start_url(&w, ""), SIMON, CONTOSO_PASSWORD).await;
    let disabled = w
        .app
        .patch(
            &w.admin,
            &format!("/organizations/{}/members/{simon}", w.org),
            json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(disabled.status(), StatusCode::OK);
    let response = browser.get(callback).send().await.unwrap();
    assert_refused(
        &w,
        &browser,
        response,
        StatusCode::FORBIDDEN,
        "is disabled",
        before,
    )
    .await;
}

#[tokio::test]
async fn a_user_not_assigned_to_the_app_gets_aadsts50105_guidance() {
    let (w, _) = contoso(json!({})).await;
    // The admin turns on "assignment required" in Entra and assigns only B.Simon.
    reqwest::Client::new()
        .post(format!("{}/_test/apps", w.idp.url))
        .json(&json!({
            "tenantId": CONTOSO, "clientId": w.client_id, "displayName": "Gatehouse",
            "secrets": [{ "id": SECRET_ID, "value": SECRET, "expires": "2099-01-01T00:00:00Z" }],
            "redirectUris": [format!("{}/auth/callback", w.app.url)],
            "assignmentRequired": true, "assignedUsers": [SIMON_OID],
        }))
        .send()
        .await
        .unwrap();
    let before = member_count(&w).await;
    let browser = w.app.browser();
    let callback = sign_in(&w, &browser, "nobody@contoso.com").await;
    assert_refused(
        &w,
        &browser,
        callback,
        StatusCode::FORBIDDEN,
        "not assigned to the app",
        before,
    )
    .await;
    let connection = w.connection().await;
    assert!(
        connection["last_error"]
            .as_str()
            .unwrap()
            .contains("AADSTS50105"),
        "{connection}"
    );
}

#[tokio::test]
async fn an_app_without_consent_gets_aadsts65001_guidance() {
    let (w, _) = contoso(json!({})).await;
    reqwest::Client::new()
        .post(format!("{}/_test/apps", w.idp.url))
        .json(&json!({
            "tenantId": CONTOSO, "clientId": w.client_id, "displayName": "Gatehouse",
            "secrets": [{ "id": SECRET_ID, "value": SECRET, "expires": "2099-01-01T00:00:00Z" }],
            "redirectUris": [format!("{}/auth/callback", w.app.url)], "consentRequired": true,
        }))
        .send()
        .await
        .unwrap();
    let before = member_count(&w).await;
    let browser = w.app.browser();
    let callback = sign_in(&w, &browser, SIMON).await;
    assert_refused(
        &w,
        &browser,
        callback,
        StatusCode::FORBIDDEN,
        "Grant admin consent",
        before,
    )
    .await;
}

#[tokio::test]
async fn access_denied_from_the_directory_ends_on_a_clear_page() {
    let (w, _) = contoso(json!({})).await;
    let before = member_count(&w).await;
    let browser = w.app.browser();
    let start = browser.get(start_url(&w, "")).send().await.unwrap();
    let authorize = reqwest::Url::parse(&location(&start)).unwrap();
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.to_string())
        .unwrap();
    // What the directory sends when the person cancels, with text that must stay text.
    let mut callback = reqwest::Url::parse(&format!("{}/auth/callback", w.app.url)).unwrap();
    callback
        .query_pairs_mut()
        .append_pair("state", &state)
        .append_pair("error", "access_denied")
        .append_pair(
            "error_description",
            "<script>alert(1)</script> The user cancelled.",
        );
    let response = browser.get(callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let page = response.text().await.unwrap();
    assert!(page.contains("cancelled or refused"));
    // "Try again" starts over at the organization's own address.
    assert!(
        page.contains(r#"<a href="/o/contoso/sso">Try again</a>"#),
        "{page}"
    );
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("<script>alert(1)"));
    assert_eq!(member_count(&w).await, before);
    assert_eq!(
        session_of(&w, &browser).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn key_rotation_in_a_run_of_sign_ins_fails_none_and_warm_sign_ins_fetch_nothing() {
    let (w, _) = contoso(json!({})).await;
    let browser = w.app.browser();
    assert_eq!(location(&sign_in(&w, &browser, SIMON).await), "/account");
    let warm = w.idp.stats().await;
    for _ in 0..3 {
        assert_eq!(location(&sign_in(&w, &browser, SIMON).await), "/account");
    }
    let after = w.idp.stats().await;
    assert_eq!(
        after["keyRequests"], warm["keyRequests"],
        "no key fetch once warm"
    );
    assert_eq!(
        after["discoveryRequests"], warm["discoveryRequests"],
        "no discovery once warm"
    );
    w.idp.rotate_keys().await;
    for _ in 0..3 {
        assert_eq!(location(&sign_in(&w, &browser, SIMON).await), "/account");
    }
    let rotated = w.idp.stats().await;
    assert_eq!(
        rotated["keyRequests"].as_i64().unwrap(),
        after["keyRequests"].as_i64().unwrap() + 1,
        "one key fetch for the new key"
    );
}

#[tokio::test]
async fn a_flood_of_unknown_keys_fetches_the_keys_at_most_once_per_interval() {
    let (w, _) = contoso(json!({})).await;
    let before = w.idp.stats().await["keyRequests"].as_i64().unwrap();
    let started = std::time::Instant::now();
    for _ in 0..4 {
        w.idp.next_token("unknown_key").await;
        let browser = w.app.browser();
        let callback = sign_in(&w, &browser, SIMON).await;
        assert_eq!(callback.status(), StatusCode::BAD_REQUEST);
    }
    let after = w.idp.stats().await["keyRequests"].as_i64().unwrap();
    let interval = gatehouse::oidc::directory_cache::DEFAULT_KEY_REFETCH_INTERVAL;
    let allowed = 1 + (started.elapsed().as_secs_f64() / interval.as_secs_f64()) as i64;
    assert!(
        after - before <= allowed,
        "{before} → {after} in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn unknown_keys_just_before_a_rotation_do_not_fail_the_first_sign_in_with_the_new_key() {
    let (w, _) = contoso(json!({})).await;
    for _ in 0..2 {
        w.idp.next_token("unknown_key").await;
        let callback = sign_in(&w, &w.app.browser(), SIMON).await;
        assert_eq!(callback.status(), StatusCode::BAD_REQUEST);
    }
    // The directory rotates its key right after the run of bogus ones.
    w.idp.rotate_keys().await;
    let callback = sign_in(&w, &w.app.browser(), SIMON).await;
    assert_eq!(location(&callback), "/account", "the new key is fetched");
}

#[tokio::test]
async fn a_directory_that_is_down_gives_a_clear_page_and_gatehouse_keeps_serving() {
    let (w, _) = contoso(json!({})).await;
    let before = member_count(&w).await;
    let browser = w.app.browser();
    let callback =
        callback_from_provider(&browser, &start_url(&w, ""), SIMON, CONTOSO_PASSWORD).await;
    let Wizard {
        app,
        idp,
        admin,
        org,
        ..
    } = w;
    drop(idp);
    let response = browser.get(callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let page = response.text().await.unwrap();
    assert!(page.contains("could not be reached"));
    assert!(
        page.contains(r#"<a href="/o/contoso/sso">Try again</a>"#),
        "{page}"
    );
    assert_eq!(app.get(&admin, "/session").await.status(), StatusCode::OK);
    assert_eq!(
        app.get(&browser, "/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let members = body(
        app.get(&admin, &format!("/organizations/{org}/members"))
            .await,
    )
    .await;
    assert_eq!(members["total"], before, "no member created");
}

const MALLORY: &str = "mallory@fabrikam.com";
const MALLORY_OID: &str = "7e6d5c4b-3a29-4187-b6a5-948372615f0e";

#[tokio::test]
async fn a_directory_that_hangs_or_fails_ends_on_a_clear_page_while_other_organizations_sign_in() {
    // Gatehouse gives a directory 2 s per call here (`--directory-timeout-seconds`; 5 s by
    // default).
    let idp = Idp::start();
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let url = common::fresh_database_url(&dir).await;
    let flags = [
        "--allowed-authorities",
        &idp.url,
        "--directory-timeout-seconds",
        "2",
    ];
    let app = common::spawn_app_with(dir, url, &flags).await;
    let contoso = wizard_on(idp, app).await;
    contoso.connect(json!({})).await;
    contoso
        .add_mapped_member(SIMON, "B. Simon", SIMON_OID, true)
        .await;
    let fabrikam = contoso.beside(&FABRIKAM_DIRECTORY).await;
    fabrikam.connect(json!({})).await;
    fabrikam
        .add_mapped_member(MALLORY, "Mallory", MALLORY_OID, true)
        .await;
    let fabrikam_start = format!("{}/o/fabrikam/sso", contoso.app.url);

    // Ten of Contoso's people come back from their directory just as it starts to hang.
    let mut callbacks = Vec::new();
    for _ in 0..10 {
        let browser = contoso.app.browser();
        let callback =
            callback_from_provider(&browser, &start_url(&contoso, ""), SIMON, CONTOSO_PASSWORD)
                .await;
        callbacks.push((browser, callback));
    }
    contoso.idp.outage(CONTOSO, Some("hang")).await;
    let waiting: Vec<_> = callbacks
        .into_iter()
        .map(|(browser, callback)| {
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let response = browser.get(callback).send().await.unwrap();
                let status = response.status();
                (status, response.text().await.unwrap(), started.elapsed())
            })
        })
        .collect();

    // Meanwhile Fabrikam's people sign in, and the console answers.
    let mallory = contoso.app.browser();
    let signed_in =
        sign_in_at_provider(&mallory, &fabrikam_start, MALLORY, "Fabrikam-Demo-2026!").await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        contoso.app.get(&mallory, "/session").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        contoso.app.get(&contoso.admin, "/session").await.status(),
        StatusCode::OK
    );
    assert!(
        waiting.iter().all(|w| !w.is_finished()),
        "Fabrikam's sign-in did not wait for Contoso's directory"
    );

    // Contoso's end on a clear page once the timeout passes: the setting's 2 s, not 5.
    for answer in waiting {
        let (status, page, took) = answer.await.unwrap();
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert!(page.contains("Your directory did not answer"), "{page}");
        assert!(page.contains("could not be reached"), "{page}");
        assert!(
            page.contains(r#"<a href="/o/contoso/sso">Try again</a>"#),
            "{page}"
        );
        assert!(took >= std::time::Duration::from_secs(2), "{took:?}");
        assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    }

    // A directory that fails with an error page: the same kind of page, saying so.
    contoso.idp.outage(CONTOSO, None).await;
    let browser = contoso.app.browser();
    let callback =
        callback_from_provider(&browser, &start_url(&contoso, ""), SIMON, CONTOSO_PASSWORD).await;
    contoso.idp.outage(CONTOSO, Some("error")).await;
    let failed = browser.get(callback).send().await.unwrap();
    assert_eq!(failed.status(), StatusCode::BAD_GATEWAY);
    let page = failed.text().await.unwrap();
    assert!(page.contains("answered with an error page"), "{page}");

    // Back by itself as soon as the directory is.
    contoso.idp.outage(CONTOSO, None).await;
    let back = sign_in(&contoso, &contoso.app.browser(), SIMON).await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);

    // Each ended sign-in is counted by its reason.
    let metrics = reqwest::get(format!("{}/metrics", contoso.app.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for reason in ["provider_unreachable", "provider_error"] {
        assert!(
            metrics.contains(&format!(r#"outcome="failed",reason="{reason}""#)),
            "{reason}"
        );
    }
}

#[tokio::test]
async fn sign_in_starts_are_rate_limited_per_address() {
    let (w, _) = contoso(json!({})).await;
    let browser = w.app.browser();
    let mut limited = false;
    for _ in 0..70 {
        let response = browser.get(start_url(&w, "")).send().await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    assert!(limited, "the 61st start in a minute is refused");
}

#[tokio::test]
async fn a_member_signed_in_with_the_directory_claims_a_setup_link_and_becomes_admin() {
    let (w, simon) = contoso(json!({})).await;
    let operator = w.app.operator_again().await;
    let link = body(
        w.app
            .post(
                &operator,
                &format!("/organizations/{}/setup-links", w.org),
                json!({}),
            )
            .await,
    )
    .await;
    let token = link["setup_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();

    // Typing B.Simon's email into the new-account form is refused: she signs in first.
    let taken = w
        .app
        .post(
            &w.app.browser(),
            &format!("/setup-links/{token}/accept"),
            json!({"email": SIMON, "name": "Not Simon", "password": common::PASSWORD}),
        )
        .await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);

    let browser = w.app.browser();
    sign_in(&w, &browser, SIMON).await;
    let me = body(session_of(&w, &browser).await).await;
    assert_eq!(me["kind"], "member");
    let claimed = w
        .app
        .post(&browser, &format!("/setup-links/{token}/claim"), json!({}))
        .await;
    assert_eq!(claimed.status(), StatusCode::OK);
    assert_eq!(body(claimed).await["kind"], "admin");
    // She reaches the console now, still mapped to her directory user.
    let members = body(
        w.app
            .get(&browser, &format!("/organizations/{}/members", w.org))
            .await,
    )
    .await;
    let her = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == simon.as_str())
        .expect("B.Simon")
        .clone();
    assert_eq!(her["role"], "admin");
    assert_eq!(her["directory_object_id"], SIMON_OID);
    let entries = audit(&w).await;
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "setup_link.use" && e["target"] == SIMON),
        "{entries:?}"
    );
}
