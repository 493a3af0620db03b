//! The log carried to stateless edges by NATS JetStream, through the real binaries: `serve
//! --nats` relays, `tryvoga edge` follows. nats-server is killed with SIGKILL under a stream
//! of commands and started again, and the edges' subscribers still end with every sequence
//! once, in order; a subscriber that moves to another edge with `Last-Event-ID` misses
//! nothing; edges share a port; two serve nodes on one PostgreSQL database relay at once and
//! the stream still equals the log. Each test starts its own nats-server (and PostgreSQL)
//! in a temporary directory and stops them, pass or fail.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{BIN, Server, SseEvent, get, post, start_alert, subscribe};
use serde_json::{Value, json};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A nats-server with JetStream on a free port, its storage in a directory of the test.
struct Nats {
    child: Option<Child>,
    port: u16,
    store: PathBuf,
}

impl Nats {
    fn start(dir: &Path) -> Nats {
        let mut nats = Nats {
            child: None,
            port: free_port(),
            store: dir.join("jetstream"),
        };
        nats.run();
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again, on the same port and storage) and waits until it listens.
    fn run(&mut self) {
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "nats-server for the test (bash .ci/run installs it: apt-get install nats-server)",
            );
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, as a crash.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9 nats-server");
            child.wait().expect("reap nats-server");
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A `tryvoga edge` process.
struct Edge {
    child: Child,
    base: String,
}

impl Edge {
    fn start(nats: &str, listen: &str) -> Edge {
        Edge::start_with(nats, listen, &[])
    }

    fn start_with(nats: &str, listen: &str, extra: &[&str]) -> Edge {
        let mut child = Command::new(BIN)
            .args(["edge", "--nats", nats, "--listen", listen])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tryvoga edge");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut edge = Edge {
            child,
            base: String::new(),
        };
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("the edge printed its address within 20 s");
            if let Some(addr) = line.strip_prefix("edge serving on ") {
                edge.base = addr.trim().to_string();
                return edge;
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Waits until the edge's replica has applied `seq`.
    fn wait_for(&self, seq: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let health = get(&self.url("/healthz")).body;
            if health["seq"].as_u64() >= Some(seq) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the edge at {} reached {health} and not {seq}",
                self.base
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every event of the log as `base` pages it, from the start.
fn all_events(base: &str) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    loop {
        let after = out.last().and_then(|e| e["seq"].as_u64()).unwrap_or(0);
        let page = get(&format!("{base}/api/v1/events?after={after}&limit=1000")).body;
        let events = page["events"].as_array().cloned().expect("an events page");
        if events.is_empty() {
            return out;
        }
        out.extend(events);
    }
}

/// The sequences a subscriber received, waiting up to `within` for each.
fn received(rx: &mpsc::Receiver<SseEvent>, want: usize, within: Duration) -> Vec<u64> {
    let mut seqs = Vec::new();
    while seqs.len() < want {
        match rx.recv_timeout(within) {
            Ok(e) => seqs.extend(e.id),
            Err(_) => break,
        }
    }
    seqs
}

/// Raises and ends alerts on hromadas in turn until `count` events have been committed;
/// every command must be acknowledged, whatever the broker is doing.
fn commands(server: &Server, token: &str, regions: &[u64], count: usize) {
    let mut made = 0;
    for region in regions.iter().cycle() {
        if made >= count {
            return;
        }
        let started = start_alert(server, token, json!(region));
        assert_eq!(started.status, 201, "{}", started.body);
        made += 1;
        if made >= count {
            return;
        }
        let id = started.body["id"].as_u64().expect("alert id");
        let ended = post(
            &server.url(&format!("/api/v1/alerts/{id}/end")),
            token,
            &json!({}),
        );
        assert_eq!(ended.status, 200, "{}", ended.body);
        made += 1;
    }
}

fn hromadas(server: &Server, n: usize) -> Vec<u64> {
    get(&server.url("/api/v1/regions?level=hromada")).body["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .filter_map(|r| r["id"].as_u64())
        .take(n)
        .collect()
}

fn contiguous(from: u64, to: u64) -> Vec<u64> {
    (from..=to).collect()
}

#[test]
fn edges_keep_every_event_in_order_through_a_kill_9_of_nats_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut nats = Nats::start(dir.path());
    let server = Server::start_with(&dir.path().join("t.db"), &["--nats", &nats.url()]);
    let admin = server.admin.clone().expect("admin");
    let edges = [
        Edge::start(&nats.url(), "127.0.0.1:0"),
        Edge::start(&nats.url(), "127.0.0.1:0"),
    ];
    const TOTAL: usize = 300;
    let subscribers: Vec<_> = edges
        .iter()
        .flat_map(|e| [0, 1].map(|_| subscribe(&e.url("/api/v1/stream"), None, TOTAL)))
        .collect();
    let regions = hromadas(&server, 60);
    commands(&server, &admin, &regions, 100);
    nats.kill9();
    let down = Instant::now();
    // Commands go on while the broker is away: the log does not depend on it.
    commands(&server, &admin, &regions[30..], 100);
    std::thread::sleep(Duration::from_millis(500));
    nats.run();
    let down_for = down.elapsed();
    commands(&server, &admin, &regions[..30], TOTAL - 200);
    let back = Instant::now();
    for edge in &edges {
        edge.wait_for(TOTAL as u64, Duration::from_secs(30));
    }
    let caught_up = back.elapsed();
    for (i, rx) in subscribers.iter().enumerate() {
        let seqs = received(rx, TOTAL, Duration::from_secs(10));
        assert_eq!(
            seqs,
            contiguous(1, TOTAL as u64),
            "subscriber {i} got a gap, a repeat or a reordering"
        );
    }
    // A new edge reads everything from the stream itself: it equals the log, byte for byte.
    let fresh = Edge::start(&nats.url(), "127.0.0.1:0");
    fresh.wait_for(TOTAL as u64, Duration::from_secs(30));
    let log = all_events(&server.base);
    assert_eq!(log.len(), TOTAL);
    assert_eq!(all_events(&fresh.base), log, "the stream is not the log");
    eprintln!(
        "nats-server down {:.1} s under load; edges caught up {:.2} s after the last command; \
         4 subscribers on 2 edges each got 1..={TOTAL} once, in order",
        down_for.as_secs_f64(),
        caught_up.as_secs_f64()
    );
}

#[test]
fn a_subscriber_moving_to_another_edge_with_last_event_id_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path());
    let server = Server::start_with(&dir.path().join("t.db"), &["--nats", &nats.url()]);
    let admin = server.admin.clone().expect("admin");
    let (a, b) = (
        Edge::start(&nats.url(), "127.0.0.1:0"),
        Edge::start(&nats.url(), "127.0.0.1:0"),
    );
    let regions = hromadas(&server, 20);
    let first = subscribe(&a.url("/api/v1/stream"), None, 7);
    commands(&server, &admin, &regions, 10);
    let seen = received(&first, 7, Duration::from_secs(10));
    assert_eq!(seen, contiguous(1, 7));
    // The subscriber's connection is gone (it read 7 and hung up); more happens meanwhile.
    commands(&server, &admin, &regions[10..], 10);
    b.wait_for(20, Duration::from_secs(10));
    let moved = subscribe(&b.url("/api/v1/stream"), Some(7), 13);
    assert_eq!(
        received(&moved, 13, Duration::from_secs(10)),
        contiguous(8, 20)
    );
    // And the edges answer the state as the serve node does.
    let on_server = get(&server.url("/api/v1/alerts/active")).body;
    for edge in [&a, &b] {
        let on_edge = get(&edge.url("/api/v1/alerts/active")).body;
        assert_eq!(on_edge["alerts"], on_server["alerts"]);
    }
}

#[test]
fn edges_share_one_port_and_say_how_far_behind_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path());
    let server = Server::start_with(&dir.path().join("t.db"), &["--nats", &nats.url()]);
    let admin = server.admin.clone().expect("admin");
    let listen = format!("127.0.0.1:{}", free_port());
    let edges = [
        Edge::start(&nats.url(), &listen),
        Edge::start(&nats.url(), &listen),
    ];
    assert_eq!(edges[0].base, edges[1].base);
    assert_eq!(start_alert(&server, &admin, json!(14)).status, 201);
    for edge in &edges {
        edge.wait_for(1, Duration::from_secs(10));
    }
    let mut answered_by = HashSet::new();
    for _ in 0..64 {
        // A new connection each time: the kernel picks an edge per connection.
        let r = get(&edges[0].url("/api/v1/alerts/active"));
        assert_eq!(r.status, 200);
        assert_eq!(r.body["alerts"][0]["region"]["id"], 14);
        answered_by.extend(r.header("x-tryvoga-edge").map(str::to_string));
    }
    assert_eq!(answered_by.len(), 2, "both edges answered: {answered_by:?}");
    let health = get(&edges[0].url("/healthz")).body;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["lag"], 0, "{health}");
    assert_eq!(health["stream_seq"], 1, "{health}");
    // The IoT string from the replica, public on this edge only when asked to be.
    let iot = "/v1/iot/active_air_raid_alerts_by_oblast.json";
    assert_eq!(get(&edges[0].url(iot)).status, 401);
}

#[test]
fn two_nodes_relaying_at_once_put_each_event_in_the_stream_once_in_order() {
    use std::sync::Arc;
    use tryvoga_store::postgres::scratch::ScratchCluster;

    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path());
    let pg =
        ScratchCluster::start().expect("PostgreSQL 15 for the test (bash .ci/run installs it)");
    let url = pg.database("relays").expect("a database");
    let key = dir.path().join("k.ed25519");
    let node = |url: &str| {
        Server::start_with(
            Path::new(url),
            &[
                "--signing-key",
                key.to_str().expect("utf-8 path"),
                "--nats",
                &nats.url(),
            ],
        )
    };
    let a = node(&url);
    let admin = Arc::new(a.admin.clone().expect("admin"));
    let b = node(&url);
    let regions = hromadas(&a, 200);
    // Both nodes take commands at once, so both relays race to publish the same log.
    std::thread::scope(|s| {
        for (server, regions) in [(&a, &regions[..100]), (&b, &regions[100..])] {
            let admin = Arc::clone(&admin);
            s.spawn(move || {
                for region in regions {
                    assert_eq!(start_alert(server, &admin, json!(region)).status, 201);
                }
            });
        }
    });
    let edge = Edge::start(&nats.url(), "127.0.0.1:0");
    edge.wait_for(200, Duration::from_secs(30));
    let log = all_events(&a.base);
    assert_eq!(
        log.iter()
            .filter_map(|e| e["seq"].as_u64())
            .collect::<Vec<_>>(),
        contiguous(1, 200)
    );
    assert_eq!(all_events(&edge.base), log, "the stream is not the log");
    let health = get(&edge.url("/healthz")).body;
    assert_eq!(health["stream_seq"], 200, "nothing past the log: {health}");
}

/// One exchange on a raw connection: the response's head lines and its body (none for HEAD or
/// a 304).
fn exchange(conn: &mut std::net::TcpStream, request: &str) -> (Vec<String>, Vec<u8>) {
    use std::io::{Read, Write};
    conn.write_all(request.as_bytes())
        .expect("write the request");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            conn.read(&mut byte).expect("read the head"),
            1,
            "closed mid-head"
        );
        head.push(byte[0]);
    }
    let lines: Vec<String> = String::from_utf8(head)
        .expect("an ASCII head")
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let length: usize = lines
        .iter()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |n| n.parse().expect("a length"));
    let mut body = vec![0u8; length];
    if !request.starts_with("HEAD ") && !lines[0].contains(" 304 ") {
        conn.read_exact(&mut body).expect("read the body");
    } else {
        body.clear();
    }
    (lines, body)
}

/// Head lines without `date` (which moves each second), sorted: hyper and the front door
/// need not write headers in the same order.
fn comparable(mut lines: Vec<String>) -> Vec<String> {
    lines.retain(|l| !l.to_ascii_lowercase().starts_with("date: "));
    lines[1..].sort();
    lines
}

#[test]
fn an_edges_hot_reads_from_the_front_door_equal_the_routers_answers() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path());
    let server = Server::start_with(&dir.path().join("t.db"), &["--nats", &nats.url()]);
    let admin = server.admin.clone().expect("admin");
    let open = Edge::start_with(&nats.url(), "127.0.0.1:0", &["--compat-public", "all"]);
    let closed = Edge::start(&nats.url(), "127.0.0.1:0");
    assert_eq!(start_alert(&server, &admin, json!(14)).status, 201);
    open.wait_for(1, Duration::from_secs(10));
    closed.wait_for(1, Duration::from_secs(10));
    let addr = open.base.trim_start_matches("http://").to_string();
    let paths = [
        "/api/v1/alerts/active",
        "/v1/iot/active_air_raid_alerts_by_oblast.json",
        "/v2/iot/active_air_raid_alerts_by_oblast.json",
        "/v1/iot/active_air_raid_alerts.json",
        "/v2/iot/active_air_raid_alerts.json",
    ];
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    // A query string (empty here, so the same answer) sends the request to the router; the
    // bare path is the front door's. Same connection, one after the other.
    for path in paths {
        for method in ["GET", "HEAD"] {
            let fast = exchange(
                &mut conn,
                &format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n"),
            );
            let routed = exchange(
                &mut conn,
                &format!("{method} {path}? HTTP/1.1\r\nHost: x\r\n\r\n"),
            );
            assert_eq!(
                fast.0[0], "HTTP/1.1 200 OK",
                "{method} {path}: {:?}",
                fast.0
            );
            assert_eq!(
                comparable(fast.0.clone()),
                comparable(routed.0.clone()),
                "{method} {path}"
            );
            assert_eq!(fast.1, routed.1, "{method} {path}: the bodies differ");
            assert!(
                fast.0.iter().any(|l| l.starts_with("date: ")),
                "{:?}",
                fast.0
            );
        }
    }
    // The ETag: a matching If-None-Match is a 304 with the router's headers, on the fast path
    // as through the router (which gets it with a query).
    let (head, body) = exchange(
        &mut conn,
        "GET /api/v1/alerts/active HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let etag = head
        .iter()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("an etag")
        .to_string();
    let active: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(active["alerts"][0]["region"]["id"], 14);
    let conditional = |q: &str| {
        format!(
            "GET /api/v1/alerts/active{q} HTTP/1.1\r\nHost: x\r\nIf-None-Match: W/\"x\", {etag}\r\n\r\n"
        )
    };
    let fast = exchange(&mut conn, &conditional(""));
    let routed = exchange(&mut conn, &conditional("?"));
    assert_eq!(fast.0[0], "HTTP/1.1 304 Not Modified", "{:?}", fast.0);
    assert_eq!(comparable(fast.0), comparable(routed.0));
    // Another request on the same connection that is no hot read goes to the router.
    let (head, body) = exchange(&mut conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head[0], "HTTP/1.1 200 OK");
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["seq"], 1);
    // A new state is seen on the next request.
    assert_eq!(start_alert(&server, &admin, json!(9)).status, 201);
    open.wait_for(2, Duration::from_secs(10));
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    let (head, body) = exchange(
        &mut conn,
        "GET /api/v1/alerts/active HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(
        !head.iter().any(|l| l == &format!("etag: {etag}")),
        "{head:?}"
    );
    let active: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(active["seq"], 2);
    assert_eq!(active["alerts"].as_array().unwrap().len(), 2);
    let fast = exchange(&mut conn, &conditional(""));
    assert_eq!(
        fast.0[0], "HTTP/1.1 200 OK",
        "the old ETag no longer matches"
    );
    let oblast = "/v1/iot/active_air_raid_alerts_by_oblast.json";
    let fast = exchange(
        &mut conn,
        &format!("GET {oblast} HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    let routed = exchange(
        &mut conn,
        &format!("GET {oblast}? HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    assert_eq!(fast.1, routed.1);
    assert_eq!(
        String::from_utf8_lossy(&fast.1).matches('A').count(),
        2,
        "{:?}",
        String::from_utf8_lossy(&fast.1)
    );
    // `Connection: close` is honoured.
    let (head, _) = exchange(
        &mut conn,
        "GET /api/v1/alerts/active HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(head.iter().any(|l| l == "connection: close"), "{head:?}");
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut conn, &mut rest).unwrap();
    assert!(rest.is_empty());
    // Where the compat API needs a token, the IoT strings still ask for it: no fast path.
    assert_eq!(get(&closed.url(oblast)).status, 401);
    assert_eq!(get(&closed.url("/api/v1/alerts/active")).status, 200);
}
