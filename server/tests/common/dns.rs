//! Starts the tests' DNS server from `end2end/dns` (needs its npm packages, which the test
//! command installs) on free ports: tests set a domain's TXT records as its owner would.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct Dns {
    /// `127.0.0.1:<port>`, for `--dns-server`.
    pub address: String,
    control: String,
    child: Child,
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dns {
    pub fn start() -> Dns {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../end2end/dns/server.js");
        let mut child = Command::new("node")
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts the test DNS server (run `npm ci` in end2end/)");
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("the DNS server prints its ports");
        // "dns on <port> control on <url>"
        let words: Vec<&str> = first.split_whitespace().collect();
        Dns {
            address: format!("127.0.0.1:{}", words[2]),
            control: words[5].to_string(),
            child,
        }
    }

    /// Sets the name's TXT records.
    pub async fn set_txt(&self, name: &str, values: &[&str]) {
        self.put(name, serde_json::json!({ "txt": values })).await;
    }

    /// The name answers SERVFAIL, as during an outage of the domain's DNS.
    pub async fn fail(&self, name: &str) {
        self.put(name, serde_json::json!({ "fail": true })).await;
    }

    /// The name no longer exists.
    pub async fn remove(&self, name: &str) {
        let response = reqwest::Client::new()
            .delete(format!("{}/records/{name}", self.control))
            .send()
            .await
            .expect("the DNS control answers");
        assert!(response.status().is_success());
    }

    async fn put(&self, name: &str, body: serde_json::Value) {
        let response = reqwest::Client::new()
            .put(format!("{}/records/{name}", self.control))
            .json(&body)
            .send()
            .await
            .expect("the DNS control answers");
        assert!(response.status().is_success());
    }
}
