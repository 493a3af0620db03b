//! Outputs across nodes, through the real binary on a real PostgreSQL: two `serve` nodes on
//! one record run one webhook subscription's deliveries between them, on whichever node
//! holds its lease; the holder is killed with SIGKILL in the middle of a stream of events and
//! the other takes over. The receiver is written here, on loopback, and sees which node made
//! each delivery (`X-Tryvoga-Node`). Every wait is bounded; the servers, the receiver and the
//! database are stopped, pass or fail, by their guards.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, get, post};
use serde_json::{Value, json};
use tryvoga_store::postgres::scratch::ScratchCluster;

/// The lease each node holds an output by: short, so the takeover is quick to see.
const LEASE_MS: u64 = 2000;

/// Events posted, half through each node.
const EVENTS: usize = 70;

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
struct Delivery {
    seq: u64,
    node: String,
    id: String,
    at: Instant,
}

/// A webhook receiver on a loopback port: records every delivery and answers 200.
struct Receiver {
    port: u16,
    log: Arc<Mutex<Vec<Delivery>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("address").port();
        let log: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (log2, stop2) = (Arc::clone(&log), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let log = Arc::clone(&log2);
                        std::thread::spawn(move || handle(stream, &log));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Receiver {
            port,
            log,
            stop,
            thread: Some(thread),
        }
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn handle(stream: TcpStream, log: &Mutex<Vec<Delivery>>) {
    let mut stream = stream;
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = BTreeMap::new();
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
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let status = match (event["seq"].as_u64(), headers.get("x-tryvoga-node")) {
        (Some(seq), Some(node)) => {
            log.lock().unwrap().push(Delivery {
                seq,
                node: node.clone(),
                id: headers.get("webhook-id").cloned().unwrap_or_default(),
                at: Instant::now(),
            });
            200
        }
        _ => 400,
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
}

fn node(url: &str, key: &Path) -> Server {
    let lease = LEASE_MS.to_string();
    Server::start_with(
        Path::new(url),
        &[
            "--signing-key",
            key.to_str().expect("utf-8 path"),
            "--output-lease-ms",
            &lease,
            "--webhook-retry-base-ms",
            "100",
            "--webhook-retry-max-ms",
            "500",
            "--webhook-max-attempts",
            "1000",
        ],
    )
}

fn node_id(server: &Server) -> String {
    let health = get(&server.url("/healthz")).body;
    health["node"].as_str().expect("a node id").to_string()
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

#[test]
fn a_webhook_runs_on_one_node_and_moves_when_that_node_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pg =
        ScratchCluster::start().expect("PostgreSQL 15 for the test (bash .ci/run installs it)");
    let url = pg.database("outputs").unwrap();
    let key = dir.path().join("record.ed25519");
    let mut nodes = [Some(node(&url, &key)), Some(node(&url, &key))];
    let admin = nodes[0]
        .as_ref()
        .and_then(|n| n.admin.clone())
        .expect("the first node makes the admin token");
    let ids: Vec<String> = nodes.iter().flatten().map(node_id).collect();
    assert_ne!(ids[0], ids[1], "each node has an id of its own");
    let bases: Vec<String> = nodes.iter().flatten().map(|n| n.base.clone()).collect();

    let receiver = Receiver::start();
    let created = post(
        &format!("{}/api/v1/webhooks", bases[1]),
        &admin,
        &json!({ "url": format!("http://127.0.0.1:{}/hook", receiver.port) }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let hook = created.body["id"].as_str().expect("webhook id").to_string();
    // Both nodes see the subscription (the other within its rescan) and ask for its lease.
    std::thread::sleep(Duration::from_secs(6));

    let regions: Vec<u64> =
        get(&format!("{}/api/v1/regions?level=hromada", bases[0])).body["regions"]
            .as_array()
            .expect("regions")
            .iter()
            .filter_map(|r| r["id"].as_u64())
            .take(EVENTS)
            .collect();
    assert_eq!(regions.len(), EVENTS);

    // The events, half through each node at a steady pace; a client whose node is gone
    // sends the same command, with the same key, to the other.
    let posted = Arc::new(AtomicUsize::new(0));
    let poster = {
        let (posted, bases, admin) = (Arc::clone(&posted), bases.clone(), admin.clone());
        std::thread::spawn(move || {
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(5))
                .build();
            let deadline = Instant::now() + Duration::from_secs(90);
            for (i, region) in regions.iter().enumerate() {
                let body = json!({ "region": region, "type": "air_raid" }).to_string();
                let mut at = i % 2;
                loop {
                    if Instant::now() > deadline {
                        return Err(format!("event {i} not accepted in time"));
                    }
                    let sent = agent
                        .post(&format!("{}/api/v1/alerts", bases[at]))
                        .set("Authorization", &format!("Bearer {admin}"))
                        .set("Idempotency-Key", &format!("event-{i}"))
                        .set("Content-Type", "application/json")
                        .send_string(&body);
                    match sent {
                        Ok(r) if r.status() == 201 => break,
                        Ok(r) => return Err(format!("event {i}: {}", r.status())),
                        Err(ureq::Error::Status(503, _)) | Err(ureq::Error::Transport(_)) => {
                            at = 1 - at;
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(e) => return Err(format!("event {i}: {e}")),
                    }
                }
                posted.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(60));
            }
            Ok(())
        })
    };

    // Mid-stream, the node delivering is killed.
    assert!(
        wait_until(Duration::from_secs(30), || receiver.deliveries().len()
            >= 25),
        "deliveries before the kill: {:?}",
        receiver.deliveries()
    );
    let before = receiver.deliveries();
    let holder = before[0].node.clone();
    let victim = ids
        .iter()
        .position(|id| *id == holder)
        .expect("a delivery from one of the nodes");
    let survivor = ids[1 - victim].clone();
    let killed_at = Instant::now();
    nodes[victim].take().expect("alive").kill9();
    let posted_at_kill = posted.load(Ordering::Relaxed);
    assert!(
        posted_at_kill < EVENTS,
        "the kill is in the middle of the stream"
    );

    poster
        .join()
        .expect("the poster thread")
        .expect("every event accepted by one node or the other");
    let live = nodes[1 - victim].as_ref().expect("the survivor");
    let log: Vec<u64> = get(&live.url("/api/v1/events?after=0&limit=1000")).body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    assert_eq!(
        log,
        (1..=EVENTS as u64).collect::<Vec<_>>(),
        "one gapless log"
    );
    let want: BTreeSet<u64> = log.iter().copied().collect();
    assert!(
        wait_until(Duration::from_secs(20), || {
            receiver
                .deliveries()
                .iter()
                .map(|d| d.seq)
                .collect::<BTreeSet<_>>()
                == want
        }),
        "every event delivered after the takeover; missing {:?}",
        want.difference(&receiver.deliveries().iter().map(|d| d.seq).collect())
            .collect::<Vec<_>>()
    );
    // Anything still in flight has arrived by now.
    std::thread::sleep(Duration::from_millis(500));
    let deliveries = receiver.deliveries();

    // One node at a time: the holder's deliveries, then the survivor's, never interleaved.
    let runs: Vec<&str> =
        deliveries
            .iter()
            .map(|d| d.node.as_str())
            .fold(Vec::new(), |mut runs, n| {
                if runs.last() != Some(&n) {
                    runs.push(n);
                }
                runs
            });
    assert_eq!(
        runs,
        [holder.as_str(), survivor.as_str()],
        "deliveries came from one node, then the other"
    );
    let first_after = deliveries
        .iter()
        .find(|d| d.node == survivor)
        .expect("the survivor delivered");
    let last_before = deliveries
        .iter()
        .rfind(|d| d.node == holder)
        .expect("the holder delivered");
    let takeover = first_after.at.duration_since(killed_at);
    let silence = first_after.at.duration_since(last_before.at);

    // Every event once, except what the killed node delivered but had not yet recorded: the
    // survivor's first deliveries, and only those.
    let mut count: BTreeMap<u64, usize> = BTreeMap::new();
    for d in &deliveries {
        *count.entry(d.seq).or_default() += 1;
        assert_eq!(d.id, format!("{hook}-{}", d.seq), "one id per event");
    }
    let repeated: Vec<u64> = count
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(s, _)| *s)
        .collect();
    assert!(count.values().all(|n| *n <= 2), "{count:?}");
    let by_holder: BTreeSet<u64> = deliveries
        .iter()
        .filter(|d| d.node == holder)
        .map(|d| d.seq)
        .collect();
    let survivors_first: Vec<u64> = deliveries
        .iter()
        .filter(|d| d.node == survivor)
        .take(repeated.len())
        .map(|d| d.seq)
        .collect();
    assert_eq!(
        survivors_first, repeated,
        "repeats are the survivor's first deliveries"
    );
    assert!(repeated.iter().all(|s| by_holder.contains(s)));
    // Each node delivered in log order.
    for n in [&holder, &survivor] {
        let seqs: Vec<u64> = deliveries
            .iter()
            .filter(|d| &d.node == n)
            .map(|d| d.seq)
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{n}: {seqs:?}");
    }
    println!(
        "takeover: {} ms after the kill ({} ms without deliveries), lease {LEASE_MS} ms; \
         {} deliveries of {EVENTS} events, {} repeated at the takeover {repeated:?}; \
         {} before the kill by {holder}, the rest by {survivor}",
        takeover.as_millis(),
        silence.as_millis(),
        deliveries.len(),
        repeated.len(),
        by_holder.len(),
    );
    assert!(
        takeover < Duration::from_millis(LEASE_MS * 3),
        "took over after {takeover:?}"
    );
}
