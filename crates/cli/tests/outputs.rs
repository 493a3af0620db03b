//! The outputs against the real binary: signed events checked offline by `tryvoga verify`
//! (and a tampered one refused), a WebSocket subscriber resuming with no gap, CAP messages
//! and the Atom feed, webhooks through a receiver that is down for 30 s and a server killed
//! meanwhile, dead letters, and MQTT statuses retained by a real mosquitto.
//!
//! Longer than most test files, on purpose: each output is tested end to end against one real
//! binary and shares this file's receivers and helpers (a webhook receiver that can be down, a
//! mosquitto broker, offline verification); splitting it would copy them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BIN, Server, get, post, request, tryvoga, tryvoga_fails};
use serde_json::{Value, json};

/// The webhook receivers of these tests listen on loopback, which a server refuses to deliver
/// to unless its operator allows it.
const LOCAL_RECEIVERS: [&str; 2] = ["--webhook-allow", "127.0.0.0/8"];

fn start_alert(server: &Server, token: &str, region: &str) -> Value {
    let r = post(
        &server.url("/api/v1/alerts"),
        token,
        &json!({ "region": region, "type": "air_raid" }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

fn end_alert(server: &Server, token: &str, id: u64) {
    let r = post(
        &server.url(&format!("/api/v1/alerts/{id}/end")),
        token,
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

fn verify(args: &[&str], file: &Path) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("verify")
        .args(args)
        .arg(file)
        .output()
        .expect("run tryvoga verify");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn text(url: &str) -> String {
    ureq::get(url)
        .call()
        .expect("GET")
        .into_string()
        .expect("text")
}

/// Reads a raw SSE stream until it has `events` events, as a device would save it.
fn save_stream(url: &str, events: usize) -> String {
    let resp = ureq::get(url).call().expect("open stream");
    let mut reader = BufReader::new(resp.into_reader());
    let mut saved = String::new();
    let mut seen = 0;
    while seen < events {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).expect("read") > 0,
            "stream ended"
        );
        if line.starts_with("data: ") {
            seen += 1;
        }
        saved.push_str(&line);
    }
    saved
}

#[test]
fn every_event_is_signed_and_a_tampered_one_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let server = Server::start(&db);
    let admin = server.admin.clone().expect("admin token");
    let a = start_alert(&server, &admin, "Kyiv");
    start_alert(&server, &admin, "Lviv oblast");
    end_alert(&server, &admin, a["id"].as_u64().unwrap());

    let key = dir.path().join("key.json");
    std::fs::write(&key, text(&server.url("/.well-known/tryvoga-key"))).unwrap();
    let keys: Value = serde_json::from_str(&std::fs::read_to_string(&key).unwrap()).unwrap();
    assert_eq!(keys["keys"][0]["alg"], "ed25519");

    // The stream as received, and the log as paged: both verify offline.
    let stream = save_stream(&server.url("/api/v1/stream?after=0"), 3);
    let sse = dir.path().join("stream.sse");
    std::fs::write(&sse, &stream).unwrap();
    let (ok, out) = verify(&["--key", key.to_str().unwrap()], &sse);
    assert!(ok, "{out}");
    assert!(out.contains("verified 3 events"), "{out}");
    let log = dir.path().join("events.json");
    std::fs::write(&log, text(&server.url("/api/v1/events?after=0"))).unwrap();
    assert!(verify(&["--key", key.to_str().unwrap()], &log).0);
    assert!(verify(&["--db", db.to_str().unwrap()], &log).0);

    // One changed word in one event: refused, naming the event.
    let tampered = stream.replacen("\"Lviv", "\"Lvov", 1);
    assert_ne!(tampered, stream);
    std::fs::write(&sse, &tampered).unwrap();
    let (ok, out) = verify(&["--key", key.to_str().unwrap()], &sse);
    assert!(!ok, "a tampered event must fail: {out}");
    assert!(out.contains("event 2"), "{out}");

    // Signed by another server's key: refused too.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Server::start(&other_dir.path().join("o.db"));
    std::fs::write(&sse, &stream).unwrap();
    let (ok, out) = verify(&["--server", &other.base], &sse);
    assert!(!ok && out.contains("not trusted"), "{out}");
    let (ok, _) = verify(&["--server", &server.base], &sse);
    assert!(ok);
}

#[test]
fn events_written_with_no_server_are_signed_with_the_records_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let db_arg = db.to_str().unwrap();
    // Before any server has run: the commands make the record's key, as serve would.
    let csv = dir.path().join("sirens.csv");
    std::fs::write(
        &csv,
        "oblast,raion,hromada,level,started_at,finished_at,source\n\
         Vinnytska oblast,,,oblast,2023-05-01 01:10:00+00:00,2023-05-01 02:00:00+00:00,official\n\
         Lvivska oblast,,,oblast,2023-05-01 01:20:00+00:00,2023-05-01 01:45:00+00:00,official\n",
    )
    .unwrap();
    tryvoga(&["import", "sirens", csv.to_str().unwrap(), "--db", db_arg]);
    let id = tryvoga(&["alert", "start", "--region", "Kyiv", "--db", db_arg]);
    tryvoga(&["alert", "end", &id, "--db", db_arg]);
    let server = Server::start(&db);
    let admin = server.admin.clone().expect("admin token");
    start_alert(&server, &admin, "Odesa oblast");

    let log = dir.path().join("events.json");
    std::fs::write(&log, text(&server.url("/api/v1/events?after=0"))).unwrap();
    let (ok, out) = verify(&["--server", &server.base], &log);
    assert!(
        ok,
        "imported, offline and served events verify alike: {out}"
    );
    assert!(out.contains("verified 5 events"), "{out}");
    drop(server);

    // A record whose server keeps its key elsewhere: the command is told where.
    let key = dir.path().join("elsewhere.pem");
    let key_arg = key.to_str().unwrap();
    let db2 = dir.path().join("t2.db");
    let db2_arg = db2.to_str().unwrap();
    let sig_args = ["--signing-key", key_arg];
    let id = tryvoga(&[
        "alert",
        "start",
        "--region",
        "Lviv oblast",
        "--db",
        db2_arg,
        "--signing-key",
        key_arg,
    ]);
    let server = Server::start_with(&db2, &sig_args);
    // The server holds the database: the command fails before it makes a key of its own.
    let busy = tryvoga_fails(&["alert", "end", &id, "--db", db2_arg]);
    assert!(busy.contains("in use") || busy.contains("busy"), "{busy}");
    assert!(
        !tryvoga_outputs::signing::key_path(&db2).exists(),
        "no second key beside the database"
    );
    drop(server);
    tryvoga(&[
        "alert",
        "cancel",
        &id,
        "--reason",
        "a drill",
        "--db",
        db2_arg,
        "--signing-key",
        key_arg,
    ]);
    assert!(key.exists(), "the key is made where the record keeps it");

    // Forgetting where the key is, or giving another record's, signs nothing.
    let forgot = tryvoga_fails(&[
        "alert",
        "start",
        "--region",
        "Kharkiv oblast",
        "--db",
        db2_arg,
    ]);
    assert!(forgot.contains("no key there"), "{forgot}");
    assert!(!tryvoga_outputs::signing::key_path(&db2).exists());
    let wrong = tryvoga_fails(&[
        "alert",
        "start",
        "--region",
        "Kharkiv oblast",
        "--db",
        db_arg,
        "--signing-key",
        key_arg,
    ]);
    assert!(wrong.contains("is not the record's"), "{wrong}");

    let server = Server::start_with(&db2, &sig_args);
    let log = dir.path().join("events2.json");
    std::fs::write(&log, text(&server.url("/api/v1/events?after=0"))).unwrap();
    let (ok, out) = verify(&["--server", &server.base], &log);
    assert!(ok, "{out}");
    assert!(out.contains("verified 2 events"), "{out}");
}

fn ws_connect(url: &str) -> tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>> {
    let (mut socket, _) = tungstenite::connect(url).expect("WebSocket connects");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = socket.get_mut() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    socket
}

/// The next JSON text message, skipping pings.
fn ws_next(
    socket: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
) -> Value {
    loop {
        match socket.read().expect("a message within 10 s") {
            tungstenite::Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn a_websocket_subscriber_resumes_with_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("t.db"));
    let admin = server.admin.clone().unwrap();
    let ws = server.base.replace("http://", "ws://");
    let mut socket = ws_connect(&format!("{ws}/api/v1/ws?after=0"));
    assert_eq!(ws_next(&mut socket)["kind"], "hello");
    let mut seen = Vec::new();
    for region in ["Kyiv", "Odesa oblast", "Kharkiv oblast"] {
        start_alert(&server, &admin, region);
        let e = ws_next(&mut socket);
        assert!(e["sig"].as_str().unwrap().starts_with("ed25519:"), "{e}");
        seen.push(e["seq"].as_u64().unwrap());
    }
    let _ = socket.close(None);
    drop(socket);
    // Events happen while the subscriber is away.
    for region in [
        "Lviv oblast",
        "Sumy oblast",
        "Poltava oblast",
        "Chernihiv oblast",
    ] {
        start_alert(&server, &admin, region);
    }
    let last = *seen.last().unwrap();
    let mut socket = ws_connect(&format!("{ws}/api/v1/ws?after={last}"));
    assert_eq!(ws_next(&mut socket)["after"], last);
    for _ in 0..4 {
        seen.push(ws_next(&mut socket)["seq"].as_u64().unwrap());
    }
    start_alert(&server, &admin, "Zhytomyr oblast");
    seen.push(ws_next(&mut socket)["seq"].as_u64().unwrap());
    assert_eq!(seen, (1..=8).collect::<Vec<u64>>(), "no gap, no repeat");
}

#[test]
fn cap_messages_follow_an_alert_and_the_feed_carries_them_signed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &dir.path().join("t.db"),
        &["--cap-sender", "tryvoga@test.example"],
    );
    let admin = server.admin.clone().unwrap();
    let a = start_alert(&server, &admin, "Kyiv oblast");
    let id = a["id"].as_u64().unwrap();
    let r = request(
        "PATCH",
        &server.url(&format!("/api/v1/alerts/{id}")),
        Some(&admin),
        &[],
        Some(br#"{"level":"red"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let b = start_alert(&server, &admin, "Odesa oblast");
    let r = post(
        &server.url(&format!("/api/v1/alerts/{}/cancel", b["id"])),
        &admin,
        &json!({"reason": "sensor fault"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    let latest = text(&server.url(&format!("/api/v1/alerts/{id}.cap")));
    assert!(latest.contains("<msgType>Update</msgType>"), "{latest}");
    assert!(latest.contains("<references>tryvoga@test.example,tryvoga-"));
    assert!(
        latest.contains("<language>uk-UA</language>")
            && latest.contains("<language>en-US</language>")
    );
    assert!(latest.contains("<valueName>ISO3166-2</valueName>"));
    assert!(latest.contains("<valueName>KATOTTG</valueName>"));
    assert!(latest.contains("<polygon>"));
    let first = text(&server.url(&format!("/api/v1/alerts/{id}.cap?seq=1")));
    assert!(first.contains("<msgType>Alert</msgType>") && !first.contains("<references>"));
    let cancel = text(&server.url(&format!("/api/v1/alerts/{}/cap", b["id"])));
    assert!(cancel.contains("<msgType>Cancel</msgType>") && cancel.contains("sensor fault"));
    // JSON is still served at the same path without the suffix.
    assert_eq!(
        get(&server.url(&format!("/api/v1/alerts/{id}"))).body["id"],
        id
    );
    assert_eq!(get(&server.url("/api/v1/alerts/nope.cap")).status, 400);
    assert_eq!(get(&server.url("/api/v1/alerts/999.cap")).status, 404);
    assert_eq!(
        get(&server.url(&format!("/api/v1/alerts/{id}.cap?seq=x"))).status,
        400
    );

    let feed = text(&server.url("/feeds/cap.atom"));
    assert_eq!(feed.matches("<entry>").count(), 2, "{feed}");
    let key = dir.path().join("key.json");
    std::fs::write(&key, text(&server.url("/.well-known/tryvoga-key"))).unwrap();
    for (name, xml) in [("latest.cap", &latest), ("feed.atom", &feed)] {
        let path = dir.path().join(name);
        std::fs::write(&path, xml).unwrap();
        let (ok, out) = verify(&["--key", key.to_str().unwrap()], &path);
        assert!(ok, "{name}: {out}");
        std::fs::write(&path, xml.replacen("Immediate", "Expected", 1)).unwrap();
        let (ok, out) = verify(&["--key", key.to_str().unwrap()], &path);
        assert!(!ok, "{name} tampered must fail: {out}");
    }
}

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
struct Delivery {
    id: String,
    seq: u64,
    accepted: bool,
}

/// A webhook receiver that checks Standard Webhooks HMAC signatures and a 5-minute replay
/// window, and answers the first attempt of `fail_once` with a 500 after recording it (as
/// if its answer were lost), so the sender repeats a delivery it already made.
struct Receiver {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn bind() -> TcpListener {
        TcpListener::bind("127.0.0.1:0").unwrap()
    }

    fn start(
        listener: TcpListener,
        secret: Arc<Mutex<String>>,
        log: Arc<Mutex<Vec<Delivery>>>,
        fail_once: u64,
    ) -> Receiver {
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => handle(stream, &secret, &log, fail_once),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Receiver {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Closes the listening socket: connections are refused until it is back.
    fn take_down(mut self) -> u16 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.port
    }
}

/// Parses one HTTP request, checks its signature and records it; answers 401 if the
/// signature or timestamp is wrong.
fn handle(
    mut stream: TcpStream,
    secret: &Mutex<String>,
    log: &Mutex<Vec<Delivery>>,
    fail_once: u64,
) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut headers = BTreeMap::new();
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let status = match check(&headers, &body, &secret.lock().unwrap()) {
        Ok((id, seq)) => {
            let mut log = log.lock().unwrap();
            let first_of_kind = !log.iter().any(|d| d.seq == seq);
            log.push(Delivery {
                id,
                seq,
                accepted: true,
            });
            if seq == fail_once && first_of_kind {
                500
            } else {
                200
            }
        }
        Err(_) => 401,
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
}

fn check(
    headers: &BTreeMap<String, String>,
    body: &[u8],
    secret: &str,
) -> Result<(String, u64), String> {
    let id = headers.get("webhook-id").ok_or("no id")?;
    let ts: i64 = headers
        .get("webhook-timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or("no timestamp")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (now - ts).abs() > 300 {
        return Err("outside the replay window".into());
    }
    let mut content = format!("{id}.{ts}.").into_bytes();
    content.extend_from_slice(body);
    let expected =
        tryvoga_outputs::webhooks::hmac_signature(secret, &content).map_err(|e| e.to_string())?;
    let given = headers.get("webhook-signature").ok_or("no signature")?;
    if !given.split(' ').any(|s| s == expected) {
        return Err("bad signature".into());
    }
    let event: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok((id.clone(), event["seq"].as_u64().ok_or("no seq")?))
}

/// Sends a request to the receiver as an attacker would, and returns its status.
fn forge(port: u16, id: &str, ts: i64, signature: &str, body: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /hook HTTP/1.1\r\nhost: x\r\nwebhook-id: {id}\r\nwebhook-timestamp: {ts}\r\nwebhook-signature: {signature}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn a_webhook_receiver_down_for_30_s_gets_every_delivery_exactly_once_after_dedup() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let fast = [
        LOCAL_RECEIVERS[0],
        LOCAL_RECEIVERS[1],
        "--webhook-retry-base-ms",
        "200",
        "--webhook-retry-max-ms",
        "2000",
        "--webhook-max-attempts",
        "1000",
    ];
    let server = Server::start_with(&db, &fast);
    let admin = server.admin.clone().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let secret = Arc::new(Mutex::new(String::new()));
    // The receiver answers seq 2's first attempt with a 500 after recording it.
    let receiver = Receiver::start(Receiver::bind(), secret.clone(), log.clone(), 2);
    let port = receiver.port;
    let created = post(
        &server.url("/api/v1/webhooks"),
        &admin,
        &json!({"url": format!("http://127.0.0.1:{port}/hook"), "regions": ["Kyiv oblast", "Kyiv"], "types": ["air_raid"]}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    *secret.lock().unwrap() = created.body["secret"].as_str().unwrap().to_string();
    let hook = created.body["id"].as_str().unwrap().to_string();
    assert!(
        created.body["secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    let listed = request(
        "GET",
        &server.url("/api/v1/webhooks"),
        Some(&admin),
        &[],
        None,
    );
    assert!(
        listed.body["webhooks"][0].get("secret").is_none(),
        "secrets are shown once"
    );

    let mut expected = BTreeSet::new();
    let a = start_alert(&server, &admin, "Kyiv");
    expected.insert(a["seq"].as_u64().unwrap());
    let b = start_alert(&server, &admin, "75"); // Buchanskyi raion, within Kyiv oblast
    expected.insert(b["seq"].as_u64().unwrap());
    start_alert(&server, &admin, "Lviv oblast"); // not subscribed
    // Seq 2 arrives twice: its first answer was a 500.
    assert!(
        wait_until(Duration::from_secs(20), || {
            let log = log.lock().unwrap();
            let got: BTreeSet<u64> = log.iter().map(|d| d.seq).collect();
            got == expected && log.len() == 3
        }),
        "deliveries while up: {:?}",
        log.lock().unwrap()
    );

    // Down for 30 s; meanwhile alerts start and end, and the server is killed and restarted.
    let port = receiver.take_down();
    let down_at = Instant::now();
    let c = start_alert(&server, &admin, "Kyiv oblast");
    expected.insert(c["seq"].as_u64().unwrap());
    let r = post(
        &server.url(&format!("/api/v1/alerts/{}/end", a["id"])),
        &admin,
        &json!({}),
    );
    expected.insert(r.body["seq"].as_u64().unwrap());
    std::thread::sleep(Duration::from_secs(3));
    server.kill9();
    let server = Server::start_with(&db, &fast);
    let r = post(
        &server.url(&format!("/api/v1/alerts/{}/end", b["id"])),
        &admin,
        &json!({}),
    );
    expected.insert(r.body["seq"].as_u64().unwrap());
    let hooks = request(
        "GET",
        &server.url(&format!("/api/v1/webhooks/{hook}")),
        Some(&admin),
        &[],
        None,
    );
    assert!(
        hooks.body["attempts"].as_u64().unwrap_or(0) >= 1 || hooks.body["last_error"].is_string(),
        "{}",
        hooks.body
    );
    std::thread::sleep(Duration::from_secs(30).saturating_sub(down_at.elapsed()));
    assert!(down_at.elapsed() >= Duration::from_secs(30));
    assert_eq!(
        log.lock().unwrap().len(),
        3,
        "nothing arrives while the receiver is down"
    );

    let listener = TcpListener::bind(("127.0.0.1", port)).expect("the receiver's port again");
    let receiver = Receiver::start(listener, secret.clone(), log.clone(), 2);
    assert!(
        wait_until(Duration::from_secs(30), || {
            let got: BTreeSet<u64> = log.lock().unwrap().iter().map(|d| d.seq).collect();
            got == expected
        }),
        "after the receiver came back: {:?} expected {expected:?}",
        log.lock().unwrap()
    );
    let deliveries = log.lock().unwrap().clone();
    // At least once: seq 2 came twice with the same id; deduplicated, each exactly once.
    let mut by_id: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for d in &deliveries {
        assert!(d.accepted);
        by_id.entry(d.id.clone()).or_default().push(d.seq);
    }
    assert!(
        deliveries.len() > by_id.len(),
        "the failed answer made a repeat: {deliveries:?}"
    );
    let unique: Vec<u64> = by_id
        .values()
        .map(|s| s[0])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(unique, expected.iter().copied().collect::<Vec<_>>());
    assert_eq!(by_id.len(), expected.len(), "one id per event");
    for (id, seqs) in &by_id {
        assert_eq!(id, &format!("{hook}-{}", seqs[0]));
    }
    // Deliveries came in log order.
    let order: Vec<u64> = deliveries.iter().map(|d| d.seq).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);

    // A tampered body, a forged signature and a replayed old timestamp are all refused.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let body = r#"{"seq":99,"kind":"alert.started"}"#;
    let key = secret.lock().unwrap().clone();
    let good =
        tryvoga_outputs::webhooks::hmac_signature(&key, format!("x-99.{now}.{body}").as_bytes())
            .unwrap();
    assert_eq!(forge(port, "x-99", now, &good, body), 200);
    assert_eq!(
        forge(port, "x-99", now, &good, &body.replace("99", "98")),
        401
    );
    assert_eq!(forge(port, "x-99", now, "v1,AAAA", body), 401);
    let old = now - 3600;
    let stale =
        tryvoga_outputs::webhooks::hmac_signature(&key, format!("x-99.{old}.{body}").as_bytes())
            .unwrap();
    assert_eq!(forge(port, "x-99", old, &stale, body), 401);
    receiver.take_down();
    let _ = server;
}

#[test]
fn deliveries_that_keep_failing_go_to_the_dead_letter_list() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &dir.path().join("t.db"),
        &[
            LOCAL_RECEIVERS[0],
            LOCAL_RECEIVERS[1],
            "--webhook-retry-base-ms",
            "20",
            "--webhook-retry-max-ms",
            "50",
            "--webhook-max-attempts",
            "3",
        ],
    );
    let admin = server.admin.clone().unwrap();
    // A port nobody listens on.
    let port = Receiver::bind().local_addr().unwrap().port();
    let created = post(
        &server.url("/api/v1/webhooks"),
        &admin,
        &json!({"url": format!("http://127.0.0.1:{port}/"), "signing": "ed25519"}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(created.body.get("secret").is_none());
    let hook = created.body["id"].as_str().unwrap().to_string();
    start_alert(&server, &admin, "Kyiv");
    start_alert(&server, &admin, "Odesa oblast");
    let url = server.url(&format!("/api/v1/webhooks/{hook}/dead-letters"));
    assert!(wait_until(Duration::from_secs(20), || {
        request("GET", &url, Some(&admin), &[], None).body["dead_letters"]
            .as_array()
            .is_some_and(|d| d.len() == 2)
    }));
    let letters = request("GET", &url, Some(&admin), &[], None).body;
    assert_eq!(
        letters["dead_letters"][0]["delivery_id"],
        format!("{hook}-1")
    );
    assert_eq!(letters["dead_letters"][0]["attempts"], 3);

    // Bad input is a 4xx; a reader may not manage webhooks; others' hooks are not found.
    let bad = post(
        &server.url("/api/v1/webhooks"),
        &admin,
        &json!({"url": "ftp://x"}),
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    let bad = post(
        &server.url("/api/v1/webhooks"),
        &admin,
        &json!({"url": "http://x", "types": ["rain"]}),
    );
    assert_eq!(bad.status, 422);
    let bad = request(
        "POST",
        &server.url("/api/v1/webhooks"),
        Some(&admin),
        &[],
        Some(b"{nope"),
    );
    assert_eq!(bad.status, 400);
    let issuer = common::issuer_token(&server.db, "kyiv-duty", "Kyiv");
    assert_eq!(request("GET", &url, Some(&issuer), &[], None).status, 404);
    assert_eq!(request("GET", &url, None, &[], None).status, 401);
    let r = request(
        "DELETE",
        &server.url(&format!("/api/v1/webhooks/{hook}")),
        Some(&admin),
        &[],
        None,
    );
    assert_eq!(r.status, 204);
    assert_eq!(request("GET", &url, Some(&admin), &[], None).status, 404);
}

#[test]
fn webhooks_never_reach_the_servers_own_network_unless_the_operator_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let db_arg = db.to_str().unwrap();
    let server = Server::start(&db);
    let admin = server.admin.clone().unwrap();
    let reader = tryvoga(&[
        "token", "create", "--name", "r", "--role", "reader", "--db", db_arg,
    ]);
    let log = Arc::new(Mutex::new(Vec::new()));
    let secret = Arc::new(Mutex::new(String::new()));
    let receiver = Receiver::start(Receiver::bind(), secret.clone(), log.clone(), 0);
    let port = receiver.port;
    let hostile = [
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.1/".into(),
        "http://192.168.0.1/".into(),
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        format!("http://127.1:{port}/hook"),
        "http://2130706433/".into(),
        "http://0x7f000001/".into(),
        "http://0.0.0.0/".into(),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        "http://[fd12::1]/".into(),
        "http://[fe80::1]/".into(),
        "http://224.0.0.1/".into(),
    ];
    for url in &hostile {
        let r = post(
            &server.url("/api/v1/webhooks"),
            &admin,
            &json!({ "url": url }),
        );
        assert_eq!(r.status, 422, "{url}: {}", r.body);
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("not delivered to"), "{url}: {message}");
        let r = request(
            "POST",
            &server.url("/api/v3/webhook"),
            None,
            &[("authorization", reader.as_str())],
            Some(json!({ "webHookUrl": url }).to_string().as_bytes()),
        );
        assert_eq!(r.status, 422, "v3 {url}: {}", r.body);
    }
    let listed = request(
        "GET",
        &server.url("/api/v1/webhooks"),
        Some(&admin),
        &[],
        None,
    );
    assert_eq!(listed.body["webhooks"], json!([]), "nothing was registered");
    start_alert(&server, &admin, "Kyiv");
    std::thread::sleep(Duration::from_millis(500));
    drop(server);

    // The operator allows loopback: the receiver is registered and hears the next alert.
    let fast = [
        "--webhook-retry-base-ms",
        "100",
        "--webhook-retry-max-ms",
        "200",
        "--webhook-max-attempts",
        "1000",
    ];
    let allowing: Vec<&str> = fast
        .iter()
        .chain(&["--webhook-allow", "127.0.0.1"])
        .copied()
        .collect();
    let server = Server::start_with(&db, &allowing);
    let created = post(
        &server.url("/api/v1/webhooks"),
        &admin,
        &json!({ "url": format!("http://127.0.0.1:{port}/hook") }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    *secret.lock().unwrap() = created.body["secret"].as_str().unwrap().to_string();
    let hook = created.body["id"].as_str().unwrap().to_string();
    let first = start_alert(&server, &admin, "Lviv oblast")["seq"]
        .as_u64()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || log
        .lock()
        .unwrap()
        .len()
        == 1));
    assert_eq!(log.lock().unwrap()[0].seq, first);
    drop(server);

    // Without the allowance the same stored webhook is checked again at delivery, as a name
    // that now resolves elsewhere would be: nothing reaches the receiver.
    let server = Server::start_with(&db, &fast);
    start_alert(&server, &admin, "Odesa oblast");
    let hook_url = server.url(&format!("/api/v1/webhooks/{hook}"));
    let refused = || {
        request("GET", &hook_url, Some(&admin), &[], None).body["last_error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        wait_until(Duration::from_secs(10), || refused().contains("loopback")),
        "{}",
        refused()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(log.lock().unwrap().len(), 1, "no delivery reached loopback");
    drop(receiver);
}

/// A receiver that counts the POSTs it is sent and answers each 200, whatever they carry.
struct Counter {
    port: u16,
    count: Arc<Mutex<u64>>,
    stop: Arc<AtomicBool>,
}

impl Counter {
    fn start() -> Counter {
        let listener = Receiver::bind();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let (count, stop) = (Arc::new(Mutex::new(0)), Arc::new(AtomicBool::new(false)));
        let (c, st) = (count.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut line, mut len) = (String::new(), 0usize);
                while reader.read_line(&mut line).unwrap_or(0) > 0 && !line.trim().is_empty() {
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0u8; len];
                if reader.read_exact(&mut body).is_ok() {
                    *c.lock().unwrap() += 1;
                }
                let mut stream = stream;
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Counter { port, count, stop }
    }

    fn count(&self) -> u64 {
        *self.count.lock().unwrap()
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_revoked_tokens_webhooks_are_paused_and_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let db_arg = db.to_str().unwrap();
    let server = Server::start_with(&db, &LOCAL_RECEIVERS);
    let admin = server.admin.clone().unwrap();
    let token = |name: &str, role: &str| {
        tryvoga(&[
            "token", "create", "--name", name, "--role", role, "--db", db_arg,
        ])
    };
    let (owner, other, reader) = (
        token("hooks", "admin"),
        token("other-hooks", "admin"),
        token("ua-reader", "reader"),
    );
    let (revoked_native, kept_native, revoked_compat) =
        (Counter::start(), Counter::start(), Counter::start());
    for (tok, counter) in [(&owner, &revoked_native), (&other, &kept_native)] {
        let r = post(
            &server.url("/api/v1/webhooks"),
            tok,
            &json!({ "url": format!("http://127.0.0.1:{}/hook", counter.port) }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = request(
        "POST",
        &server.url("/api/v3/webhook"),
        None,
        &[("authorization", reader.as_str())],
        Some(
            json!({ "webHookUrl": format!("http://127.0.0.1:{}/ua", revoked_compat.port) })
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    start_alert(&server, &admin, "Kyiv");
    let all = [&revoked_native, &kept_native, &revoked_compat];
    assert!(
        wait_until(Duration::from_secs(10), || all
            .iter()
            .all(|c| c.count() == 1)),
        "{:?}",
        all.map(|c| c.count())
    );

    // One revoked through the server, one offline beside it: neither hears the next alerts.
    let r = request(
        "DELETE",
        &server.url("/api/v1/tokens/hooks"),
        Some(&admin),
        &[],
        None,
    );
    assert!(
        r.status == 200 || r.status == 204,
        "{} {}",
        r.status,
        r.body
    );
    tryvoga(&["token", "revoke", "ua-reader", "--db", db_arg]);
    start_alert(&server, &admin, "Lviv oblast");
    start_alert(&server, &admin, "Odesa oblast");
    assert!(wait_until(Duration::from_secs(10), || kept_native.count() == 3));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        revoked_native.count(),
        1,
        "a revoked admin's webhook is paused"
    );
    assert_eq!(
        revoked_compat.count(),
        1,
        "a revoked key's ukrainealarm webhook is paused"
    );
    let listed = request(
        "GET",
        &server.url("/api/v1/webhooks"),
        Some(&admin),
        &[],
        None,
    );
    let paused: Vec<&Value> = listed.body["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["owner"] == "hooks")
        .collect();
    assert_eq!(paused.len(), 1, "{}", listed.body);
    let why = paused[0]["last_error"].as_str().unwrap_or_default();
    assert!(why.contains("revoked"), "{why}");
}

/// A mosquitto on a free loopback port with its own config, stopped on drop.
struct Mosquitto {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    fn start() -> Mosquitto {
        let which = Command::new("sh")
            .args(["-c", "command -v mosquitto || ls /usr/sbin/mosquitto"])
            .output()
            .unwrap();
        let path = String::from_utf8_lossy(&which.stdout)
            .lines()
            .next()
            .map(str::to_string);
        let path = path.filter(|p| !p.is_empty()).unwrap_or_else(|| {
            panic!("mosquitto is not installed (Debian: apt-get install mosquitto mosquitto-clients); the MQTT test needs a real broker")
        });
        assert!(
            Command::new("sh")
                .args(["-c", "command -v mosquitto_sub"])
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success(),
            "mosquitto_sub is not installed (Debian: apt-get install mosquitto-clients)"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = Receiver::bind().local_addr().unwrap().port();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
        .unwrap();
        let child = Command::new(path.trim())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        assert!(
            wait_until(Duration::from_secs(10), || TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "mosquitto did not listen on {port}"
        );
        Mosquitto {
            child,
            port,
            _dir: dir,
        }
    }

    /// Retained messages on `topic`, as `topic payload` lines.
    fn retained(&self, topic: &str) -> Vec<String> {
        let out = Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-t",
                topic,
                "-v",
                "--retained-only",
                "-W",
                "2",
            ])
            .output()
            .expect("run mosquitto_sub");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn mqtt_statuses_are_retained_by_a_real_mosquitto() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &dir.path().join("t.db"),
        &["--mqtt", &format!("mqtt://127.0.0.1:{}", broker.port)],
    );
    let admin = server.admin.clone().unwrap();
    // A live subscriber of the event stream, started before the alert.
    let events = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &broker.port.to_string(),
            "-t",
            "tryvoga/events",
            "-C",
            "1",
            "-W",
            "20",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(15), || broker
        .retained("tryvoga/regions/+/status")
        .len()
        == 27));
    std::thread::sleep(Duration::from_millis(300));
    start_alert(&server, &admin, "Kyiv");
    start_alert(&server, &admin, "75");
    let want = |lines: &[String], line: &str| lines.iter().any(|l| l == line);
    assert!(
        wait_until(Duration::from_secs(15), || {
            let s = broker.retained("tryvoga/regions/+/status");
            want(&s, "tryvoga/regions/31/status A") && want(&s, "tryvoga/regions/14/status P")
        }),
        "{:?}",
        broker.retained("tryvoga/regions/+/status")
    );
    let statuses = broker.retained("tryvoga/regions/+/status");
    assert_eq!(statuses.len(), 27, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|l| l.ends_with(" N")).count(), 25);
    let state = broker.retained("tryvoga/regions/14/state");
    let json: Value = serde_json::from_str(state[0].split_once(' ').unwrap().1).unwrap();
    assert_eq!(json["status"], "partial");
    assert_eq!(json["alerts"][0]["type"], "air_raid");
    let discovery = broker.retained("homeassistant/binary_sensor/+/config");
    assert_eq!(discovery.len(), 27);
    let kyiv: Value = serde_json::from_str(
        discovery
            .iter()
            .find(|l| l.starts_with("homeassistant/binary_sensor/tryvoga_31/config "))
            .unwrap()
            .split_once(' ')
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(kyiv["state_topic"], "tryvoga/regions/31/status");
    assert_eq!(kyiv["device_class"], "safety");
    assert_eq!(broker.retained("tryvoga/status"), ["tryvoga/status online"]);
    let out = events.wait_with_output().unwrap();
    let event: Value = serde_json::from_slice(&out.stdout).expect("an event on tryvoga/events");
    assert_eq!(event["kind"], "alert.started");
    assert!(event["sig"].is_string());
}
