//! A connected organization for tests: its admin (Contoso's, unless a test names another
//! directory) walks the wizard's API against the Entra-shaped provider.

use super::idp::{sign_in_at_provider, Idp, CONTOSO, CONTOSO_PASSWORD, FABRIKAM, SIMON};
use super::{body, spawn_app_allowing, TestApp};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

/// A directory of the test provider, and the organization that connects it.
pub struct Directory {
    pub tenant: &'static str,
    pub organization: &'static str,
    pub slug: &'static str,
    /// The email domain its people sign in with.
    pub domain: &'static str,
    /// The directory user the wizard's test sign-in uses, and their password.
    pub tester: &'static str,
    pub password: &'static str,
}

pub const CONTOSO_DIRECTORY: Directory = Directory {
    tenant: CONTOSO,
    organization: "Contoso",
    slug: "contoso",
    domain: "contoso.com",
    tester: SIMON,
    password: CONTOSO_PASSWORD,
};

pub const FABRIKAM_DIRECTORY: Directory = Directory {
    tenant: FABRIKAM,
    organization: "Fabrikam",
    slug: "fabrikam",
    domain: "fabrikam.com",
    tester: "mallory@fabrikam.com",
    password: "Fabrikam-Demo-2026!",
};

pub const SECRET: &str = "Wizard~Secret.Value_For-Tests_0001";
pub const SECRET_ID: &str = "0e1d2c3b-4a59-4687-9a8b-7c6d5e4f3a2b";

pub struct Wizard {
    pub app: Arc<TestApp>,
    pub idp: Arc<Idp>,
    pub directory: &'static Directory,
    pub admin: Client,
    pub org: String,
    pub client_id: String,
    /// The cloud the admin chooses: `custom` (the provider as an allowed authority), or
    /// `global` when the provider stands in for Entra's global cloud.
    pub cloud: &'static str,
    /// Days from today until the secret the admin saves expires.
    pub secret_days: i64,
}

/// One of the draft's verification checks, by name.
pub fn check<'a>(view: &'a Value, name: &str) -> &'a Value {
    view["draft"]["verification"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["check"] == name)
        .expect("the check is listed")
}

pub fn future_date(days: i64) -> String {
    (time::OffsetDateTime::now_utc().date() + time::Duration::days(days)).to_string()
}

/// Contoso's admin on a fresh Gatehouse that allows the test provider as an authority.
pub async fn wizard() -> Wizard {
    let idp = Idp::start();
    let app = spawn_app_allowing(&idp.url).await;
    wizard_on(idp, app).await
}

/// Contoso's admin on `app` (which must allow `idp`), with Gatehouse registered in Contoso's
/// directory.
pub async fn wizard_on(idp: Idp, app: TestApp) -> Wizard {
    let operator = app.operator().await;
    organization_on(Arc::new(idp), Arc::new(app), &operator, &CONTOSO_DIRECTORY).await
}

impl Wizard {
    /// Another organization on the same Gatehouse and provider, whose admin connects
    /// `directory`.
    pub async fn beside(&self, directory: &'static Directory) -> Wizard {
        let operator = self.app.operator_again().await;
        organization_on(self.idp.clone(), self.app.clone(), &operator, directory).await
    }
}

async fn organization_on(
    idp: Arc<Idp>,
    app: Arc<TestApp>,
    operator: &Client,
    directory: &'static Directory,
) -> Wizard {
    let org = app
        .create_org(operator, directory.organization, directory.slug)
        .await;
    let admin = app
        .admin(operator, &org, &format!("ada@{}", directory.domain))
        .await;
    let client_id = uuid::Uuid::new_v4().to_string();
    idp.register_app(
        directory.tenant,
        &client_id,
        json!([{ "id": SECRET_ID, "value": SECRET, "expires": "2099-01-01T00:00:00Z" }]),
        &format!("{}/auth/callback", app.url),
    )
    .await;
    Wizard {
        app,
        idp,
        directory,
        admin,
        org,
        client_id,
        cloud: "custom",
        secret_days: 365,
    }
}

impl Wizard {
    pub fn path(&self, rest: &str) -> String {
        format!("/organizations/{}/connection{rest}", self.org)
    }

    /// The connection as stored (its configurations' JSON).
    pub async fn stored(&self) -> gatehouse::storage::ConnectionRecord {
        self.app
            .state
            .storage
            .find_connection(&self.org)
            .await
            .expect("the connection reads")
            .expect("the connection is stored")
    }

    pub async fn connection(&self) -> Value {
        body(self.app.get(&self.admin, &self.path("")).await).await
    }

    pub async fn save(
        &self,
        version: i64,
        tenant: &str,
        client_id: &str,
        secret: Option<&str>,
    ) -> reqwest::Response {
        self.put_credentials(json!({
            "version": version, "tenant": tenant, "client_id": client_id,
            "client_secret": secret, "secret_expires_on": future_date(self.secret_days),
        }))
        .await
    }

    /// Saves the credentials with the certificate Gatehouse generated instead of a secret.
    pub async fn save_with_certificate(&self) -> reqwest::Response {
        let version = self.version().await;
        self.put_credentials(json!({
            "version": version, "tenant": self.directory.tenant, "client_id": self.client_id,
            "credential": "certificate",
        }))
        .await
    }

    /// Step 2's request: `fields` with this wizard's cloud and authority.
    async fn put_credentials(&self, mut fields: Value) -> reqwest::Response {
        fields["cloud"] = json!(self.cloud);
        fields["authority_host"] = json!(self.idp.url);
        self.app
            .send(
                &self.admin,
                reqwest::Method::PUT,
                &self.path("/draft/credentials"),
                fields,
            )
            .await
    }

    pub async fn verify(&self, version: i64) -> Value {
        let response = self
            .app
            .post(
                &self.admin,
                &self.path("/draft/verify"),
                json!({"version": version}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        body(response).await
    }
}

pub async fn start_test_sign_in(w: &Wizard) -> String {
    let started = w
        .app
        .post(&w.admin, &w.path("/test-sign-in"), json!({}))
        .await;
    assert_eq!(started.status(), StatusCode::OK);
    body(started).await["authorize_url"]
        .as_str()
        .unwrap()
        .to_string()
}

impl Wizard {
    /// The draft's current version.
    pub async fn version(&self) -> i64 {
        self.connection().await["draft_version"]
            .as_i64()
            .expect("version")
    }

    /// A test sign-in as the directory's tester (B.Simon in Contoso) that must pass.
    pub async fn test_sign_in_as_simon(&self) {
        let url = start_test_sign_in(self).await;
        let callback = sign_in_at_provider(
            &self.admin,
            &url,
            self.directory.tester,
            self.directory.password,
        )
        .await;
        assert_eq!(callback.status(), StatusCode::SEE_OTHER);
        let result = self.connection().await["test_sign_in"].clone();
        assert_eq!(result["passed"], true, "{result}");
    }

    pub async fn set_policy(&self, policy: Value) -> reqwest::Response {
        let mut request = json!({
            "version": self.version().await, "mode": "everyone", "allow_admins": true,
            "create_members": false, "new_member_role": "member",
            "email_domains": [self.directory.domain],
        });
        for (key, value) in policy.as_object().expect("an object") {
            request[key] = value.clone();
        }
        self.app
            .send(
                &self.admin,
                reqwest::Method::PUT,
                &self.path("/draft/policy"),
                request,
            )
            .await
    }

    /// The operator approves a listed email domain: it is proven without a DNS record.
    pub async fn approve_domain(&self, domain: &str) {
        let operator = self.app.operator_again().await;
        let approved = self
            .app
            .post(
                &operator,
                &format!("/organizations/{}/email-domains/{domain}/approve", self.org),
                json!({}),
            )
            .await;
        assert_eq!(approved.status(), StatusCode::OK);
        assert_eq!(body(approved).await["state"], "proven");
    }

    pub async fn activate(&self) -> reqwest::Response {
        let version = self.version().await;
        self.app
            .post(
                &self.admin,
                &self.path("/activate"),
                json!({ "version": version }),
            )
            .await
    }

    /// Saves, verifies, sets `policy` (over "everyone" with the directory's domain), passes a
    /// test sign-in and activates: SSO is on.
    pub async fn connect(&self, policy: Value) {
        assert_eq!(
            self.save(0, self.directory.tenant, &self.client_id, Some(SECRET))
                .await
                .status(),
            StatusCode::OK
        );
        self.verify(1).await;
        assert_eq!(self.set_policy(policy).await.status(), StatusCode::OK);
        self.test_sign_in_as_simon().await;
        let activated = self.activate().await;
        assert_eq!(activated.status(), StatusCode::OK);
        assert_eq!(body(activated).await["status"], "active");
    }

    /// Adds a member and maps them to a directory user; answers the member's id.
    pub async fn add_mapped_member(
        &self,
        email: &str,
        name: &str,
        object_id: &str,
        sso_enabled: bool,
    ) -> String {
        let created = self
            .app
            .post(
                &self.admin,
                &format!("/organizations/{}/members", self.org),
                json!({ "email": email, "display_name": name, "role": "member" }),
            )
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let id = body(created).await["id"].as_str().expect("id").to_string();
        let mapped = self
            .app
            .patch(
                &self.admin,
                &format!("/organizations/{}/members/{id}", self.org),
                json!({ "directory_object_id": object_id, "sso_enabled": sso_enabled }),
            )
            .await;
        assert_eq!(mapped.status(), StatusCode::OK);
        id
    }
}
