//! Outputs across nodes, through the real binary on a real PostgreSQL: two `serve` nodes on
//! one record run one webhook subscription's deliveries between them, on whichever node
//! holds its lease; the holder is killed with SIGKILL in the middle of a stream of events and
//! the other takes over. The receiver is written here, on loopback, and sees which node made
//! each delivery (`X-Tryvoga-Node`). The same for the MQTT publisher, through a real
//! mosquitto. Every wait is bounded; the servers, the receiver, the broker and the database
//! are stopped, pass or fail, by their guards. The tests take turns: each measures a
//! takeover, which two at once on a small machine would slow.
//!
//! Over 600 lines because the receiver, the broker guard and the cluster are set up here once
//! for both takeovers; the two tests then read as scenarios.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
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

/// One test at a time (see the module's note).
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

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
    node_with(url, key, &[])
}

fn node_with(url: &str, key: &Path, extra: &[&str]) -> Server {
    let lease = LEASE_MS.to_string();
    let mut args = vec![
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
        // The receivers listen on loopback.
        "--webhook-allow",
        "127.0.0.0/8",
    ];
    args.extend_from_slice(extra);
    Server::start_with(Path::new(url), &args)
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
    let _turn = turn();
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

    // The events, half through each node at a steady pace.
    let posted = Arc::new(AtomicUsize::new(0));
    let poster = post_all(
        bases.clone(),
        admin.clone(),
        hromadas(&bases[0], EVENTS),
        Arc::clone(&posted),
    );

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

/// Region ids of `n` hromadas, for alerts that never conflict.
fn hromadas(base: &str, n: usize) -> Vec<u64> {
    let ids: Vec<u64> = get(&format!("{base}/api/v1/regions?level=hromada")).body["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .filter_map(|r| r["id"].as_u64())
        .take(n)
        .collect();
    assert_eq!(ids.len(), n);
    ids
}

/// Posts an alert on each region, alternating between `bases`, moving to the other node
/// (same key) when one is gone; counts what was accepted in `posted`.
fn post_all(
    bases: Vec<String>,
    admin: String,
    regions: Vec<u64>,
    posted: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<Result<(), String>> {
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
}

/// A mosquitto broker on a free loopback port, stopped on drop.
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
            .expect("sh");
        let path = String::from_utf8_lossy(&which.stdout)
            .lines()
            .next()
            .map(str::to_string)
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| {
                panic!("mosquitto is not installed (Debian: apt-get install mosquitto mosquitto-clients)")
            });
        let dir = tempfile::tempdir().expect("temp dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
        .expect("write the broker's configuration");
        let child = Command::new(path.trim())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let broker = Mosquitto {
            child,
            port,
            _dir: dir,
        };
        assert!(
            wait_until(Duration::from_secs(10), || TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "mosquitto did not listen on {port}"
        );
        broker
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `mosquitto_sub` of `tryvoga/events`, its messages' sequence numbers collected as they
/// arrive; stopped on drop.
struct EventsSubscriber {
    child: Child,
    seqs: Arc<Mutex<Vec<(u64, Instant)>>>,
}

impl EventsSubscriber {
    fn start(port: u16) -> EventsSubscriber {
        let mut child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-t", "tryvoga/events", "-q", "1", "-W", "120"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub (Debian: apt-get install mosquitto-clients)");
        let out = child.stdout.take().expect("piped");
        let seqs: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
        let sink = Arc::clone(&seqs);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if let Some(seq) = event["seq"].as_u64() {
                    sink.lock().unwrap().push((seq, Instant::now()));
                }
            }
        });
        EventsSubscriber { child, seqs }
    }

    fn seqs(&self) -> Vec<(u64, Instant)> {
        self.seqs.lock().unwrap().clone()
    }
}

impl Drop for EventsSubscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Retained messages on `topic`, as `topic payload` lines.
fn retained(port: u16, topic: &str) -> Vec<String> {
    let out = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", topic])
        .args(["-v", "--retained-only", "-W", "2"])
        .output()
        .expect("run mosquitto_sub");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn outputs_held(server: &Server) -> u64 {
    get(&server.url("/healthz")).body["outputs_held"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn one_node_publishes_to_mqtt_and_another_carries_on_from_its_position_when_it_dies() {
    let _turn = turn();
    const MQTT_EVENTS: usize = 40;
    let broker = Mosquitto::start();
    let events = EventsSubscriber::start(broker.port);
    let dir = tempfile::tempdir().unwrap();
    let pg =
        ScratchCluster::start().expect("PostgreSQL 15 for the test (bash .ci/run installs it)");
    let url = pg.database("mqtt").unwrap();
    let key = dir.path().join("record.ed25519");
    let mqtt = format!("mqtt://127.0.0.1:{}", broker.port);
    let mut nodes = [
        Some(node_with(&url, &key, &["--mqtt", &mqtt])),
        Some(node_with(&url, &key, &["--mqtt", &mqtt])),
    ];
    let admin = nodes[0]
        .as_ref()
        .and_then(|n| n.admin.clone())
        .expect("the first node makes the admin token");
    let bases: Vec<String> = nodes.iter().flatten().map(|n| n.base.clone()).collect();

    // Exactly one node holds the publisher's lease, and keeps it.
    let held = || -> Vec<u64> { nodes.iter().flatten().map(outputs_held).collect() };
    assert!(
        wait_until(Duration::from_secs(10), || held().iter().sum::<u64>() == 1),
        "one publisher: {:?}",
        held()
    );
    std::thread::sleep(Duration::from_millis(LEASE_MS + 500));
    let before = held();
    assert_eq!(before.iter().sum::<u64>(), 1, "still one: {before:?}");
    let victim = before.iter().position(|n| *n == 1).expect("a holder");

    let posted = Arc::new(AtomicUsize::new(0));
    let poster = post_all(
        bases.clone(),
        admin,
        hromadas(&bases[0], MQTT_EVENTS),
        Arc::clone(&posted),
    );
    assert!(
        wait_until(Duration::from_secs(30), || events.seqs().len() >= 12),
        "events before the kill: {:?}",
        events.seqs()
    );
    let killed_at = Instant::now();
    nodes[victim].take().expect("alive").kill9();
    let heard_at_kill = events.seqs().len();
    assert!(posted.load(Ordering::Relaxed) < MQTT_EVENTS, "mid-stream");
    poster
        .join()
        .expect("the poster thread")
        .expect("every event accepted by one node or the other");

    let survivor = nodes[1 - victim].as_ref().expect("the survivor");
    let want: BTreeSet<u64> = (1..=MQTT_EVENTS as u64).collect();
    assert!(
        wait_until(Duration::from_secs(20), || events
            .seqs()
            .iter()
            .map(|(s, _)| *s)
            .collect::<BTreeSet<_>>()
            == want),
        "every event published after the takeover; heard {:?}",
        events.seqs().iter().map(|(s, _)| *s).collect::<Vec<_>>()
    );
    assert_eq!(outputs_held(survivor), 1, "the survivor publishes now");
    std::thread::sleep(Duration::from_millis(500));
    let heard = events.seqs();
    let after_kill = &heard[heard_at_kill..];
    let takeover = after_kill
        .first()
        .map(|(_, at)| at.duration_since(killed_at))
        .expect("events after the kill");
    let mut count: BTreeMap<u64, usize> = BTreeMap::new();
    for (seq, _) in &heard {
        *count.entry(*seq).or_default() += 1;
    }
    let repeated: Vec<u64> = count
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(s, _)| *s)
        .collect();
    // Repeats are what the dead node published but had not yet recorded: the survivor's
    // first messages, each at most once more.
    assert!(count.values().all(|n| *n <= 2), "{count:?}");
    let firsts: Vec<u64> = after_kill
        .iter()
        .take(repeated.len())
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(firsts, repeated, "repeats only at the takeover");
    let order: Vec<u64> = after_kill.iter().map(|(s, _)| *s).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    // The dead node's session was taken over with its client id, so its last will came
    // before the survivor's announcement, not after it.
    let status = || retained(broker.port, "tryvoga/status");
    assert!(
        wait_until(Duration::from_secs(5), || status()
            == ["tryvoga/status online"]),
        "{:?}",
        status()
    );
    if let Some(wait) = std::env::var("LONG_WILL_CHECK")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        std::thread::sleep(Duration::from_secs(wait));
        assert_eq!(status(), ["tryvoga/status online"], "after {wait}s");
        println!("still online {wait}s later");
    }
    println!(
        "mqtt takeover: first message {} ms after the kill, lease {LEASE_MS} ms; {} messages \
         for {MQTT_EVENTS} events, {} repeated {repeated:?}",
        takeover.as_millis(),
        heard.len(),
        repeated.len()
    );
    assert!(
        takeover < Duration::from_millis(LEASE_MS * 3),
        "took over after {takeover:?}"
    );
}
