//! Test harness: starts the real `tryvoga` binary on a free loopback port with a fresh
//! database, and talks to it over HTTP and Server-Sent Events like any client would.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_tryvoga");

pub struct Server {
    pub child: Child,
    pub base: String,
    /// The admin token printed on first run; `None` when the database already had tokens.
    pub admin: Option<String>,
    pub db: PathBuf,
}

impl Server {
    pub fn start(db: &Path) -> Server {
        Server::start_with(db, &[])
    }

    pub fn start_with(db: &Path, extra: &[&str]) -> Server {
        Server::start_command(Command::new(BIN), db, extra)
    }

    /// The server as a process that may open at most `files` descriptors (`prlimit`).
    pub fn start_with_file_limit(db: &Path, extra: &[&str], files: u64) -> Server {
        let mut command = Command::new("prlimit");
        command.arg(format!("--nofile={files}:{files}")).arg(BIN);
        Server::start_command(command, db, extra)
    }

    fn start_command(mut command: Command, db: &Path, extra: &[&str]) -> Server {
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .args(extra)
            .env("RUST_LOG", "warn")
            .env_remove("TRYVOGA_SIGNING_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tryvoga serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Built before waiting, so that a failed start still kills the child on drop.
        let mut server = Server {
            child,
            base: String::new(),
            admin: None,
            db: db.to_path_buf(),
        };
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("server printed its address within 20 s");
            if let Some(t) = line.strip_prefix("admin token: ") {
                server.admin = Some(t.trim().to_string());
            }
            if let Some(addr) = line.strip_prefix("serving on ") {
                server.base = addr.trim().to_string();
                return server;
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// SIGKILL: no shutdown code runs, as in a power cut.
    pub fn kill9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build()
}

pub fn request(
    method: &str,
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Reply {
    let mut r = agent().request(method, url);
    if let Some(t) = token {
        r = r.set("Authorization", &format!("Bearer {t}"));
    }
    for (k, v) in headers {
        r = r.set(k, v);
    }
    let result = match body {
        Some(b) => r.set("Content-Type", "application/json").send_bytes(b),
        None => r.call(),
    };
    let resp = match result {
        Ok(resp) => resp,
        Err(ureq::Error::Status(_, resp)) => resp,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .filter_map(|n| resp.header(&n).map(|v| (n.clone(), v.to_string())))
        .collect();
    let text = resp.into_string().unwrap_or_default();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Reply {
        status,
        body,
        headers,
    }
}

pub fn get(url: &str) -> Reply {
    request("GET", url, None, &[], None)
}

pub fn post(url: &str, token: &str, body: &Value) -> Reply {
    request(
        "POST",
        url,
        Some(token),
        &[],
        Some(body.to_string().as_bytes()),
    )
}

/// One Server-Sent Event as received.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<u64>,
    pub event: String,
    pub data: Value,
}

/// Opens a stream and forwards its events to a channel from a reader thread. The thread
/// reads at most `take` events and then closes the connection.
pub fn subscribe(url: &str, last_event_id: Option<u64>, take: usize) -> mpsc::Receiver<SseEvent> {
    let mut req = ureq::AgentBuilder::new().build().get(url);
    if let Some(id) = last_event_id {
        req = req.set("Last-Event-ID", &id.to_string());
    }
    let resp = req.call().expect("open stream");
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let reader = BufReader::new(resp.into_reader());
        let mut current = SseEvent {
            id: None,
            event: "message".into(),
            data: Value::Null,
        };
        let mut sent = 0;
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if line.is_empty() {
                if !current.data.is_null() {
                    if tx.send(current.clone()).is_err() {
                        return;
                    }
                    sent += 1;
                    if sent >= take {
                        return;
                    }
                }
                current = SseEvent {
                    id: None,
                    event: "message".into(),
                    data: Value::Null,
                };
            } else if let Some(v) = line.strip_prefix("id: ") {
                current.id = v.parse().ok();
            } else if let Some(v) = line.strip_prefix("event: ") {
                current.event = v.to_string();
            } else if let Some(v) = line.strip_prefix("data: ") {
                current.data = serde_json::from_str(v).unwrap_or(Value::String(v.into()));
            }
        }
    });
    rx
}

/// Runs `tryvoga` with `args`, with no signing key from the environment.
fn run_tryvoga(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("TRYVOGA_SIGNING_KEY")
        .output()
        .expect("run tryvoga")
}

/// Runs `tryvoga` with `args` and expects it to fail; its stderr.
pub fn tryvoga_fails(args: &[&str]) -> String {
    let out = run_tryvoga(args);
    assert!(!out.status.success(), "tryvoga {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `tryvoga` with `args` and expects it to succeed; its stdout, trimmed.
pub fn tryvoga(args: &[&str]) -> String {
    let out = run_tryvoga(args);
    assert!(
        out.status.success(),
        "tryvoga {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// Makes an issuer token offline on the database file, as an operator would.
pub fn issuer_token(db: &Path, name: &str, regions: &str) -> String {
    let db = db.to_str().expect("a UTF-8 temp path");
    let token = tryvoga(&[
        "token",
        "create",
        "--name",
        name,
        "--role",
        "issuer",
        "--regions",
        regions,
        "--db",
        db,
    ]);
    assert!(
        token.starts_with("tv_") && !token.contains(char::is_whitespace),
        "stdout is the token alone when not a terminal: {token:?}"
    );
    token
}

/// A server on a fresh database, and its first-run admin token.
pub fn fresh() -> (tempfile::TempDir, Server, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("tryvoga.db"));
    let admin = server
        .admin
        .clone()
        .expect("first run prints the admin token");
    (dir, server, admin)
}

/// Raises an air-raid alert on `region`.
pub fn start_alert(server: &Server, token: &str, region: Value) -> Reply {
    post(
        &server.url("/api/v1/alerts"),
        token,
        &json!({ "region": region, "type": "air_raid" }),
    )
}
