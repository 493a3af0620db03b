//! Failover of the database under load, through the real binary (issue 14): two `serve` nodes
//! on a PostgreSQL primary with a synchronous streaming standby, given both servers in one
//! multi-host URL (`target_session_attrs=read-write`). Clients send 400 commands, each with an
//! `Idempotency-Key` they retry on either node; the primary is killed with SIGKILL in the
//! middle and the standby promoted. Every acknowledged command must then be in the log exactly
//! once, the log gapless and every event's signature good. The outage (the last acknowledgement
//! before the kill to the first after it) is printed. Bounded in time; the servers and both
//! PostgreSQL clusters are stopped, pass or fail.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, get, tryvoga};
use serde_json::{Value, json};
use tryvoga_store::postgres::scratch::SyncPair;

const COMMANDS: usize = 400;
const CLIENTS: usize = 16;

/// A node on the record at `url`, signing with `key`.
fn node(url: &str, key: &Path) -> Server {
    Server::start_with(
        Path::new(url),
        &["--signing-key", key.to_str().expect("utf-8 path")],
    )
}

/// A GET that may meet a node still reconnecting to the new primary: retried for a while.
fn get_ok(url: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = get(url);
        if r.status == 200 {
            return r.body;
        }
        assert!(Instant::now() < deadline, "GET {url}: {}", r.status);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The whole log, page by page.
fn events(server: &Server) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    loop {
        let after = out.last().and_then(|e| e["seq"].as_u64()).unwrap_or(0);
        let page = get_ok(&server.url(&format!("/api/v1/events?after={after}&limit=1000")));
        let got = page["events"].as_array().expect("events").clone();
        if got.is_empty() {
            return out;
        }
        out.extend(got);
    }
}

/// What a client saw of one command: the alert it was told about, when the attempt that got
/// the answer was sent and when the answer came.
#[derive(Clone, Copy)]
struct Ack {
    alert: u64,
    sent: Instant,
    at: Instant,
}

#[test]
fn the_primary_killed_and_its_synchronous_standby_promoted_lose_no_acknowledged_command() {
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let pair = SyncPair::start().expect("PostgreSQL 15 for the test (bash .ci/run installs it)");
    let url = pair.database("failover").unwrap();
    let key = dir.path().join("record.ed25519");
    let a = node(&url, &key);
    let admin = a
        .admin
        .clone()
        .expect("the first node makes the admin token");
    let b = node(&url, &key);

    let all = get_ok(&a.url("/api/v1/regions?level=hromada"));
    let regions: Vec<u64> = all["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .filter_map(|r| r["id"].as_u64())
        .take(COMMANDS)
        .collect();
    assert_eq!(regions.len(), COMMANDS, "enough hromadas");

    let nodes = [a.base.clone(), b.base.clone()];
    let next = Arc::new(AtomicUsize::new(0));
    let acked: Arc<Mutex<HashMap<u64, Ack>>> = Arc::default();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (next, acked, regions, nodes, admin) = (
            Arc::clone(&next),
            Arc::clone(&acked),
            regions.clone(),
            nodes.clone(),
            admin.clone(),
        );
        clients.push(std::thread::spawn(move || {
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(10))
                .build();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= COMMANDS {
                    return;
                }
                let body = json!({ "region": regions[i], "type": "air_raid" }).to_string();
                let key = format!("failover-{i}");
                let deadline = Instant::now() + Duration::from_secs(90);
                let mut at = (i + c) % 2;
                loop {
                    assert!(Instant::now() < deadline, "command {i} never acknowledged");
                    let attempt = Instant::now();
                    let sent = agent
                        .post(&format!("{}/api/v1/alerts", nodes[at]))
                        .set("Authorization", &format!("Bearer {admin}"))
                        .set("Idempotency-Key", &key)
                        .set("Content-Type", "application/json")
                        .send_string(&body);
                    match sent {
                        Ok(resp) if resp.status() == 201 => {
                            let alert: Value = resp.into_json().expect("alert json");
                            let id = alert["id"].as_u64().expect("alert id");
                            let ack = Ack {
                                alert: id,
                                sent: attempt,
                                at: Instant::now(),
                            };
                            let earlier = acked.lock().unwrap().insert(regions[i], ack);
                            assert!(earlier.is_none(), "command {i} acknowledged twice");
                            break;
                        }
                        Ok(resp) => panic!("command {i}: unexpected {}", resp.status()),
                        // The database is away (503) or the answer was cut: the other node,
                        // the same key.
                        Err(ureq::Error::Status(503, _)) | Err(ureq::Error::Transport(_)) => {
                            at = 1 - at;
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(ureq::Error::Status(code, resp)) => panic!(
                            "command {i}: {code} {}",
                            resp.into_string().unwrap_or_default()
                        ),
                    }
                }
            }
        }));
    }

    // The primary dies in the middle of the commands; the standby is promoted at once.
    let wait = Instant::now();
    while acked.lock().unwrap().len() < COMMANDS / 3 {
        assert!(
            wait.elapsed() < Duration::from_secs(60),
            "the first third was not acknowledged within a minute"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let killed = Instant::now();
    pair.kill_primary().expect("kill -9 of the primary");
    let dead = Instant::now();
    let before_kill = acked.lock().unwrap().len();
    pair.promote().expect("promote the standby");
    let promoted = killed.elapsed();
    let kill_took = dead - killed;

    for client in clients {
        client.join().expect("a client failed");
    }
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), COMMANDS, "every command acknowledged");

    // The outage as the clients saw it: from the last answer before the kill to the first
    // answer to a request sent once the primary was gone (answers to requests already committed on both
    // servers may still arrive just after the kill), and the longest silence around it.
    let last_before = acked
        .values()
        .map(|a| a.at)
        .filter(|at| *at <= killed)
        .max()
        .expect("acknowledgements before the kill");
    let first_after = acked
        .values()
        .filter(|a| a.sent > dead)
        .map(|a| a.at)
        .min()
        .expect("acknowledgements of requests sent after the kill");
    let mut times: Vec<Instant> = acked.values().map(|a| a.at).collect();
    times.sort();
    let silence = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    println!(
        "failover: {before_kill} of {COMMANDS} acknowledged before the kill ({:.0} ms to kill); \
         standby promoted {:.0} ms after it; outage (last ack before the kill to the first ack of a request sent \
         once the primary was gone) {:.0} ms; longest stretch without an ack {:.0} ms",
        kill_took.as_secs_f64() * 1e3,
        promoted.as_secs_f64() * 1e3,
        (first_after - last_before).as_secs_f64() * 1e3,
        silence.as_secs_f64() * 1e3
    );

    // On the promoted standby, through either node: each acknowledged command exactly once.
    for server in [&a, &b] {
        let log = events(server);
        let seqs: Vec<u64> = log.iter().filter_map(|e| e["seq"].as_u64()).collect();
        assert_eq!(
            seqs,
            (1..=log.len() as u64).collect::<Vec<_>>(),
            "the log is gapless"
        );
        let mut started: HashMap<u64, Vec<u64>> = HashMap::new();
        for e in &log {
            let alert = &e["alert"];
            if let (Some(region), Some(id)) = (alert["region"]["id"].as_u64(), alert["id"].as_u64())
            {
                started.entry(region).or_default().push(id);
            }
        }
        for (region, ack) in &acked {
            assert_eq!(
                started.get(region),
                Some(&vec![ack.alert]),
                "region {region}: the acknowledged alert, once, and nothing else"
            );
        }
        assert_eq!(
            started.len(),
            COMMANDS,
            "no alert the clients were not told about"
        );

        // Every event signed by the record's key.
        let saved = dir.path().join("events.json");
        std::fs::write(&saved, json!({ "events": log }).to_string()).unwrap();
        let trusted = dir.path().join("tryvoga-key.json");
        std::fs::write(
            &trusted,
            get_ok(&server.url("/.well-known/tryvoga-key")).to_string(),
        )
        .unwrap();
        let verified = tryvoga(&[
            "verify",
            saved.to_str().unwrap(),
            "--key",
            trusted.to_str().unwrap(),
        ]);
        assert_eq!(verified, format!("verified {} events", log.len()));
    }
    assert!(
        began.elapsed() < Duration::from_secs(240),
        "took {:?}",
        began.elapsed()
    );
}
