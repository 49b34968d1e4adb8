//! Starts the Entra-shaped provider from `end2end/idp` (needs its npm packages, which the test
//! command installs) on a free port, for tests that talk to a directory.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub const CONTOSO: &str = "6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11";
pub const SIMON_OID: &str = "3b2e8a4f-5c1d-4e7a-9f60-1d2c3b4a5e6f";

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

    /// Registers an app in a directory, as an admin would in the Entra portal.
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
            }))
            .send()
            .await
            .expect("test hook");
        assert_eq!(response.status(), 201);
    }
}
