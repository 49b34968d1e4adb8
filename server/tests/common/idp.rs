//! Starts the Entra-shaped provider from `end2end/idp` (needs its npm packages, which the test
//! command installs) on a free port, for tests that talk to a directory.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub const CONTOSO: &str = "6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11";
pub const FABRIKAM: &str = "2a7d9e4b-8c3f-4b1a-a6e5-7f0c2d9b8e31";
pub const SIMON_OID: &str = "3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f";
pub const SIMON: &str = "B.Simon@contoso.com";
pub const ADELE: &str = "AdeleV@contoso.com";
pub const ADELE_OID: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
pub const CONTOSO_PASSWORD: &str = "Contoso-Demo-2026!";

pub struct Idp {
    pub url: String,
    child: Child,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Idp {
    pub fn start() -> Idp {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../end2end/idp/server.js");
        let mut child = Command::new("node")
            .arg(script)
            .env("IDP_PORT", "0")
            .env("IDP_QUIET", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts the test provider (run `npm ci` in end2end/)");
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("the provider prints its address");
        let url = first
            .split("listening on ")
            .nth(1)
            .expect("a 'listening on' line")
            .trim()
            .to_string();
        Idp { url, child }
    }

    /// Registers an app in a directory, as an admin would in the Entra portal: its redirect URI
    /// and, beside it, Gatehouse's front-channel logout URL.
    pub async fn register_app(
        &self,
        tenant: &str,
        client_id: &str,
        secrets: Value,
        redirect_uri: &str,
    ) {
        let response = reqwest::Client::new()
            .post(format!("{}/_test/apps", self.url))
            .json(&json!({
                "tenantId": tenant, "clientId": client_id, "displayName": "Gatehouse",
                "secrets": secrets, "redirectUris": [redirect_uri],
                "frontchannelLogoutUri": redirect_uri.replace("/auth/callback", "/auth/logout"),
                "graphPermissions": ["User.Read.All"],
            }))
            .send()
            .await
            .expect("test hook");
        assert_eq!(response.status(), 201);
    }

    async fn hook(&self, path: &str, body: Value) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}/_test{path}", self.url))
            .json(&body)
            .send()
            .await
            .expect("test hook");
        assert!(response.status().is_success(), "{path}");
        response.json().await.expect("json")
    }

    /// Sets the Microsoft Graph application permissions granted to an app (with admin consent).
    pub async fn set_graph_permissions(&self, client_id: &str, permissions: Value) {
        self.hook(
            "/apps/graph-permissions",
            json!({ "clientId": client_id, "graphPermissions": permissions }),
        )
        .await;
    }

    /// Assigns app roles of an app registration to a directory user (Entra then sends them as
    /// `roles` in that app's ID tokens).
    pub async fn assign_app_roles(&self, client_id: &str, object_id: &str, roles: &[&str]) {
        self.hook(
            "/apps/app-roles",
            json!({ "clientId": client_id, "oid": object_id, "roles": roles }),
        )
        .await;
    }

    /// Makes every endpoint of a directory hang (`Some("hang")`) or fail with a 503 error page
    /// (`Some("error")`), or ends the outage (`None`).
    pub async fn outage(&self, tenant: &str, mode: Option<&str>) {
        self.hook("/outage", json!({ "tenantId": tenant, "mode": mode }))
            .await;
    }

    /// Adds users to a directory.
    pub async fn add_users(&self, tenant: &str, users: Value) {
        self.hook("/users", json!({ "tenantId": tenant, "users": users }))
            .await;
    }

    /// Deletes a user from a directory.
    pub async fn remove_user(&self, tenant: &str, object_id: &str) {
        self.hook(
            "/users/remove",
            json!({ "tenantId": tenant, "oid": object_id }),
        )
        .await;
    }

    /// Sets the domains a directory has verified.
    pub async fn set_domains(&self, tenant: &str, domains: &[&str]) {
        self.hook(
            "/domains",
            json!({ "tenantId": tenant, "domains": domains }),
        )
        .await;
    }

    /// Uploads a certificate (DER) to an app, as an admin does under "Certificates & secrets".
    pub async fn upload_certificate(&self, client_id: &str, der: &[u8]) {
        use base64::Engine;
        self.hook(
            "/apps/certificates",
            json!({
                "clientId": client_id,
                "certificate": base64::engine::general_purpose::STANDARD.encode(der),
            }),
        )
        .await;
    }

    /// Makes every secret and certificate of an app expire now.
    pub async fn expire_credentials(&self, client_id: &str) {
        self.hook("/apps/expire-credentials", json!({ "clientId": client_id }))
            .await;
    }

    /// Makes the next ID token bad in one way (see BAD_TOKEN_MODES in provider.js).
    pub async fn next_token(&self, mode: &str) {
        self.hook("/next-token", json!({ "mode": mode })).await;
    }

    /// Publishes a new signing key and signs with it from now on.
    pub async fn rotate_keys(&self) {
        self.hook("/rotate-keys", json!({})).await;
    }

    /// Counts of token, key and discovery requests the provider has answered.
    pub async fn stats(&self) -> Value {
        self.read_hook("/stats").await
    }

    /// What a GET test hook answers.
    async fn read_hook(&self, path: &str) -> Value {
        reqwest::get(format!("{}/_test{path}", self.url))
            .await
            .expect("test hook")
            .json()
            .await
            .expect("json")
    }
}

/// Signs in at the provider as a person would: opens `start_url` (the provider's authorize URL
/// or Gatehouse's own start address), fills the login form,
/// and follows the redirects until the provider sends the browser to Gatehouse's callback.
/// Answers that callback address without opening it.
pub async fn callback_from_provider(
    client: &Client,
    start_url: &str,
    username: &str,
    password: &str,
) -> reqwest::Url {
    let first = client.get(start_url).send().await.unwrap();
    let start = reqwest::Url::parse(start_url).unwrap();
    let (_, at) = follow_sign_in(client, first, start, username, password, |next| {
        next.path() == "/auth/callback"
    })
    .await;
    assert_eq!(
        at.path(),
        "/auth/callback",
        "the provider sent the browser back"
    );
    at
}

/// Follows the provider's redirects from `response` (answered at `at`), signing in as
/// `username` when its login page asks, until an address `stop` accepts (answered unopened)
/// or a page that does not redirect: answers the last response and its address.
async fn follow_sign_in(
    client: &Client,
    mut response: reqwest::Response,
    mut at: reqwest::Url,
    username: &str,
    password: &str,
    stop: impl Fn(&reqwest::Url) -> bool,
) -> (reqwest::Response, reqwest::Url) {
    for _ in 0..10 {
        let Some(location) = response.headers().get("location") else {
            return (response, at);
        };
        let next = at.join(location.to_str().unwrap()).unwrap();
        if stop(&next) {
            return (response, next);
        }
        response = if next.path().contains("/interaction/") {
            assert_eq!(
                client.get(next.clone()).send().await.unwrap().status(),
                StatusCode::OK
            );
            client
                .post(format!("{next}/login"))
                .form(&[("username", username), ("password", password)])
                .send()
                .await
                .unwrap()
        } else {
            client.get(next.clone()).send().await.unwrap()
        };
        at = next;
    }
    panic!("too many redirects");
}

/// The same, then opens the callback in the same browser.
pub async fn sign_in_at_provider(
    client: &Client,
    start_url: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let callback = callback_from_provider(client, start_url, username, password).await;
    client.get(callback).send().await.unwrap()
}

impl Idp {
    /// Adds a SAML Enterprise application to a directory, as an admin would in the Entra
    /// portal (Identifier and Reply URL); answers its appId, metadata URL, certificate, Issuer
    /// and Login URL.
    pub async fn register_saml_app(
        &self,
        tenant: &str,
        identifier: &str,
        reply_url: &str,
    ) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}/_test/saml-apps", self.url))
            .json(
                &json!({ "tenantId": tenant, "identifier": identifier, "replyUrls": [reply_url] }),
            )
            .send()
            .await
            .expect("test hook");
        assert_eq!(response.status(), 201);
        response.json().await.expect("json")
    }

    /// Makes the next SAML response bad in one way (see BAD_SAML_MODES in saml.js).
    pub async fn next_saml_response(&self, mode: &str) {
        self.hook("/next-saml-response", json!({ "mode": mode }))
            .await;
    }

    /// Entra's signing certificate rollover: `add` publishes the next certificate in the
    /// metadata beside the current one, `switch` signs with it from then on.
    pub async fn saml_certificate(&self, action: &str) {
        self.hook("/saml-certificates", json!({ "action": action }))
            .await;
    }

    /// The AuthnRequests the provider received, newest last.
    pub async fn saml_requests(&self) -> Vec<Value> {
        let answer: Value = reqwest::get(format!("{}/_test/saml-requests", self.url))
            .await
            .expect("requests")
            .json()
            .await
            .expect("json");
        answer["requests"].as_array().expect("requests").clone()
    }
}

/// The form Entra's page posts to the Reply URL: its action and fields.
#[derive(Debug, Clone)]
pub struct SamlPost {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

fn form_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let value = &html[start..start + html[start..].find('"')?];
    Some(
        value
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">"),
    )
}

/// Signs in at the provider's SAML2 endpoint as a person would: opens `start_url`
/// (Gatehouse's start address, or the provider's own, such as its IdP-initiated one), follows
/// redirects, fills the login form, and answers the form the provider would post to the Reply
/// URL, without posting it.
pub async fn saml_form_from_provider(
    client: &Client,
    start_url: &str,
    username: &str,
    password: &str,
) -> SamlPost {
    let mut url = reqwest::Url::parse(start_url).unwrap();
    let mut response = client.get(url.clone()).send().await.unwrap();
    for _ in 0..5 {
        if !response.status().is_redirection() {
            break;
        }
        url = url
            .join(response.headers()["location"].to_str().unwrap())
            .unwrap();
        response = client.get(url.clone()).send().await.unwrap();
    }
    let page = response.text().await.unwrap();
    let pending = form_value(&page, "pending").unwrap_or_else(|| panic!("a login form: {page}"));
    let tenant = url.path_segments().unwrap().next().unwrap().to_string();
    let posted = client
        .post(url.join(&format!("/{tenant}/saml2/login")).unwrap())
        .form(&[
            ("pending", pending.as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let action_start = posted.find("action=\"").expect("a form") + "action=\"".len();
    let action =
        posted[action_start..action_start + posted[action_start..].find('"').unwrap()].to_string();
    let mut fields = vec![(
        "SAMLResponse".to_string(),
        form_value(&posted, "SAMLResponse").expect("a response"),
    )];
    if let Some(relay) = form_value(&posted, "RelayState") {
        fields.push(("RelayState".into(), relay));
    }
    SamlPost { action, fields }
}

/// Posts Entra's form to the Reply URL and follows Gatehouse to the same-site GET; answers
/// that GET's response.
pub async fn post_to_reply_url(client: &Client, post: &SamlPost) -> reqwest::Response {
    let held = client
        .post(&post.action)
        .form(&post.fields)
        .send()
        .await
        .unwrap();
    assert_eq!(
        held.status(),
        StatusCode::SEE_OTHER,
        "the Reply URL sends the browser on"
    );
    let next = reqwest::Url::parse(&post.action)
        .unwrap()
        .join(held.headers()["location"].to_str().unwrap())
        .unwrap();
    client.get(next).send().await.unwrap()
}

/// The setup client the test provider knows (a multi-tenant public client).
pub const SETUP_CLIENT: &str = "7b4c2e1a-9d3f-4a8b-b6c5-0e1f2a3b4c5d";
/// Contoso's Global Administrator and its Application Administrator.
pub const MEGAN: &str = "MeganB@contoso.com";
pub const LEE: &str = "LeeG@contoso.com";

/// The one form on a provider page: where it posts and its hidden fields.
fn form_of(html: &str) -> (String, Vec<(String, String)>) {
    let start = html.find("<form").expect("a form");
    let form = &html[start
        ..html[start..]
            .find("</form>")
            .map(|e| start + e)
            .expect("form end")];
    let action = form
        .split("action=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("an action")
        .replace("&amp;", "&");
    let hidden = form
        .split("name=\"")
        .skip(1)
        .filter_map(|part| {
            let name = part.split('"').next()?;
            let value = part.split("value=\"").nth(1)?.split('"').next()?;
            Some((name.to_string(), value.to_string()))
        })
        .collect();
    (action, hidden)
}

impl Idp {
    /// What a person does at the device code page: enters `user_code`, answers the question
    /// (continue or cancel) and signs in as `username`.
    pub async fn enter_device_code(
        &self,
        verification_uri: &str,
        user_code: &str,
        username: &str,
        password: &str,
        proceed: bool,
    ) {
        let client = Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut at = reqwest::Url::parse(verification_uri).unwrap();
        let page = client
            .get(at.clone())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let submit = |html: String, at: reqwest::Url, extra: Vec<(String, String)>| {
            let client = client.clone();
            async move {
                let (action, mut fields) = form_of(&html);
                fields.extend(extra);
                client
                    .post(at.join(&action).unwrap())
                    .form(&fields)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let code = vec![("user_code".into(), user_code.into())];
        let (response, next) = follow_sign_in(
            &client,
            submit(page, at.clone(), code).await,
            at.clone(),
            username,
            password,
            |_| false,
        )
        .await;
        at = next;
        let question = response.text().await.unwrap();
        assert!(question.contains("Are you trying to sign in"), "{question}");
        let answer = if proceed {
            vec![]
        } else {
            vec![("abort".to_string(), "yes".to_string())]
        };
        let (done, _) = follow_sign_in(
            &client,
            submit(question, at.clone(), answer).await,
            at,
            username,
            password,
            |_| false,
        )
        .await;
        assert_eq!(done.status(), StatusCode::OK);
    }

    /// Polls every `seconds` for device codes from now on (Entra asks for 5).
    pub async fn device_interval(&self, seconds: u64) {
        self.hook("/device-interval", json!({ "seconds": seconds }))
            .await;
    }

    /// The next device code polls answer these errors.
    pub async fn device_poll_errors(&self, errors: &[&str]) {
        self.hook("/device-poll-errors", json!({ "errors": errors }))
            .await;
    }

    pub async fn block_device_code(&self, tenant: &str, block: bool) {
        self.hook(
            "/conditional-access",
            json!({ "tenantId": tenant, "blockDeviceCode": block }),
        )
        .await;
    }

    pub async fn replication_delay(&self, ms: u64) {
        self.hook("/replication-delay", json!({ "ms": ms })).await;
    }

    /// The admin tokens the device code sign-ins got.
    pub async fn device_tokens(&self) -> Vec<String> {
        serde_json::from_value(self.read_hook("/device-tokens").await["tokens"].clone()).unwrap()
    }

    /// The directory's app registrations, service principals and grants.
    pub async fn registrations(&self, tenant: &str) -> Value {
        self.read_hook(&format!("/registrations?tenantId={tenant}"))
            .await
    }
}
