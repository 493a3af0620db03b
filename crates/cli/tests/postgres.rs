//! The record on PostgreSQL, through the real binary: a SQLite record migrated with its
//! signatures intact, several `serve` nodes on one database keeping one gapless log through a
//! node's kill -9, a token revoked on one node refused by the other within a second, and the
//! database stopped under load answered with 503s and served again after it is back. Each
//! test starts its own PostgreSQL in a temporary directory and stops it, pass or fail.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, get, post, request, start_alert, tryvoga, tryvoga_fails};
use serde_json::{Value, json};
use tryvoga_store::postgres::scratch::ScratchCluster;

fn cluster() -> ScratchCluster {
    ScratchCluster::start().expect("PostgreSQL 15 for the test (bash .ci/run installs it)")
}

/// A node on the PostgreSQL record at `url`, signing with `key`.
fn node(url: &str, key: &Path) -> Server {
    Server::start_with(
        Path::new(url),
        &["--signing-key", key.to_str().expect("utf-8 path")],
    )
}

/// Region ids of `n` distinct oblast-level or lower regions, for alerts that never conflict.
fn regions(server: &Server, n: usize) -> Vec<u64> {
    let all = get(&server.url("/api/v1/regions?level=hromada")).body;
    let ids: Vec<u64> = all["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .filter_map(|r| r["id"].as_u64())
        .take(n)
        .collect();
    assert_eq!(ids.len(), n, "enough hromadas");
    ids
}

fn seqs(server: &Server) -> Vec<u64> {
    let mut out = Vec::new();
    loop {
        let after = out.last().copied().unwrap_or(0);
        let reply = get(&server.url(&format!("/api/v1/events?after={after}&limit=1000")));
        let got: Vec<u64> = reply.body["events"]
            .as_array()
            .unwrap_or_else(|| panic!("events: {} {}", reply.status, reply.body))
            .iter()
            .filter_map(|e| e["seq"].as_u64())
            .collect();
        if got.is_empty() {
            return out;
        }
        out.extend(got);
    }
}

#[test]
fn a_sqlite_record_moves_to_postgres_with_its_signatures_intact() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("city.db");
    let sqlite = Server::start(&db);
    let admin = sqlite.admin.clone().expect("admin token");
    for region in [31, 27, 14] {
        assert_eq!(start_alert(&sqlite, &admin, json!(region)).status, 201);
    }
    let first = get(&sqlite.url("/api/v1/alerts/active")).body["alerts"][0]["id"].clone();
    let ended = post(
        &sqlite.url(&format!("/api/v1/alerts/{first}/end")),
        &admin,
        &json!({}),
    );
    assert_eq!(ended.status, 200);
    let active_before = get(&sqlite.url("/api/v1/alerts/active")).body["alerts"].clone();
    drop(sqlite);

    let pg = cluster();
    let url = pg.database("migrated").unwrap();
    let key = dir.path().join("pg.ed25519");
    let summary: Value = serde_json::from_str(&tryvoga(&[
        "migrate",
        "--from",
        db.to_str().unwrap(),
        "--to",
        &url,
        "--signing-key",
        key.to_str().unwrap(),
        "--json",
    ]))
    .expect("json summary");
    assert_eq!(summary["events"], 4);
    assert_eq!(summary["head"], 4);
    assert!(key.exists(), "the record's key came along");

    let server = node(&url, &key);
    assert_eq!(
        server.admin, None,
        "the tokens came along: no new admin token"
    );
    assert_eq!(
        get(&server.url("/api/v1/alerts/active")).body["alerts"],
        active_before
    );
    assert_eq!(
        start_alert(&server, &admin, json!(9)).status,
        201,
        "the old admin token works on the new record"
    );
    let events = get(&server.url("/api/v1/events?limit=100"));
    assert_eq!(events.body["events"].as_array().map(Vec::len), Some(5));
    let saved = dir.path().join("events.json");
    std::fs::write(&saved, events.body.to_string()).unwrap();
    let verified = tryvoga(&[
        "verify",
        saved.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(
        verified, "verified 5 events",
        "old and new events verify with the old key"
    );

    let again = tryvoga_fails(&[
        "migrate",
        "--from",
        db.to_str().unwrap(),
        "--to",
        &url,
        "--signing-key",
        key.to_str().unwrap(),
    ]);
    assert!(again.contains("already holds a record"), "{again}");
}

#[test]
fn two_nodes_keep_one_log_through_a_kill_9_with_clients_retrying_on_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let pg = cluster();
    let url = pg.database("nodes").unwrap();
    let key = dir.path().join("record.ed25519");
    let a = node(&url, &key);
    let admin = a
        .admin
        .clone()
        .expect("the first node makes the admin token");
    let b = node(&url, &key);
    assert_eq!(b.admin, None, "one admin token for the record");

    const COMMANDS: usize = 500;
    let regions = regions(&a, COMMANDS);
    let nodes = [a.base.clone(), b.base.clone()];
    let next = Arc::new(AtomicUsize::new(0));
    let acked: Arc<Mutex<HashMap<u64, u64>>> = Arc::default();
    let a_alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut clients = Vec::new();
    for c in 0..24 {
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
                let key = format!("cmd-{i}");
                let deadline = Instant::now() + Duration::from_secs(60);
                let mut at = (i + c) % 2;
                loop {
                    assert!(Instant::now() < deadline, "command {i} never acknowledged");
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
                            acked.lock().unwrap().insert(regions[i], id);
                            break;
                        }
                        Ok(resp) => panic!("command {i}: unexpected {}", resp.status()),
                        // A refused connection, a cut one, or a 503: the other node, same key.
                        Err(ureq::Error::Status(503, _)) | Err(ureq::Error::Transport(_)) => {
                            at = 1 - at;
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(e) => panic!("command {i}: {e}"),
                    }
                }
            }
        }));
    }
    // Node A dies in the middle of the commands.
    while acked.lock().unwrap().len() < COMMANDS / 3 {
        std::thread::sleep(Duration::from_millis(5));
    }
    a.kill9();
    a_alive.store(false, Ordering::Relaxed);
    for client in clients {
        client.join().expect("a client failed");
    }
    let acked = acked.lock().unwrap().clone();
    assert_eq!(
        acked.len(),
        COMMANDS,
        "every command acknowledged, by one node or the other"
    );

    let log = seqs(&b);
    assert_eq!(
        log,
        (1..=log.len() as u64).collect::<Vec<_>>(),
        "the log is gapless"
    );
    let active = get(&b.url("/api/v1/alerts/active")).body;
    let on: Vec<(u64, u64)> = active["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| {
            (
                a["region"]["id"].as_u64().unwrap_or(0),
                a["id"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let regions_on: HashSet<u64> = on.iter().map(|(r, _)| *r).collect();
    assert_eq!(
        on.len(),
        COMMANDS,
        "each acknowledged command present exactly once"
    );
    for (region, id) in &on {
        assert_eq!(
            acked.get(region),
            Some(id),
            "the alert the client was told about"
        );
    }
    assert_eq!(regions_on.len(), COMMANDS);

    // A token revoked through one node is refused by another within a second.
    let c = node(&url, &key);
    let made = post(
        &b.url("/api/v1/tokens"),
        &admin,
        &json!({ "name": "kyiv-issuer", "role": "issuer", "regions": [31] }),
    );
    assert_eq!(made.status, 201, "{:?}", made.body);
    let secret = made.body["token"].as_str().expect("secret").to_string();
    let end_url = |s: &Server| s.url("/api/v1/alerts");
    let first = request(
        "POST",
        &end_url(&c),
        Some(&secret),
        &[],
        Some(
            json!({"region": 31, "type": "chemical"})
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(first.status, 201, "{:?}", first.body);
    let revoked = request(
        "DELETE",
        &b.url("/api/v1/tokens/kyiv-issuer"),
        Some(&admin),
        &[],
        None,
    );
    assert!(
        revoked.status < 300,
        "{}: {:?}",
        revoked.status,
        revoked.body
    );
    let revoked_at = Instant::now();
    loop {
        let tried = request(
            "POST",
            &end_url(&c),
            Some(&secret),
            &[],
            Some(
                json!({"region": 31, "type": "nuclear"})
                    .to_string()
                    .as_bytes(),
            ),
        );
        if tried.status == 401 {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_millis(1100),
            "the other node still took the revoked token after {:?}",
            revoked_at.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_stopped_database_is_a_quick_503_and_then_service_again() {
    let dir = tempfile::tempdir().unwrap();
    let pg = cluster();
    let url = pg.database("outage").unwrap();
    let server = node(&url, &dir.path().join("k.ed25519"));
    let admin = server.admin.clone().expect("admin");
    let ids = regions(&server, 40);
    assert_eq!(start_alert(&server, &admin, json!(ids[0])).status, 201);
    pg.stop_immediate().unwrap();
    let mut answered = Vec::new();
    for region in &ids[1..6] {
        let began = Instant::now();
        let r = start_alert(&server, &admin, json!(region));
        answered.push((r.status, began.elapsed()));
    }
    for (status, took) in &answered {
        assert_eq!(*status, 503, "{answered:?}");
        assert!(*took < Duration::from_secs(5), "{answered:?}");
    }
    pg.resume().unwrap();
    let back = Instant::now();
    loop {
        let r = start_alert(&server, &admin, json!(ids[10]));
        if r.status == 201 {
            break;
        }
        assert_eq!(r.status, 503);
        assert!(back.elapsed() < Duration::from_secs(15), "not served again");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Every pooled read connection died with the server: each read is answered all the same.
    for _ in 0..20 {
        let r = get(&server.url("/api/v1/events?after=0"));
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(
        seqs(&server),
        vec![1, 2],
        "nothing half-written while it was down"
    );
}
