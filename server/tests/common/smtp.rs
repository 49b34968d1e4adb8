//! Starts the tests' SMTP server from `end2end/smtp` (needs its npm packages, which the test
//! command installs) on free ports: tests read the messages Gatehouse sent as people would.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct Smtp {
    /// `smtp://127.0.0.1:<port>`, for `--smtp-url`.
    pub url: String,
    control: String,
    child: Child,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtp {
    pub fn start() -> Smtp {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../end2end/smtp/server.js");
        let mut child = Command::new("node")
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts the test SMTP server (run `npm ci` in end2end/)");
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("the SMTP server prints its ports");
        // "smtp on <port> control on <url>"
        let words: Vec<&str> = first.split_whitespace().collect();
        Smtp {
            url: format!("smtp://127.0.0.1:{}", words[2]),
            control: words[5].to_string(),
            child,
        }
    }

    /// Every message received so far: `from`, `to` (a list), `subject`, `text`.
    pub async fn messages(&self) -> Vec<Value> {
        reqwest::get(format!("{}/messages", self.control))
            .await
            .expect("the SMTP control answers")
            .json()
            .await
            .expect("JSON")
    }
}
