//! Gatehouse as an OpenID Provider for the vendor's applications, driven the way an application
//! does it: the `openidconnect` crate as the client, configured only from Gatehouse's discovery
//! URL, its client ID and secret; the person signs in at the Entra-shaped provider. Then the
//! security battery: each bad request gets no code or no token.

mod common;

use common::body;
use common::idp::{CONTOSO_PASSWORD, SIMON, SIMON_OID};
use common::wizard::{wizard, Wizard};
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use reqwest::{Client, StatusCode, Url};
use serde_json::{json, Value};

const REDIRECT: &str = "http://127.0.0.1:9/acme/callback";

/// Acme's OpenID Connect client, as discovery makes it: an authorization endpoint, and the
/// token and userinfo endpoints the document may name.
type AcmeClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;
const SIGNED_OUT: &str = "http://127.0.0.1:9/acme/signed-out";

/// Contoso connected, B. Simon mapped, and Acme Backup registered as a confidential
/// application with a client secret.
struct Acme {
    w: Wizard,
    operator: Client,
    client_id: String,
    secret: String,
    simon: String,
}

async fn acme() -> Acme {
    acme_with(json!({})).await
}

/// The same, with more of Acme's registration (such as its back-channel logout URI).
async fn acme_with(more: Value) -> Acme {
    let w = wizard().await;
    w.connect(json!({})).await;
    let simon = w
        .add_mapped_member(SIMON, "B. Simon", SIMON_OID, true)
        .await;
    let operator = w.app.operator_again().await;
    let mut registration = json!({"name": "Acme Backup", "kind": "confidential",
        "redirect_uris": [REDIRECT], "post_logout_redirect_uris": [SIGNED_OUT]});
    registration
        .as_object_mut()
        .unwrap()
        .extend(more.as_object().unwrap().clone());
    let created = w.app.post(&operator, "/applications", registration).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let client_id = body(created).await["id"].as_str().unwrap().to_string();
    let secret = w
        .app
        .post(
            &operator,
            &format!("/applications/{client_id}/secrets"),
            json!({}),
        )
        .await;
    assert_eq!(secret.status(), StatusCode::CREATED);
    let secret = body(secret).await["secret"].as_str().unwrap().to_string();
    Acme {
        w,
        operator,
        client_id,
        secret,
        simon,
    }
}

/// An HTTP client for the application's own calls (no redirects, as openidconnect asks).
fn backchannel() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The application's OpenID Connect client, from discovery.
async fn client(a: &Acme) -> AcmeClient {
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(a.w.app.url.clone()).unwrap(),
        &backchannel(),
    )
    .await
    .expect("discovery");
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(a.client_id.clone()),
        Some(ClientSecret::new(a.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap())
}

/// What the browser reached: sent back to the application, or a page at Gatehouse.
enum Reached {
    Application(Url),
    Page(StatusCode, String),
}

/// Opens `start` in the browser and follows it as a person would, signing in at the provider
/// as `user` when it asks, until the browser is sent back to the application or stops on a
/// page.
async fn follow(browser: &Client, start: &str, user: &str) -> Reached {
    let mut url = Url::parse(start).unwrap();
    for _ in 0..20 {
        if url.as_str().starts_with(REDIRECT) {
            return Reached::Application(url);
        }
        let response = if url.path().ends_with("/login") {
            browser
                .post(url.clone())
                .form(&[("username", user), ("password", CONTOSO_PASSWORD)])
                .send()
                .await
                .unwrap()
        } else {
            browser.get(url.clone()).send().await.unwrap()
        };
        if !response.status().is_redirection() {
            if url.path().contains("/interaction/") {
                url = Url::parse(&format!("{url}/login")).unwrap();
                continue;
            }
            let status = response.status();
            return Reached::Page(status, response.text().await.unwrap());
        }
        let location = response.headers()["location"].to_str().unwrap().to_string();
        url = url.join(&location).unwrap();
    }
    panic!("too many redirects");
}

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

/// An authorization request as the application builds it, with `extra` parameters.
fn authorize_url(
    client: &AcmeClient,
    extra: &[(&str, &str)],
) -> (Url, CsrfToken, Nonce, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge);
    for (name, value) in extra {
        request = request.add_extra_param(*name, *value);
    }
    let (url, state, nonce) = request.url();
    (url, state, nonce, verifier)
}

/// A code for Simon, signed in to Contoso in `browser`.
async fn code_for_simon(a: &Acme, browser: &Client) -> (String, Nonce, PkceCodeVerifier) {
    let client = client(a).await;
    let (url, state, nonce, verifier) = authorize_url(&client, &[("organization", "contoso")]);
    let Reached::Application(back) = follow(browser, url.as_str(), SIMON).await else {
        panic!("no redirect to the application");
    };
    assert_eq!(
        query(&back, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(query(&back, "iss").as_deref(), Some(a.w.app.url.as_str()));
    (query(&back, "code").expect("a code"), nonce, verifier)
}

/// The code exchanged as the application's library does it.
async fn library_tokens(
    client: &AcmeClient,
    code: String,
    verifier: PkceCodeVerifier,
) -> openidconnect::core::CoreTokenResponse {
    client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&backchannel())
        .await
        .expect("tokens")
}

/// A refresh as Acme sends it (`client_secret_basic`).
async fn refresh_with(a: &Acme, refresh_token: &str) -> reqwest::Response {
    backchannel()
        .post(format!("{}/oauth2/token", a.w.app.url))
        .basic_auth(&a.client_id, Some(&a.secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .unwrap()
}

async fn userinfo(a: &Acme, access_token: &str) -> reqwest::Response {
    backchannel()
        .get(format!("{}/oauth2/userinfo", a.w.app.url))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_application_signs_a_member_in_with_their_directory_through_gatehouse() {
    let a = acme().await;
    let browser = a.w.app.browser();
    let (code, nonce, verifier) = code_for_simon(&a, &browser).await;

    let client = client(&a).await;
    let tokens = library_tokens(&client, code, verifier).await;
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("a valid ID token");
    assert_eq!(claims.subject().as_str(), a.simon);
    assert_eq!(claims.issuer().as_str(), a.w.app.url);
    assert_eq!(claims.email().unwrap().as_str(), SIMON);
    assert!(claims.auth_time().is_some());

    // Gatehouse's own claims, in the token the library verified.
    let payload = id_token.to_string().split('.').nth(1).unwrap().to_string();
    let payload: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(payload["org_slug"], "contoso");
    assert_eq!(payload["org_name"], "Contoso");
    assert_eq!(payload["org_id"], a.w.org);
    assert_eq!(payload["role"], "member");
    assert_eq!(payload["oid"], SIMON_OID);
    assert!(payload["sid"].as_str().is_some_and(|s| s.len() >= 32));
    assert!(payload.get("amr").is_none(), "nothing invented");

    let info = userinfo(&a, tokens.access_token().secret()).await;
    assert_eq!(info.status(), StatusCode::OK);
    let info: Value = info.json().await.unwrap();
    assert_eq!(info["sub"], a.simon.as_str());
    assert_eq!(info["name"], "B. Simon");
    assert_eq!(info["org_slug"], "contoso");

    // Already signed in: the next sign-in of an application skips the directory.
    let (url, _, _, _) = authorize_url(&client, &[("organization", "contoso")]);
    let again = browser.get(url.as_str()).send().await.unwrap();
    let location = again.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert!(location.contains("code="));

    // The organization's page names the applications its people use.
    let used = body(
        a.w.app
            .get(
                &a.w.admin,
                &format!("/organizations/{}/applications", a.w.org),
            )
            .await,
    )
    .await;
    assert_eq!(used[0]["name"], "Acme Backup");
    assert_eq!(used[0]["people"], 1);

    // The operator sees the application, and a hint of its secret only.
    let listed = body(a.w.app.get(&a.operator, "/applications").await).await;
    assert_eq!(listed[0]["name"], "Acme Backup");
    assert_eq!(listed[0]["secrets"][0]["status"], "valid");
    assert!(listed[0]["secrets"][0].get("secret").is_none());
}

#[tokio::test]
async fn the_directorys_app_roles_reach_the_application_as_the_directory_sent_them() {
    let a = acme().await;
    let roles = ["Backup.Operator", "Backup.Reader"];
    a.w.idp
        .assign_app_roles(&a.w.client_id, SIMON_OID, &roles)
        .await;
    let browser = a.w.app.browser();
    let tokens = simon_in_acme(&a, &browser).await;
    let claims = decode_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["roles"], json!(roles));
    assert_eq!(claims["role"], "member", "Gatehouse's own role beside them");
    assert!(
        claims.get("amr").is_none(),
        "nothing the directory did not send"
    );
    let info: Value = userinfo(&a, tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["roles"], json!(roles));

    // A refreshed ID token says the same.
    let refreshed: Value = refresh_with(&a, tokens["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let claims = decode_part(refreshed["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["roles"], json!(roles));

    // A person the directory assigned no role gets no `roles` claim at all.
    let b = acme().await;
    let tokens = simon_in_acme(&b, &b.w.app.browser()).await;
    let claims = decode_part(tokens["id_token"].as_str().unwrap(), 1);
    assert!(claims.get("roles").is_none(), "{claims}");
}

/// The token endpoint's answer to a raw request.
async fn token_request(
    a: &Acme,
    form: &[(&str, &str)],
    secret: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = backchannel()
        .post(format!("{}/oauth2/token", a.w.app.url))
        .form(form);
    if let Some(secret) = secret {
        request = request.basic_auth(&a.client_id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// The code redeemed as the application does, with its verifier and secret.
async fn redeem(a: &Acme, code: &str, verifier: &PkceCodeVerifier) -> (StatusCode, Value) {
    token_request(a, &exchange_form(code, verifier.secret()), Some(&a.secret)).await
}

fn exchange_form<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ]
}

#[tokio::test]
async fn a_code_works_once_and_its_second_use_revokes_what_the_first_issued() {
    let a = acme().await;
    let browser = a.w.app.browser();
    let (code, _, verifier) = code_for_simon(&a, &browser).await;
    let form = exchange_form(&code, verifier.secret());
    let (status, first) = token_request(&a, &form, Some(&a.secret)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&a, access).await.status(), StatusCode::OK);

    let (status, again) = token_request(&a, &form, Some(&a.secret)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(again["error"], "invalid_grant");
    assert!(again.get("access_token").is_none());
    assert_eq!(
        userinfo(&a, access).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn bad_token_requests_get_no_token() {
    let a = acme().await;
    let browser = a.w.app.browser();

    // A wrong secret, or none.
    let (code, _, verifier) = code_for_simon(&a, &browser).await;
    let form = exchange_form(&code, verifier.secret());
    let (status, answer) = token_request(&a, &form, Some("not-the-secret")).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, _) = token_request(&a, &form, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The code was not used by those: the right secret still works.
    let (status, _) = token_request(&a, &form, Some(&a.secret)).await;
    assert_eq!(status, StatusCode::OK);

    // A wrong PKCE verifier: refused, and the code is spent.
    let (code, _, verifier) = code_for_simon(&a, &browser).await;
    let wrong = "x".repeat(43);
    let (status, answer) = token_request(&a, &exchange_form(&code, &wrong), Some(&a.secret)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _) = redeem(&a, &code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Another redirect URI than the request's.
    let (code, _, verifier) = code_for_simon(&a, &browser).await;
    let mut form = exchange_form(&code, verifier.secret());
    form[2] = ("redirect_uri", "http://127.0.0.1:9/acme/other");
    let (status, answer) = token_request(&a, &form, Some(&a.secret)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // A code redeemed by another client.
    let other =
        a.w.app
            .post(
                &a.operator,
                "/applications",
                json!({"name": "Other", "kind": "confidential", "redirect_uris": [REDIRECT]}),
            )
            .await;
    let other_id = body(other).await["id"].as_str().unwrap().to_string();
    let other_secret = body(
        a.w.app
            .post(
                &a.operator,
                &format!("/applications/{other_id}/secrets"),
                json!({}),
            )
            .await,
    )
    .await["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, _, verifier) = code_for_simon(&a, &browser).await;
    let response = backchannel()
        .post(format!("{}/oauth2/token", a.w.app.url))
        .basic_auth(&other_id, Some(&other_secret))
        .form(&exchange_form(&code, verifier.secret()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"], "invalid_grant");

    // An expired code (60 seconds).
    let (code, _, verifier) = code_for_simon(&a, &browser).await;
    a.w.app.clock.advance(time::Duration::seconds(61));
    let (status, answer) = redeem(&a, &code, &verifier).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn unknown_clients_and_unregistered_redirect_uris_end_at_gatehouse_never_redirected() {
    let a = acme().await;
    let browser = a.w.app.browser();
    let base = format!("{}/oauth2/authorize", a.w.app.url);
    let request = |client_id: &str, redirect: &str| {
        let mut url = Url::parse(&base).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid")
            .append_pair("state", "s")
            .append_pair("organization", "contoso");
        url.to_string()
    };
    let mut cases = vec![request("no-such-client", REDIRECT)];
    for redirect in [
        "http://127.0.0.1:9/acme/callback/",
        "http://127.0.0.1:10/acme/callback",
        "http://127.0.0.1:9/acme/callback/more",
        "http://127.0.0.1:9/acme/callback?x=1",
        "http://127.0.0.1:9/acme/callback#x",
        "https://attacker.example/acme/callback",
    ] {
        cases.push(request(&a.client_id, redirect));
    }
    for case in cases {
        let response = browser.get(&case).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        assert!(response.headers().get("location").is_none(), "{case}");
        let page = response.text().await.unwrap();
        assert!(page.contains("not valid"), "{page}");
    }
}

#[tokio::test]
async fn requests_the_application_may_not_make_come_back_as_errors_without_a_code() {
    let a = acme().await;
    let client = client(&a).await;

    // prompt=none without a Gatehouse session.
    let (url, _, _, _) = authorize_url(&client, &[("organization", "contoso"), ("prompt", "none")]);
    let Reached::Application(back) = follow(&a.w.app.browser(), url.as_str(), SIMON).await else {
        panic!("an error at the application");
    };
    assert_eq!(query(&back, "error").as_deref(), Some("login_required"));
    assert!(query(&back, "code").is_none());

    // A public application without PKCE.
    let public =
        a.w.app
            .post(
                &a.operator,
                "/applications",
                json!({"name": "Acme CLI", "kind": "public", "redirect_uris": [REDIRECT]}),
            )
            .await;
    let public_id = body(public).await["id"].as_str().unwrap().to_string();
    let url = format!(
        "{}/oauth2/authorize?client_id={public_id}&redirect_uri={}&response_type=code&scope=openid&state=s",
        a.w.app.url,
        app::api::encode_query(REDIRECT)
    );
    let Reached::Application(back) = follow(&a.w.app.browser(), &url, SIMON).await else {
        panic!("an error at the application");
    };
    assert_eq!(query(&back, "error").as_deref(), Some("invalid_request"));

    // An application only for another organization.
    let fabrikam =
        a.w.app
            .create_org(&a.operator, "Fabrikam", "fabrikam")
            .await;
    let only_fabrikam =
        a.w.app
            .send(
                &a.operator,
                reqwest::Method::PUT,
                &format!("/applications/{}", a.client_id),
                json!({"name": "Acme Backup", "kind": "confidential", "redirect_uris": [REDIRECT],
                   "organization_ids": [fabrikam]}),
            )
            .await;
    assert_eq!(only_fabrikam.status(), StatusCode::OK);
    assert_eq!(
        body(only_fabrikam).await["organizations"][0]["name"],
        "Fabrikam"
    );
    let (url, _, _, _) = authorize_url(&client, &[("organization", "contoso")]);
    let Reached::Application(back) = follow(&a.w.app.browser(), url.as_str(), SIMON).await else {
        panic!("an error at the application");
    };
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert!(query(&back, "code").is_none());
}

#[tokio::test]
async fn a_member_of_one_organization_asking_for_another_is_sent_to_that_directory() {
    let a = acme().await;
    let browser = a.w.app.browser();
    code_for_simon(&a, &browser).await;
    a.w.app
        .create_org(&a.operator, "Fabrikam", "fabrikam")
        .await;
    let client = client(&a).await;
    let (url, _, _, _) = authorize_url(&client, &[("organization", "fabrikam")]);
    let response = browser.get(url.as_str()).send().await.unwrap();
    // Fabrikam has no directory connected: its page says so; no code for Contoso's session.
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let page = response.text().await.unwrap();
    assert!(page.contains("Single sign-on is not on"), "{page}");
}

#[tokio::test]
async fn a_disabled_member_gets_no_new_code_and_no_token() {
    let a = acme().await;
    let browser = a.w.app.browser();
    let (code, _, verifier) = code_for_simon(&a, &browser).await;
    let disabled =
        a.w.app
            .patch(
                &a.w.admin,
                &format!("/organizations/{}/members/{}", a.w.org, a.simon),
                json!({"status": "disabled"}),
            )
            .await;
    assert_eq!(disabled.status(), StatusCode::OK);
    let (status, answer) = redeem(&a, &code, &verifier).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let client = client(&a).await;
    let (url, _, _, _) = authorize_url(&client, &[("organization", "contoso")]);
    let Reached::Page(status, page) = follow(&browser, url.as_str(), SIMON).await else {
        panic!("no code for a disabled member");
    };
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("You cannot sign in here yet"), "{page}");
}

#[tokio::test]
async fn the_key_set_publishes_the_next_key_before_it_signs() {
    let a = acme().await;
    let jwks = |url: String| async move {
        backchannel()
            .get(url)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let jwks_url = format!("{}/oauth2/jwks", a.w.app.url);
    let before = jwks(jwks_url.clone()).await;
    assert_eq!(before["keys"].as_array().unwrap().len(), 1);
    assert_eq!(before["keys"][0]["kty"], "EC");
    assert!(before["keys"][0].get("d").is_none(), "no private part");
    let rotated =
        a.w.app
            .post(&a.operator, "/signing-keys/rotation", json!({}))
            .await;
    assert_eq!(rotated.status(), StatusCode::CREATED);
    let kid = body(rotated).await["kids"][0].as_str().unwrap().to_string();
    let after = jwks(jwks_url).await;
    let kids: Vec<&str> = after["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&kid.as_str()));

    // It does not sign yet: today's tokens still verify with the key the application knew.
    let browser = a.w.app.browser();
    let (code, _, verifier) = code_for_simon(&a, &browser).await;
    let (_, tokens) = redeem(&a, &code, &verifier).await;
    let header = tokens["id_token"]
        .as_str()
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_string();
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], before["keys"][0]["kid"]);
}

/// The ids of the keys an instance publishes, sorted.
async fn published_kids(app: &common::TestApp) -> Vec<String> {
    let text = backchannel()
        .get(format!("{}/oauth2/jwks", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let set: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"));
    let mut kids: Vec<String> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    kids.sort();
    kids
}

/// The id of the ES256 key an instance signs with now.
async fn signing_kid(app: &common::TestApp) -> String {
    let keys = app.state.provider_services().keys().await.unwrap();
    keys.signing.kid().to_string()
}

#[tokio::test]
async fn instances_on_one_database_publish_and_sign_with_the_same_keys() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let url = common::fresh_database_url(&dir).await;
    let one = common::spawn_app_on(dir.clone(), url.clone()).await;
    let two = common::spawn_app_on(dir.clone(), url).await;

    // Neither has a key yet: both make one at the same moment, and only one is kept.
    let (first, second) = tokio::join!(published_kids(&one), published_kids(&two));
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first, second);
    assert_eq!(signing_kid(&one).await, signing_kid(&two).await);

    // A rotation on one instance (the second: starting on the same folder, it holds the
    // first-run link): the other publishes the next key once it reads the keys again (each
    // minute), well before the key signs (an hour after the rotation).
    let operator = two.operator().await;
    let rotated = two
        .post(&operator, "/signing-keys/rotation", json!({}))
        .await;
    assert_eq!(rotated.status(), StatusCode::CREATED);
    let next = body(rotated).await["kids"][0].as_str().unwrap().to_string();
    let on_two = published_kids(&two).await;
    assert_eq!(on_two.len(), 2);
    assert!(on_two.contains(&next));
    assert_eq!(published_kids(&one).await, first, "read a minute ago");
    one.clock.advance(gatehouse::provider::keys::RELOAD_AFTER);
    assert_eq!(published_kids(&one).await, on_two);
    assert_ne!(signing_kid(&one).await, next, "not signing before its hour");

    // An hour on, both sign with it.
    for app in [&one, &two] {
        app.clock
            .advance(gatehouse::provider::keys::PUBLISH_AHEAD + time::Duration::seconds(1));
    }
    assert_eq!(signing_kid(&one).await, next);
    assert_eq!(signing_kid(&two).await, next);
    assert_eq!(
        published_kids(&one).await,
        on_two,
        "the old key stays published"
    );
}

#[tokio::test]
async fn applications_need_valid_redirect_uris_and_an_operator() {
    let a = acme().await;
    let refused =
        a.w.app
            .post(
                &a.operator,
                "/applications",
                json!({"name": "Bad", "kind": "confidential",
                   "redirect_uris": ["http://acme.example/cb"]}),
            )
            .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let errors = body(refused).await;
    assert!(common::field_error(&errors, "redirect_uris").contains("https"));
    // An organization's admin cannot register applications.
    let by_admin =
        a.w.app
            .post(
                &a.w.admin,
                "/applications",
                json!({"name": "Mine", "kind": "public", "redirect_uris": [REDIRECT]}),
            )
            .await;
    assert_eq!(by_admin.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_ends_the_whole_sign_in() {
    let a = acme().await;
    let browser = a.w.app.browser();
    let (code, _, verifier) = code_for_simon(&a, &browser).await;
    let (_, first) = redeem(&a, &code, &verifier).await;
    let first_refresh = first["refresh_token"].as_str().unwrap().to_string();

    // The application's library refreshes: new tokens, a new refresh token.
    let client = client(&a).await;
    let refreshed = client
        .exchange_refresh_token(&openidconnect::RefreshToken::new(first_refresh.clone()))
        .unwrap()
        .request_async(&backchannel())
        .await
        .expect("refreshed tokens");
    let second_refresh = refreshed.refresh_token().unwrap().secret().clone();
    assert_ne!(second_refresh, first_refresh);
    let access = refreshed.access_token().secret().clone();
    assert_eq!(userinfo(&a, &access).await.status(), StatusCode::OK);

    // Within a few seconds, the same refresh token again is two refreshes at once: allowed.
    assert_eq!(
        refresh_with(&a, &first_refresh).await.status(),
        StatusCode::OK
    );

    // Later, it is a stolen token: the whole sign-in ends, the newer tokens with it.
    a.w.app.clock.advance(time::Duration::seconds(6));
    let reused = refresh_with(&a, &first_refresh).await;
    assert_eq!(reused.status(), StatusCode::BAD_REQUEST);
    let reused: Value = reused.json().await.unwrap();
    assert_eq!(reused["error"], "invalid_grant");
    assert_eq!(
        refresh_with(&a, &second_refresh).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        userinfo(&a, &access).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Acme's back-channel logout endpoint: keeps the logout tokens Gatehouse posts.
struct LogoutReceiver {
    url: String,
    tokens: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl LogoutReceiver {
    async fn start() -> LogoutReceiver {
        let tokens = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = tokens.clone();
        let router = axum::Router::new().route(
            "/backchannel",
            axum::routing::post(
                move |axum::Form(form): axum::Form<std::collections::HashMap<String, String>>| {
                    let kept = kept.clone();
                    async move {
                        kept.lock().unwrap().push(form["logout_token"].clone());
                        StatusCode::OK
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/backchannel", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        LogoutReceiver { url, tokens }
    }

    /// The logout tokens received within five seconds (Gatehouse sends every second).
    async fn received(&self, count: usize) -> Vec<String> {
        for _ in 0..50 {
            let tokens = self.tokens.lock().unwrap().clone();
            if tokens.len() >= count {
                return tokens;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{count} logout token(s) did not arrive");
    }
}

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, part).unwrap(),
    )
    .unwrap()
}

/// Checks a logout token as Back-Channel Logout 1.0 §2.6 asks an application to: its
/// signature with Gatehouse's published key, `typ`, `iss`, `aud`, the event, no `nonce`.
async fn assert_logout_token(a: &Acme, token: &str) -> Value {
    use openidconnect::JsonWebKey;
    let header = decode_part(token, 0);
    assert_eq!(header["typ"], "logout+jwt");
    let jwks: openidconnect::core::CoreJsonWebKeySet = backchannel()
        .get(format!("{}/oauth2/jwks", a.w.app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = jwks
        .keys()
        .iter()
        .find(|k| k.key_id().map(|id| id.as_str()) == header["kid"].as_str())
        .expect("the signing key is published");
    let (input, signature) = token.rsplit_once('.').unwrap();
    let signature =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)
            .unwrap();
    let alg = match header["alg"].as_str() {
        Some("RS256") => openidconnect::core::CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        _ => openidconnect::core::CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    };
    key.verify_signature(&alg, input.as_bytes(), &signature)
        .expect("a valid signature");
    let claims = decode_part(token, 1);
    assert_eq!(claims["iss"], a.w.app.url.as_str());
    assert_eq!(claims["aud"], a.client_id.as_str());
    assert!(claims["events"]
        .get("http://schemas.openid.net/event/backchannel-logout")
        .is_some());
    assert!(claims.get("nonce").is_none());
    assert!(claims["jti"].as_str().is_some());
    claims
}

/// Simon signed in to Acme: the tokens the code gave.
async fn simon_in_acme(a: &Acme, browser: &Client) -> Value {
    let (code, _, verifier) = code_for_simon(a, browser).await;
    let (status, tokens) = redeem(a, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK);
    tokens
}

#[tokio::test]
async fn signing_out_of_gatehouse_signs_the_person_out_of_the_applications() {
    let receiver = LogoutReceiver::start().await;
    let a = acme_with(json!({"backchannel_logout_uri": receiver.url})).await;
    let browser = a.w.app.browser();
    let tokens = simon_in_acme(&a, &browser).await;
    let sid = decode_part(tokens["id_token"].as_str().unwrap(), 1)["sid"].clone();

    assert_eq!(
        a.w.app.delete(&browser, "/session").await.status(),
        StatusCode::OK
    );
    let received = receiver.received(1).await;
    let claims = assert_logout_token(&a, &received[0]).await;
    assert_eq!(claims["sid"], sid);
    assert_eq!(claims["sub"], a.simon.as_str());
    // What the session gave the application stops working.
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        userinfo(&a, access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refresh = refresh_with(&a, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refresh.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn disabling_a_member_signs_them_out_of_the_applications() {
    let receiver = LogoutReceiver::start().await;
    let a = acme_with(json!({"backchannel_logout_uri": receiver.url})).await;
    let tokens = simon_in_acme(&a, &a.w.app.browser()).await;
    let disabled =
        a.w.app
            .patch(
                &a.w.admin,
                &format!("/organizations/{}/members/{}", a.w.org, a.simon),
                json!({"status": "disabled"}),
            )
            .await;
    assert_eq!(disabled.status(), StatusCode::OK);
    let received = receiver.received(1).await;
    let claims = assert_logout_token(&a, &received[0]).await;
    assert_eq!(claims["sub"], a.simon.as_str());
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        userinfo(&a, access).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_application_signs_the_person_out_and_gets_them_back_at_its_page() {
    let receiver = LogoutReceiver::start().await;
    let a = acme_with(json!({"backchannel_logout_uri": receiver.url})).await;
    let browser = a.w.app.browser();
    let tokens = simon_in_acme(&a, &browser).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let end_session = |params: &[(&str, &str)]| {
        let mut url = Url::parse(&format!("{}/oauth2/logout", a.w.app.url)).unwrap();
        url.query_pairs_mut().extend_pairs(params);
        url.to_string()
    };

    // Refused, and still signed in: a hint issued to another application, an address Acme did
    // not register, a hint Gatehouse did not sign.
    for (params, words) in [
        (
            vec![("id_token_hint", id_token), ("client_id", "another-app")],
            "another application",
        ),
        (
            vec![
                ("id_token_hint", id_token),
                ("post_logout_redirect_uri", "https://attacker.example/"),
            ],
            "not registered",
        ),
        (
            vec![("id_token_hint", "e30.e30.sig")],
            "not an ID token Gatehouse issued",
        ),
    ] {
        let response = browser.get(end_session(&params)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get("location").is_none());
        let page = response.text().await.unwrap();
        assert!(page.contains(words), "{page}");
        assert_eq!(
            a.w.app.get(&browser, "/session").await.status(),
            StatusCode::OK
        );
    }

    // Where an application finds the endpoint: the discovery document.
    let discovery: Value = backchannel()
        .get(format!("{}/.well-known/openid-configuration", a.w.app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["end_session_endpoint"],
        format!("{}/oauth2/logout", a.w.app.url)
    );
    assert_eq!(discovery["backchannel_logout_supported"], true);

    // Without a hint, Gatehouse asks first.
    let asked = browser.get(end_session(&[])).send().await.unwrap();
    assert_eq!(asked.status(), StatusCode::OK);
    assert!(asked
        .text()
        .await
        .unwrap()
        .contains("Sign out of Gatehouse?"));
    assert_eq!(
        a.w.app.get(&browser, "/session").await.status(),
        StatusCode::OK
    );

    let done = browser
        .get(end_session(&[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", SIGNED_OUT),
            ("state", "bye"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        done.headers()["location"].to_str().unwrap(),
        format!("{SIGNED_OUT}?state=bye")
    );
    assert_eq!(
        a.w.app.get(&browser, "/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_logout_token(&a, &receiver.received(1).await[0]).await;
}

#[tokio::test]
async fn turning_the_organizations_single_sign_on_off_ends_what_applications_get() {
    let a = acme().await;
    let browser = a.w.app.browser();
    let tokens = simon_in_acme(&a, &browser).await;
    let (code, _, verifier) = code_for_simon(&a, &browser).await;
    let off =
        a.w.app
            .post(
                &a.w.admin,
                &format!("/organizations/{}/connection/disable", a.w.org),
                json!({}),
            )
            .await;
    assert_eq!(off.status(), StatusCode::OK);

    // No token for a code issued before, no new refresh, and a sign-in ends on the page that
    // says single sign-on is off.
    let (status, answer) = redeem(&a, &code, &verifier).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let refresh = refresh_with(&a, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refresh.status(), StatusCode::BAD_REQUEST);
    let client = client(&a).await;
    let (url, _, _, _) = authorize_url(&client, &[("organization", "contoso")]);
    let Reached::Page(status, page) = follow(&browser, url.as_str(), SIMON).await else {
        panic!("no code while single sign-on is off");
    };
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("Single sign-on is not on"), "{page}");
}

#[tokio::test]
async fn prompt_none_signs_in_silently_while_the_directory_knows_the_person() {
    let a = acme().await;
    let browser = a.w.app.browser();
    code_for_simon(&a, &browser).await;
    // Signed out of Gatehouse, still signed in at the directory.
    assert_eq!(
        a.w.app.delete(&browser, "/session").await.status(),
        StatusCode::OK
    );
    let client = client(&a).await;
    let (url, _, _, _) = authorize_url(&client, &[("organization", "contoso"), ("prompt", "none")]);
    let Reached::Application(back) = follow(&browser, url.as_str(), "nobody-types-here").await
    else {
        panic!("back at the application");
    };
    assert!(query(&back, "code").is_some(), "{back}");
    assert_eq!(
        a.w.app.get(&browser, "/session").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_password_session_reaches_an_application_only_when_it_allows_them() {
    let a = acme().await;
    // Contoso's admin signed in with a password (the break-glass path), not with the directory.
    let client = client(&a).await;
    let (url, _, _, _) = authorize_url(&client, &[("organization", "contoso")]);
    let to_directory = a.w.admin.get(url.as_str()).send().await.unwrap();
    let location = to_directory.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        !location.starts_with(REDIRECT),
        "no code for a password session: {location}"
    );
    assert!(location.starts_with(&a.w.idp.url), "{location}");

    let allowed =
        a.w.app
            .send(
                &a.operator,
                reqwest::Method::PUT,
                &format!("/applications/{}", a.client_id),
                json!({"name": "Acme Backup", "kind": "confidential", "redirect_uris": [REDIRECT],
                   "allow_password_sessions": true}),
            )
            .await;
    assert_eq!(allowed.status(), StatusCode::OK);
    let (url, _, _, _) = authorize_url(&client, &[("organization", "contoso")]);
    let with_code = a.w.admin.get(url.as_str()).send().await.unwrap();
    let location = with_code.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        location.starts_with(REDIRECT) && location.contains("code="),
        "{location}"
    );
}

#[tokio::test]
async fn an_application_that_asks_for_rs256_gets_rsa_signed_tokens() {
    let receiver = LogoutReceiver::start().await;
    let a =
        acme_with(json!({"signing_alg": "RS256", "backchannel_logout_uri": receiver.url})).await;
    let browser = a.w.app.browser();
    let (code, nonce, verifier) = code_for_simon(&a, &browser).await;
    let client = client(&a).await;
    let tokens = library_tokens(&client, code, verifier).await;
    let id_token = tokens.id_token().expect("an ID token");
    id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("a valid RS256 ID token");
    assert_eq!(decode_part(&id_token.to_string(), 0)["alg"], "RS256");
    // Its logout tokens too: the application knows only RSA.
    assert_eq!(
        a.w.app.delete(&browser, "/session").await.status(),
        StatusCode::OK
    );
    let logout = receiver.received(1).await[0].clone();
    assert_eq!(decode_part(&logout, 0)["alg"], "RS256");
    assert_logout_token(&a, &logout).await;
}

#[tokio::test]
async fn prompt_login_and_an_outlived_max_age_send_the_person_to_their_directory_again() {
    let a = acme().await;
    let browser = a.w.app.browser();
    code_for_simon(&a, &browser).await;
    let client = client(&a).await;
    // Signed in two seconds before each request.
    for extra in [("prompt", "login"), ("max_age", "1")] {
        a.w.app.clock.advance(time::Duration::seconds(2));
        let (url, _, _, _) = authorize_url(&client, &[("organization", "contoso"), extra]);
        let first = browser.get(url.as_str()).send().await.unwrap();
        let location = first.headers()["location"].to_str().unwrap().to_string();
        // Not a code: the directory, asked to sign the person in again.
        assert!(location.starts_with(&a.w.idp.url), "{extra:?}: {location}");
        assert!(location.contains("prompt=login"), "{extra:?}: {location}");
        let Reached::Application(back) = follow(&browser, &location, SIMON).await else {
            panic!("back at the application after signing in again");
        };
        assert!(query(&back, "code").is_some(), "{back}");
    }
    // Within max_age, no second sign-in.
    let (url, _, _, _) = authorize_url(&client, &[("organization", "contoso"), ("max_age", "60")]);
    let again = browser.get(url.as_str()).send().await.unwrap();
    let location = again.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(REDIRECT), "{location}");
}

#[tokio::test]
async fn a_client_secret_is_rotated_without_an_outage() {
    let a = acme().await;
    let browser = a.w.app.browser();
    let created =
        a.w.app
            .post(
                &a.operator,
                &format!("/applications/{}/secrets", a.client_id),
                json!({}),
            )
            .await;
    let created = body(created).await;
    let new_secret = created["secret"].as_str().unwrap().to_string();
    // Both work while the application moves to the new one.
    for secret in [&a.secret, &new_secret] {
        let (code, _, verifier) = code_for_simon(&a, &browser).await;
        let (status, _) =
            token_request(&a, &exchange_form(&code, verifier.secret()), Some(secret)).await;
        assert_eq!(status, StatusCode::OK);
    }
    // The old one revoked: only the new one works.
    let listed = body(
        a.w.app
            .get(&a.operator, &format!("/applications/{}", a.client_id))
            .await,
    )
    .await;
    let old_id = listed["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["hint"].as_str() == Some(&a.secret[a.secret.len() - 4..]))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let revoked =
        a.w.app
            .delete(
                &a.operator,
                &format!("/applications/{}/secrets/{old_id}", a.client_id),
            )
            .await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let (code, _, verifier) = code_for_simon(&a, &browser).await;
    let form = exchange_form(&code, verifier.secret());
    let (status, _) = token_request(&a, &form, Some(&a.secret)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = token_request(&a, &form, Some(&new_secret)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn expired_tokens_are_forgotten_and_the_grant_kept() {
    let a = acme().await;
    let tokens = simon_in_acme(&a, &a.w.app.browser()).await;
    let storage = &a.w.app.state.storage;
    // Nothing has expired yet.
    let now = gatehouse::clock::Clock::now(&a.w.app.clock);
    assert_eq!(
        storage.delete_expired_provider_tokens(now).await.unwrap(),
        0
    );
    // Past the refresh token's 30 days, both tokens are gone; the organization still shows
    // who used Acme.
    let later = now + time::Duration::days(31);
    assert_eq!(
        storage.delete_expired_provider_tokens(later).await.unwrap(),
        2
    );
    assert_eq!(
        userinfo(&a, tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let used = body(
        a.w.app
            .get(
                &a.w.admin,
                &format!("/organizations/{}/applications", a.w.org),
            )
            .await,
    )
    .await;
    assert_eq!(used[0]["people"], 1);
}

#[tokio::test]
async fn a_sign_out_without_a_hint_happens_only_once_the_person_confirms_it_here() {
    let a = acme().await;
    let browser = a.w.app.browser();
    simon_in_acme(&a, &browser).await;
    let confirmed = format!("{}/oauth2/logout?confirmed=1", a.w.app.url);
    // Another site cannot skip the question by adding the confirmation itself.
    let forged = browser
        .get(&confirmed)
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    assert!(forged
        .text()
        .await
        .unwrap()
        .contains("Sign out of Gatehouse?"));
    assert_eq!(
        a.w.app.get(&browser, "/session").await.status(),
        StatusCode::OK
    );
    // The person's own click on Gatehouse's page signs them out.
    let clicked = browser
        .get(&confirmed)
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .await
        .unwrap();
    assert!(clicked
        .text()
        .await
        .unwrap()
        .contains("You are signed out of Gatehouse."));
    assert_eq!(
        a.w.app.get(&browser, "/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
}
