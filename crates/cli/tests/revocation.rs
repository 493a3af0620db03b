//! A revoked token's open streams end: with `--private-reads`, every SSE and WebSocket stream
//! opened with a reader token (on the lean path and on a reused connection) is closed, with a
//! `revoked` notice, within a second of the revocation, whether it was made through the server
//! or offline on the database file; streams of other tokens go on.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// What a raw stream connection saw, from a reader thread: what it read, as it came, then
/// `None` when the server closed it.
fn open_stream(base: &str, token: &str, request: String) -> mpsc::Receiver<Option<String>> {
    let addr = base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).expect("connect");
    stream
        .write_all(request.replace("TOKEN", token).as_bytes())
        .expect("request");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Chunks, not lines: WebSocket frames carry no line breaks.
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(n) => {
                    let chunk = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if tx.send(Some(chunk)).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

const SSE: &str = "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n\r\n";
const WS: &str = "GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n\
    Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
/// A stream asked for on a connection that already carried a request: the fall-back path.
const REUSED_SSE: &str = "GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n\r\n\
    GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n\r\n";

/// Waits until the stream has said `needle` (within `within`).
fn saw(rx: &mpsc::Receiver<Option<String>>, needle: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut seen = String::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(Some(chunk)) => {
                seen.push_str(&chunk);
                if seen.contains(needle) {
                    return true;
                }
            }
            Ok(None) | Err(_) => return false,
        }
    }
    false
}

/// Waits for the server to close the stream; how long after `since` it did.
fn closed(
    rx: &mpsc::Receiver<Option<String>>,
    since: Instant,
    within: Duration,
) -> Option<Duration> {
    let deadline = Instant::now() + within;
    let mut seen = String::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(Some(chunk)) => seen.push_str(&chunk),
            Ok(None) => {
                assert!(
                    seen.contains("\"kind\":\"revoked\""),
                    "closed without the revoked notice: {seen:?}"
                );
                return Some(since.elapsed());
            }
            Err(_) => return None,
        }
    }
    None
}

fn reader(server: &Server, admin: &str, name: &str) -> String {
    let made = post(
        &server.url("/api/v1/tokens"),
        admin,
        &json!({ "name": name, "role": "reader" }),
    );
    assert_eq!(made.status, 201, "{:?}", made.body);
    made.body["token"].as_str().expect("secret").to_string()
}

#[test]
fn a_revoked_tokens_streams_end_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(&dir.path().join("t.db"), &["--private-reads"]);
    let admin = server.admin.clone().expect("admin token");
    let (doomed, other) = (
        reader(&server, &admin, "doomed"),
        reader(&server, &admin, "other"),
    );

    let streams: Vec<_> = [SSE, WS, REUSED_SSE]
        .iter()
        .map(|r| open_stream(&server.base, &doomed, r.to_string()))
        .collect();
    let survivor = open_stream(&server.base, &other, SSE.to_string());
    // Every stream is live: each gets the alert.
    assert_eq!(start_alert(&server, &admin, json!(14)).status, 201);
    for (i, s) in streams.iter().chain([&survivor]).enumerate() {
        assert!(
            saw(s, "alert.started", Duration::from_secs(5)),
            "stream {i} live"
        );
    }

    let revoked_at = Instant::now();
    let revoked = request(
        "DELETE",
        &server.url("/api/v1/tokens/doomed"),
        Some(&admin),
        &[],
        None,
    );
    assert_eq!(revoked.status, 200, "{:?}", revoked.body);
    for (i, s) in streams.iter().enumerate() {
        let took = closed(s, revoked_at, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("stream {i} still open 5 s after the revocation"));
        println!(
            "stream {i} closed {} ms after the revocation",
            took.as_millis()
        );
        assert!(
            took < Duration::from_secs(1),
            "stream {i} closed after {took:?}"
        );
    }
    // The other token's stream goes on.
    assert_eq!(start_alert(&server, &admin, json!(27)).status, 201);
    assert!(saw(&survivor, "alert.started", Duration::from_secs(5)));

    // Offline, on the database file: the same within a second of the command returning.
    let offline = open_stream(&server.base, &other, SSE.to_string());
    assert_eq!(start_alert(&server, &admin, json!(18)).status, 201);
    assert!(saw(&offline, "alert.started", Duration::from_secs(5)));
    let out = std::process::Command::new(BIN)
        .args(["token", "revoke", "other", "--db"])
        .arg(&server.db)
        .output()
        .expect("token revoke");
    assert!(out.status.success(), "{out:?}");
    let returned = Instant::now();
    for s in [&survivor, &offline] {
        let took = closed(s, returned, Duration::from_secs(5))
            .expect("closed after an offline revocation");
        println!(
            "offline revocation: closed {} ms after the command returned",
            took.as_millis()
        );
        assert!(took < Duration::from_secs(1), "closed after {took:?}");
    }
    // A revoked token cannot open a new one.
    let mut again = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    again
        .write_all(SSE.replace("TOKEN", &doomed).as_bytes())
        .unwrap();
    let mut answer = String::new();
    again
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = again.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer:?}");
}
