//! End-to-end: the real binary, a fresh database, and the behaviour an issuer and a subscriber
//! see through the native API and the command line.
//!
//! Longer than most files, on purpose: each test is one scenario a user would notice, against
//! one real binary, sharing this file's few helpers; split by topic they would repeat them.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const KYIV_OBLAST: u64 = 14;
const KYIV_CITY: u64 = 31;
const LVIV_OBLAST: u64 = 27;

fn next(rx: &std::sync::mpsc::Receiver<SseEvent>, within: Duration) -> SseEvent {
    rx.recv_timeout(within)
        .unwrap_or_else(|_| panic!("no event within {within:?}"))
}

#[test]
fn stream_delivers_start_end_and_cancel_within_a_second() {
    let (_dir, server, admin) = fresh();
    let stream = subscribe(&server.url("/api/v1/stream"), None, 100);

    let t = Instant::now();
    let started = start_alert(&server, &admin, json!("Kyiv oblast"));
    assert_eq!(started.status, 201, "{:?}", started.body);
    let e = next(&stream, Duration::from_secs(1));
    assert!(t.elapsed() < Duration::from_secs(1));
    assert_eq!(e.event, "alert.started");
    assert_eq!(e.data["alert"]["region"]["id"], KYIV_OBLAST);
    assert_eq!(e.id, e.data["seq"].as_u64());
    let id = started.body["id"].as_u64().expect("alert id");

    let t = Instant::now();
    let ended = post(
        &server.url(&format!("/api/v1/alerts/{id}/end")),
        &admin,
        &json!({}),
    );
    assert_eq!(ended.status, 200, "{:?}", ended.body);
    let e = next(&stream, Duration::from_secs(1));
    assert!(t.elapsed() < Duration::from_secs(1));
    assert_eq!(e.event, "alert.ended");
    assert!(e.data["alert"]["ended_at"].is_string());

    let second = start_alert(&server, &admin, json!(KYIV_CITY));
    let id2 = second.body["id"].as_u64().expect("alert id");
    assert_eq!(next(&stream, Duration::from_secs(1)).event, "alert.started");
    let t = Instant::now();
    let cancelled = post(
        &server.url(&format!("/api/v1/alerts/{id2}/cancel")),
        &admin,
        &json!({ "reason": "sensor fault, no launch" }),
    );
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    let e = next(&stream, Duration::from_secs(1));
    assert!(t.elapsed() < Duration::from_secs(1));
    assert_eq!(e.event, "alert.cancelled");
    assert_eq!(e.data["alert"]["cancelled"], true);
    assert_eq!(e.data["alert"]["cancel_reason"], "sensor fault, no launch");

    // The cancelled alert is kept in the record, flagged.
    let kept = get(&server.url(&format!("/api/v1/alerts/{id2}")));
    assert_eq!(kept.body["cancelled"], true);
}

#[test]
fn a_resumed_subscriber_gets_a_contiguous_sequence() {
    let (_dir, server, admin) = fresh();
    let oblasts: Vec<u64> = get(&server.url("/api/v1/regions?level=oblast")).body["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .filter_map(|r| r["id"].as_u64())
        .collect();
    // Reads three events, then hangs up.
    let first = subscribe(&server.url("/api/v1/stream"), None, 3);
    for &o in &oblasts[..3] {
        assert_eq!(start_alert(&server, &admin, json!(o)).status, 201);
    }
    let mut seen: Vec<u64> = (0..3)
        .map(|_| next(&first, Duration::from_secs(2)).id.expect("id"))
        .collect();
    // Events committed while nobody listens.
    for &o in &oblasts[3..10] {
        assert_eq!(start_alert(&server, &admin, json!(o)).status, 201);
    }
    let last = *seen.last().expect("three events");
    let resumed = subscribe(&server.url("/api/v1/stream"), Some(last), 100);
    for &o in &oblasts[10..12] {
        assert_eq!(start_alert(&server, &admin, json!(o)).status, 201);
    }
    for _ in 0..9 {
        seen.push(next(&resumed, Duration::from_secs(2)).id.expect("id"));
    }
    assert_eq!(seen, (1..=12).collect::<Vec<u64>>(), "no gap, no repeat");

    // `?after=` does the same as the header.
    let again = subscribe(&server.url("/api/v1/stream?after=10"), None, 2);
    let ids: Vec<u64> = (0..2)
        .map(|_| next(&again, Duration::from_secs(2)).id.expect("id"))
        .collect();
    assert_eq!(ids, vec![11, 12]);
}

#[test]
fn stream_filters_by_region_hierarchy_and_type() {
    let (_dir, server, admin) = fresh();
    let kyiv_only = subscribe(
        &server.url("/api/v1/stream?regions=14&types=air_raid"),
        None,
        10,
    );
    assert_eq!(start_alert(&server, &admin, json!(LVIV_OBLAST)).status, 201);
    let art = post(
        &server.url("/api/v1/alerts"),
        &admin,
        &json!({ "region": KYIV_OBLAST, "type": "artillery_shelling" }),
    );
    assert_eq!(art.status, 201);
    let raion = get(&server.url("/api/v1/regions?level=raion")).body["regions"]
        .as_array()
        .expect("raions")
        .iter()
        .find(|r| r["oblast"] == KYIV_OBLAST)
        .expect("a raion of Kyiv oblast")["id"]
        .clone();
    assert_eq!(start_alert(&server, &admin, raion.clone()).status, 201);
    let e = next(&kyiv_only, Duration::from_secs(2));
    assert_eq!(
        e.data["alert"]["region"]["id"], raion,
        "only the matching event arrives"
    );
    assert!(kyiv_only.recv_timeout(Duration::from_millis(300)).is_err());
}

#[test]
fn acknowledged_alerts_survive_kill_9_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("tryvoga.db");
    let server = Server::start(&db);
    let admin = server.admin.clone().expect("admin token");
    let regions: Vec<u64> = get(&server.url("/api/v1/regions?level=raion")).body["regions"]
        .as_array()
        .expect("raions")
        .iter()
        .filter_map(|r| r["id"].as_u64())
        .take(120)
        .collect();
    // A burst from several threads, so that commits are grouped.
    let base = server.base.clone();
    let acked: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = regions
            .chunks(15)
            .map(|chunk| {
                let (base, admin) = (base.clone(), admin.clone());
                s.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|&r| {
                            let reply = post(
                                &format!("{base}/api/v1/alerts"),
                                &admin,
                                &json!({ "region": r, "type": "air_raid" }),
                            );
                            (reply.status == 201)
                                .then(|| reply.body["id"].as_u64())
                                .flatten()
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    assert_eq!(acked.len(), regions.len(), "every command acknowledged");
    server.kill9();

    let server = Server::start(&db);
    assert!(
        server.admin.is_none(),
        "the admin token is printed on the first run only"
    );
    let active = get(&server.url("/api/v1/alerts/active")).body;
    let ids: Vec<u64> = active["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|a| a["id"].as_u64())
        .collect();
    let unique: HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "none twice");
    assert_eq!(
        unique,
        acked.iter().copied().collect(),
        "every acknowledged alert is there"
    );
    let events = get(&server.url("/api/v1/events?limit=1000")).body;
    let seqs: Vec<u64> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    assert_eq!(
        seqs,
        (1..=acked.len() as u64).collect::<Vec<_>>(),
        "gapless log"
    );
}

#[test]
fn bad_input_gets_a_clear_4xx_changes_nothing_and_is_audited() {
    let (dir, server, admin) = fresh();
    let db = dir.path().join("tryvoga.db");
    let kyiv = issuer_token(&db, "kyiv-duty", "Київська область,31");
    let alerts = server.url("/api/v1/alerts");

    let out_of_scope = start_alert(&server, &kyiv, json!("Lviv oblast"));
    assert_eq!(out_of_scope.status, 403);
    assert_eq!(out_of_scope.body["error"]["code"], "forbidden");

    let unknown = start_alert(&server, &kyiv, json!("Kyjiw"));
    assert_eq!(unknown.status, 404);
    let candidates = unknown.body["error"]["candidates"]
        .as_array()
        .expect("candidates");
    assert!(
        candidates
            .iter()
            .any(|c| c["id"] == KYIV_OBLAST || c["id"] == KYIV_CITY)
    );

    let malformed = request("POST", &alerts, Some(&kyiv), &[], Some(b"{\"region\": 14,"));
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.body["error"]["code"], "malformed_json");

    let big = format!(
        "{{\"region\":14,\"type\":\"air_raid\",\"note\":\"{}\"}}",
        "x".repeat(70_000)
    );
    let oversized = request("POST", &alerts, Some(&kyiv), &[], Some(big.as_bytes()));
    assert_eq!(oversized.status, 413);
    assert_eq!(oversized.body["error"]["code"], "body_too_large");

    let bad_type = post(&alerts, &kyiv, &json!({ "region": 14, "type": "meteor" }));
    assert_eq!(bad_type.status, 422);
    assert!(
        bad_type.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("air_raid")
    );

    let unknown_field = post(&alerts, &kyiv, &json!({ "region": 14, "typ": "air_raid" }));
    assert_eq!(unknown_field.status, 422);

    let wrong_token = start_alert(&server, "tv_not_a_token", json!(14));
    assert_eq!(wrong_token.status, 401);
    let no_token = request("POST", &alerts, None, &[], Some(b"{}"));
    assert_eq!(no_token.status, 401);

    let reader_made = post(
        &server.url("/api/v1/tokens"),
        &kyiv,
        &json!({ "name": "sneaky", "role": "admin" }),
    );
    assert_eq!(reader_made.status, 403, "only admins manage tokens");

    for garbage in ["/api/v1/alerts/abc/end", "/api/v1/alerts/99999/end"] {
        let r = request("POST", &server.url(garbage), Some(&kyiv), &[], Some(b"{}"));
        assert!((400..500).contains(&r.status), "{garbage}: {}", r.status);
        assert!(
            r.body["error"]["code"].is_string(),
            "{garbage}: {:?}",
            r.body
        );
    }
    let bad_query = get(&server.url("/api/v1/events?after=minus-one"));
    assert_eq!(bad_query.status, 400);

    // Nothing changed.
    let active = get(&server.url("/api/v1/alerts/active")).body;
    assert_eq!(active["seq"], 0);
    assert_eq!(active["alerts"], json!([]));

    // Every refused command is in the audit trail, under the token that sent it.
    std::thread::sleep(Duration::from_millis(200));
    let audit = request(
        "GET",
        &server.url("/api/v1/audit?limit=100"),
        Some(&admin),
        &[],
        None,
    );
    assert_eq!(audit.status, 200);
    let records = audit.body["audit"].as_array().expect("audit");
    let kyiv_refusals: Vec<&str> = records
        .iter()
        .filter(|r| r["token"] == "kyiv-duty" && r["outcome"] == "refused")
        .filter_map(|r| r["code"].as_str())
        .collect();
    for code in [
        "forbidden",
        "unknown_region",
        "malformed_json",
        "body_too_large",
        "invalid",
    ] {
        assert!(
            kyiv_refusals.contains(&code),
            "{code} audited: {kyiv_refusals:?}"
        );
    }
    assert!(
        records
            .iter()
            .any(|r| r["code"] == "unauthorized" && r["token"].is_null()),
        "unknown tokens are audited too"
    );
}

#[test]
fn conflicts_and_idempotency_keys() {
    let (_dir, server, admin) = fresh();
    let first = start_alert(&server, &admin, json!(KYIV_CITY));
    assert_eq!(first.status, 201);
    let second = start_alert(&server, &admin, json!("м. Київ"));
    assert_eq!(second.status, 409);
    assert_eq!(
        second.body["error"]["alert"]["id"], first.body["id"],
        "409 names the existing alert"
    );

    // A drill on the same region does not conflict with the real alert.
    let drill = post(
        &server.url("/api/v1/alerts"),
        &admin,
        &json!({ "region": KYIV_CITY, "type": "air_raid", "status": "exercise" }),
    );
    assert_eq!(drill.status, 201);

    let body = json!({ "region": LVIV_OBLAST, "type": "air_raid", "level": "red" }).to_string();
    let key = [("Idempotency-Key", "lviv-0001")];
    let url = server.url("/api/v1/alerts");
    let a = request("POST", &url, Some(&admin), &key, Some(body.as_bytes()));
    let b = request("POST", &url, Some(&admin), &key, Some(body.as_bytes()));
    assert_eq!(a.status, 201);
    assert_eq!(b.status, 201);
    assert_eq!(a.body, b.body, "the same answer again");
    assert_eq!(b.header("idempotent-replay"), Some("true"));
    let other = json!({ "region": KYIV_OBLAST, "type": "air_raid" }).to_string();
    let c = request("POST", &url, Some(&admin), &key, Some(other.as_bytes()));
    assert_eq!(c.status, 422, "a key reused for another request is refused");
    let active = get(&server.url("/api/v1/alerts/active")).body;
    assert_eq!(active["alerts"].as_array().map(Vec::len), Some(3));
}

#[test]
fn statuses_follow_the_hierarchy() {
    let (_dir, server, admin) = fresh();
    let hromadas = get(&server.url("/api/v1/regions?level=hromada")).body;
    let hromada = hromadas["regions"]
        .as_array()
        .expect("hromadas")
        .iter()
        .find(|h| h["oblast"] == LVIV_OBLAST)
        .expect("a hromada of Lviv oblast")
        .clone();
    let raion = hromada["parent"].as_u64().expect("parent raion");
    assert_eq!(
        start_alert(&server, &admin, hromada["id"].clone()).status,
        201
    );
    let status =
        |id: u64| get(&server.url(&format!("/api/v1/regions/{id}"))).body["status"].clone();
    assert_eq!(status(hromada["id"].as_u64().expect("id")), "active");
    assert_eq!(status(raion), "partial");
    assert_eq!(status(LVIV_OBLAST), "partial");
    assert_eq!(status(KYIV_OBLAST), "none");

    assert_eq!(
        start_alert(&server, &admin, json!("Харківська область")).status,
        201
    );
    let tree = get(&server.url("/api/v1/regions")).body;
    let kharkiv = tree["regions"]
        .as_array()
        .expect("tree")
        .iter()
        .find(|o| o["id"] == 22)
        .expect("Kharkiv oblast");
    let mut below = Vec::new();
    let mut stack: Vec<&Value> = kharkiv["children"]
        .as_array()
        .expect("raions")
        .iter()
        .collect();
    while let Some(node) = stack.pop() {
        below.push(node["id"].as_u64().expect("id"));
        stack.extend(node["children"].as_array().into_iter().flatten());
    }
    assert!(below.len() > 10);
    for id in below {
        assert_eq!(
            status(id),
            "active",
            "descendant {id} of an oblast under alert"
        );
    }
}

#[test]
fn active_alerts_answer_304_when_nothing_changed() {
    let (_dir, server, admin) = fresh();
    assert_eq!(start_alert(&server, &admin, json!(KYIV_CITY)).status, 201);
    let first = get(&server.url("/api/v1/alerts/active"));
    let etag = first.header("etag").expect("etag").to_string();
    let modified = first
        .header("last-modified")
        .expect("last-modified")
        .to_string();
    let url = server.url("/api/v1/alerts/active");
    let again = request("GET", &url, None, &[("If-None-Match", &etag)], None);
    assert_eq!(again.status, 304);
    let since = request("GET", &url, None, &[("If-Modified-Since", &modified)], None);
    assert_eq!(since.status, 304);
    assert_eq!(start_alert(&server, &admin, json!(KYIV_OBLAST)).status, 201);
    let changed = request("GET", &url, None, &[("If-None-Match", &etag)], None);
    assert_eq!(changed.status, 200);
}

#[test]
fn command_line_issuer_workflow() {
    let (dir, server, _admin) = fresh();
    let db = dir.path().join("tryvoga.db");
    let token = issuer_token(&db, "kyiv-duty", "Київська область,31");
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .env("TRYVOGA_SERVER", &server.base)
            .env("TRYVOGA_TOKEN", &token)
            .output()
            .expect("run tryvoga");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, id, err) = run(&[
        "alert",
        "start",
        "--region",
        "Kyiv oblast",
        "--type",
        "air_raid",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let id: u64 = id.parse().expect("the id alone on stdout");

    let (code, _, err) = run(&["alert", "start", "--region", "Lviv oblast"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("403"), "{err}");

    let (code, listed, _) = run(&["alert", "list", "--json"]);
    assert_eq!(code, Some(0));
    let listed: Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed["alerts"][0]["id"], id);
    let (_, table, _) = run(&["alert", "list"]);
    assert!(table.contains("Київська область"), "{table}");

    let (code, _, err) = run(&[
        "alert",
        "cancel",
        &id.to_string(),
        "--reason",
        "drill mistaken for real",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(&["alert", "end", &id.to_string()]);
    assert_eq!(code, Some(1), "an alert cannot end twice");
    assert!(err.contains("409"), "{err}");

    let (code, _, err) = run(&["alert", "start", "--region", "Nowhere-on-earth"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("unknown_region"), "{err}");
    let usage = Command::new(BIN)
        .args(["alert", "start"])
        .output()
        .expect("run");
    assert_eq!(usage.status.code(), Some(2), "bad usage exits 2");

    let list = Command::new(BIN)
        .args(["token", "list", "--db"])
        .arg(&db)
        .output()
        .expect("token list");
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("kyiv-duty") && !text.contains(&token),
        "{text}"
    );
    let revoke = Command::new(BIN)
        .args(["token", "revoke", "kyiv-duty", "--db"])
        .arg(&db)
        .output()
        .expect("revoke");
    assert!(revoke.status.success());
    let (code, _, err) = run(&["alert", "start", "--region", "31"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("401"), "a revoked token is refused: {err}");
}

#[test]
fn health_and_metrics() {
    let (_dir, server, admin) = fresh();
    assert_eq!(start_alert(&server, &admin, json!(KYIV_CITY)).status, 201);
    let health = get(&server.url("/healthz"));
    assert_eq!(health.status, 200);
    assert_eq!(health.body["seq"], 1);
    let metrics = get(&server.url("/metrics"));
    let text = metrics.body.as_str().expect("text").to_string();
    assert!(text.contains("tryvoga_last_seq 1"), "{text}");
    assert!(text.contains("tryvoga_active_alerts 1"), "{text}");
}

#[test]
fn a_revoked_token_is_refused_at_once_though_the_server_remembers_tokens() {
    let (_dir, server, admin) = fresh();
    let made = post(
        &server.url("/api/v1/tokens"),
        &admin,
        &json!({ "name": "lviv-duty", "role": "issuer", "regions": [27] }),
    );
    assert_eq!(made.status, 201, "{:?}", made.body);
    let token = made.body["token"].as_str().expect("secret").to_string();
    // Used twice, so the server has it in memory when the revocation comes.
    assert_eq!(start_alert(&server, &token, json!(27)).status, 201);
    assert_eq!(start_alert(&server, &token, json!(27)).status, 409);
    let revoked = request(
        "DELETE",
        &server.url("/api/v1/tokens/lviv-duty"),
        Some(&admin),
        &[],
        None,
    );
    assert_eq!(revoked.status, 200, "{:?}", revoked.body);
    let after = start_alert(&server, &token, json!(27));
    assert_eq!(
        after.status, 401,
        "refused the moment the revocation is answered"
    );

    // Revoked from another process on the same file: refused once that command returns.
    let other = post(
        &server.url("/api/v1/tokens"),
        &admin,
        &json!({ "name": "odesa-duty", "role": "issuer", "regions": [18] }),
    );
    let other = other.body["token"].as_str().expect("secret").to_string();
    assert_eq!(start_alert(&server, &other, json!(18)).status, 201);
    let offline = Command::new(BIN)
        .args(["token", "revoke", "odesa-duty", "--db"])
        .arg(&server.db)
        .output()
        .expect("revoke");
    assert!(offline.status.success(), "{offline:?}");
    assert_eq!(start_alert(&server, &other, json!(18)).status, 401);
}

#[test]
fn a_first_start_that_fails_shows_no_token_and_the_next_start_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let failed = Command::new(BIN)
        .args(["serve", "--db", db.to_str().unwrap(), "--listen", &addr])
        .output()
        .unwrap();
    assert!(!failed.status.success(), "serve on a taken port succeeded");
    let stdout = String::from_utf8_lossy(&failed.stdout);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        !stdout.contains("admin token") && !stderr.contains("admin token"),
        "a start that failed showed a token: {stdout} {stderr}"
    );
    assert!(
        stderr.contains(&addr),
        "the error names the address: {stderr}"
    );
    drop(taken);
    let server = Server::start_with(&db, &[]);
    let token = server.admin.as_deref().unwrap_or_default();
    assert!(
        token.starts_with("tv_"),
        "the first start that serves shows the admin token"
    );
    let whoami = request("GET", &server.url("/api/v1/tokens"), Some(token), &[], None);
    assert_eq!(whoami.status, 200, "the token shown works: {}", whoami.body);
}

#[test]
fn offline_token_management_succeeds_beside_a_busy_server() {
    let (_dir, server, admin) = fresh();
    let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    // Four issuers raise and end alerts as fast as the server takes them, so that its writer
    // holds the file's write lock most of the time while the tokens are made beside it.
    let issuers: Vec<_> = [14u64, 27, 18, 22, 12, 13, 15, 16]
        .into_iter()
        .map(|region| {
            let busy = busy.clone();
            let url = server.url("/api/v1/alerts");
            let admin = admin.clone();
            std::thread::spawn(move || {
                let mut commands = 0u32;
                while busy.load(std::sync::atomic::Ordering::Relaxed) {
                    let made = post(
                        &url,
                        &admin,
                        &json!({ "region": region, "type": "air_raid" }),
                    );
                    if let Some(id) = made.body["id"].as_u64() {
                        post(&format!("{url}/{id}/end"), &admin, &json!({}));
                    }
                    commands += 2;
                }
                commands
            })
        })
        .collect();
    let db = server.db.to_str().unwrap().to_string();
    // Four at a time, as operators' scripts do, so that they also race each other.
    let makers: Vec<_> = (0..4)
        .map(|lane| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                for i in (lane..40).step_by(4) {
                    let name = format!("duty-{i}");
                    let out = Command::new(BIN)
                        .args(["token", "create", "--name", &name, "--role", "reader"])
                        .args(["--db", &db])
                        .output()
                        .expect("token create");
                    if !out.status.success() {
                        failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
                    }
                }
                failures
            })
        })
        .collect();
    let failures: Vec<String> = makers.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let revoked = Command::new(BIN)
        .args(["token", "revoke", "duty-0", "--db", &db])
        .output()
        .expect("token revoke");
    busy.store(false, std::sync::atomic::Ordering::Relaxed);
    let commands: u32 = issuers.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(commands > 40, "the server was busy: {commands} commands");
    assert!(
        failures.is_empty(),
        "{} of 40 failed: {failures:?}",
        failures.len()
    );
    assert!(revoked.status.success(), "{revoked:?}");
    let list = request(
        "GET",
        &server.url("/api/v1/tokens"),
        Some(&admin),
        &[],
        None,
    );
    let names: Vec<&str> = list.body["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for i in 0..40 {
        assert!(
            names.contains(&format!("duty-{i}").as_str()),
            "duty-{i} missing"
        );
    }
}

#[test]
fn the_listen_backlog_holds_a_reconnecting_crowd() {
    let (_dir, server, _admin) = fresh();
    let port = server.base.rsplit(':').next().unwrap().to_string();
    // `ss` shows a listening socket's backlog as its Send-Q.
    let out = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("ss (Debian: iproute2) is needed for this test");
    let text = String::from_utf8_lossy(&out.stdout);
    let backlog: u64 = text
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no listening socket on {port} in {text:?}"));
    assert!(
        backlog >= 1024,
        "backlog {backlog}: SYNs would be dropped under a crowd"
    );
}

/// A plain `GET path` from the loopback address `source`, its whole answer.
fn get_from(source: std::net::Ipv4Addr, server: &Server, path: &str) -> String {
    use std::io::{Read, Write};
    let target: std::net::SocketAddr = server
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("the server's address");
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    socket
        .bind(&std::net::SocketAddr::from((source, 0)).into())
        .expect("bind the source address");
    socket.connect(&target.into()).expect("connect");
    let mut stream: std::net::TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // A refused connection may be closed before the request is written: its answer, if any,
    // is still read.
    let _ = write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
    );
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn one_address_holding_stalled_bodies_cannot_keep_others_from_being_answered() {
    use std::io::{ErrorKind, Read, Write};
    // The attack as it was found: a server that may open 1,024 files, and 1,100 connections
    // from one address, each a POST head announcing 60,000 bytes followed by one byte.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_file_limit(&dir.path().join("t.db"), &[], 1024);
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut stalled = Vec::new();
    for _ in 0..1100 {
        let Ok(mut s) = std::net::TcpStream::connect(&addr) else {
            continue;
        };
        let _ = s.write_all(
            b"POST /api/v1/alerts HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
              content-length: 60000\r\n\r\n{",
        );
        stalled.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let (mut held, mut refused_429, mut cut) = (0, 0, 0);
    for s in &mut stalled {
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => held += 1,
            Ok(n) if buf[..n].starts_with(b"HTTP/1.1 429") => refused_429 += 1,
            _ => cut += 1,
        }
    }
    println!("1,100 stalled bodies: {held} held open, {refused_429} answered 429, {cut} cut");
    // The default: an eighth of the 1,024 descriptors.
    assert_eq!(held, 128, "429: {refused_429}, cut: {cut}");
    assert!(
        refused_429 > 900,
        "the rest are told why: {refused_429} of {}",
        1100 - held
    );

    // Another address is answered at once, while the stalled ones still hold their slots.
    let started = Instant::now();
    let answer = get_from([127, 0, 0, 2].into(), &server, "/api/v1/alerts/active");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // Refused: the 429 is written at once, and the close may overtake it.
    let answer = get_from([127, 0, 0, 1].into(), &server, "/api/v1/alerts/active");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 429"),
        "{answer}"
    );

    // The address gets its slots back as its connections go.
    drop(stalled);
    std::thread::sleep(Duration::from_millis(300));
    let answer = get_from([127, 0, 0, 1].into(), &server, "/api/v1/alerts/active");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
