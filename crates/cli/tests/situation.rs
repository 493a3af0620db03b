//! Threats, pre-alerts, power restrictions and times to shelter on the real binary: a threat
//! reaches the subscribers of the regions it concerns (and no others) within a second, with an
//! arrival window, and lapses by itself; a pre-alert ends when an alert covers it, or lapses;
//! a grid token out of its scope is refused and audited; bad input changes nothing.

mod common;

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use common::*;
use serde_json::{Value, json};

const KYIV_OBLAST: u64 = 14;
const CHERNIHIV: u64 = 25;
const LVIV: u64 = 27;

/// The next event of `kind` on a stream within `within`, skipping others.
fn next_of(rx: &Receiver<SseEvent>, kind: &str, within: Duration) -> Option<SseEvent> {
    let deadline = Instant::now() + within;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(e) if e.event == kind => return Some(e),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
    None
}

fn in_secs(s: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(s)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn token(db: &std::path::Path, name: &str, role: &str, regions: &str) -> String {
    tryvoga(&[
        "token",
        "create",
        "--name",
        name,
        "--role",
        role,
        "--regions",
        regions,
        "--db",
        db.to_str().expect("utf-8 path"),
    ])
}

#[test]
fn a_threat_reaches_its_regions_subscribers_with_an_eta_and_expires_by_itself() {
    let (_dir, server, admin) = fresh();
    let kyiv = subscribe(
        &server.url(&format!("/api/v1/stream?regions={KYIV_OBLAST}")),
        None,
        100,
    );
    let lviv = subscribe(
        &server.url(&format!("/api/v1/stream?regions={LVIV}")),
        None,
        100,
    );
    let sent = Instant::now();
    let reply = post(
        &server.url("/api/v1/threats"),
        &admin,
        &json!({
            "kind": "ballistic_missiles",
            "count": 1,
            "from": "Чернігівська область",
            "towards": [KYIV_OBLAST],
            "expires_at": in_secs(3),
            "source": "Ракета на Чернігівщині курсом на Київщину!",
        }),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.body["threat"]["id"].as_u64().expect("a numeric id");
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/threats/{id}").as_str())
    );
    let heard = next_of(&kyiv, "threat.reported", Duration::from_secs(1))
        .expect("the Kyiv oblast subscriber hears the threat within a second");
    assert!(sent.elapsed() < Duration::from_secs(1));
    let threat = &heard.data["threat"];
    assert_eq!(threat["kind"], "ballistic_missiles");
    assert_eq!(threat["from"]["region"]["id"], CHERNIHIV);
    let eta = &threat["eta"][0];
    assert_eq!(eta["region"], KYIV_OBLAST);
    assert_eq!(eta["estimate"], true);
    assert!(eta["from"].as_str().unwrap() < eta["to"].as_str().unwrap());
    // What is on for Kyiv oblast (and a raion in it) now; nothing for Lviv.
    let on = get(&server.url("/api/v1/threats?region=Бучанський район"));
    assert_eq!(
        on.body["threats"].as_array().map(Vec::len),
        Some(1),
        "{}",
        on.body
    );
    let on = get(&server.url(&format!("/api/v1/threats?region={LVIV}")));
    assert_eq!(on.body["threats"], json!([]));
    // It lapses by itself: the subscriber hears it cleared, and nothing is on.
    let cleared = next_of(&kyiv, "threat.cleared", Duration::from_secs(5))
        .expect("the threat lapses by itself");
    assert_eq!(cleared.data["threat"]["clear_reason"], "expired");
    assert_eq!(cleared.data["threat"]["id"], id);
    let on = get(&server.url("/api/v1/threats"));
    assert_eq!(on.body["threats"], json!([]));
    let history = get(&server.url(&format!("/api/v1/threats/history?region={KYIV_OBLAST}")));
    let kinds: Vec<&str> = history.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["threat.cleared", "threat.reported"]);
    // Lviv's subscriber heard neither.
    assert!(
        next_of(&lviv, "threat.reported", Duration::from_millis(200)).is_none()
            && next_of(&lviv, "threat.cleared", Duration::from_millis(10)).is_none(),
        "a Lviv subscriber hears nothing of a threat towards Kyiv oblast"
    );
}

#[test]
fn a_prealert_ends_with_an_alert_or_lapses() {
    let (_dir, server, admin) = fresh();
    let stream = subscribe(&server.url("/api/v1/stream"), None, 100);
    let reply = post(
        &server.url("/api/v1/prealerts"),
        &admin,
        &json!({ "regions": [KYIV_OBLAST], "note": "launches expected" }),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert!(next_of(&stream, "prealert.started", Duration::from_secs(1)).is_some());
    let region = get(&server.url(&format!("/api/v1/regions/{KYIV_OBLAST}")));
    assert_eq!(region.body["prealerts"].as_array().map(Vec::len), Some(1));
    // An alert on a raion of the oblast ends it.
    let alert = start_alert(&server, &admin, json!("Бучанський район"));
    assert_eq!(alert.status, 201, "{}", alert.body);
    let ended = next_of(&stream, "prealert.ended", Duration::from_secs(2))
        .expect("the alert ends the pre-alert");
    assert_eq!(ended.data["prealert"]["end_reason"], "alert");
    // One in Lviv with a short expiry lapses.
    let reply = post(
        &server.url("/api/v1/prealerts"),
        &admin,
        &json!({ "regions": ["Львівська область"], "expires_at": in_secs(1) }),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let ended =
        next_of(&stream, "prealert.ended", Duration::from_secs(4)).expect("the pre-alert lapses");
    assert_eq!(ended.data["prealert"]["end_reason"], "expired");
    assert_eq!(
        get(&server.url("/api/v1/prealerts")).body["prealerts"],
        json!([])
    );
}

fn audit_has(server: &Server, admin: &str, action: &str, code: &str) -> bool {
    // Refusals made before the core are queued for the writer's next batch.
    std::thread::sleep(Duration::from_millis(200));
    let audit = request(
        "GET",
        &server.url("/api/v1/audit?limit=100"),
        Some(admin),
        &[],
        None,
    );
    audit.body["audit"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["action"] == action && e["code"] == code && e["outcome"] == "refused")
}

#[test]
fn power_restrictions_are_for_grid_tokens_in_their_scope() {
    let (dir, server, admin) = fresh();
    let db = dir.path().join("tryvoga.db");
    let grid = token(&db, "kyiv-grid", "grid", "Київська область");
    let restriction = |region: Value| {
        json!({ "regions": [region], "kind": "scheduled_outages",
                "queues": ["1", "2.1"], "hours": ["08:00-12:00"] })
    };
    let out = post(
        &server.url("/api/v1/power"),
        &grid,
        &restriction(json!(LVIV)),
    );
    assert_eq!(out.status, 403, "{}", out.body);
    assert!(audit_has(&server, &admin, "start_power", "forbidden"));
    let ok = post(
        &server.url("/api/v1/power"),
        &grid,
        &restriction(json!(KYIV_OBLAST)),
    );
    assert_eq!(ok.status, 201, "{}", ok.body);
    let id = ok.body["power"]["id"].as_u64().expect("id");
    let on = get(&server.url("/api/v1/power?region=Бучанський район"));
    assert_eq!(on.body["power"].as_array().map(Vec::len), Some(1));
    let patched = request(
        "PATCH",
        &server.url(&format!("/api/v1/power/{id}")),
        Some(&grid),
        &[],
        Some(br#"{"kind":"emergency_outages"}"#),
    );
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["kind"], "power.updated");
    // An issuer token may not restrict power, nor a grid token raise an alert.
    let issuer = issuer_token(&db, "kyiv-duty", "Київська область");
    let refused = post(
        &server.url("/api/v1/power"),
        &issuer,
        &restriction(json!(KYIV_OBLAST)),
    );
    assert_eq!(refused.status, 403);
    assert_eq!(start_alert(&server, &grid, json!(KYIV_OBLAST)).status, 403);
    let ended = post(
        &server.url(&format!("/api/v1/power/{id}/end")),
        &grid,
        &json!({}),
    );
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert_eq!(get(&server.url("/api/v1/power")).body["power"], json!([]));
}

#[test]
fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let (dir, server, admin) = fresh();
    let db = dir.path().join("tryvoga.db");
    let kyiv = issuer_token(&db, "kyiv-duty", "Київська область");
    let head = || {
        get(&server.url("/api/v1/events?after=0")).body["events"]
            .as_array()
            .map(Vec::len)
    };
    let before = head();
    let cases: Vec<(Value, &str, u16)> = vec![
        (
            json!({ "kind": "hypersonic_pigeons", "towards": [KYIV_OBLAST] }),
            &admin,
            422,
        ),
        (
            json!({ "kind": "drones", "towards": [KYIV_OBLAST], "expires_at": in_secs(-60) }),
            &admin,
            422,
        ),
        (json!({ "kind": "drones", "towards": [LVIV] }), &kyiv, 403),
        (
            json!({ "kind": "drones", "towards": ["Нарнія"] }),
            &admin,
            404,
        ),
        (json!({ "kind": "drones", "heading": 720 }), &admin, 422),
    ];
    for (body, who, status) in cases {
        let r = post(&server.url("/api/v1/threats"), who, &body);
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}",
            r.body
        );
    }
    let malformed = request(
        "POST",
        &server.url("/api/v1/prealerts"),
        Some(&admin),
        &[],
        Some(b"{\"regions\": [14"),
    );
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    let past = post(
        &server.url("/api/v1/prealerts"),
        &admin,
        &json!({ "regions": [KYIV_OBLAST], "expires_at": in_secs(-1) }),
    );
    assert_eq!(past.status, 422, "{}", past.body);
    let kind = post(
        &server.url("/api/v1/power"),
        &admin,
        &json!({ "regions": [KYIV_OBLAST], "kind": "blackout" }),
    );
    assert_eq!(kind.status, 422, "{}", kind.body);
    assert!(
        kind.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("scheduled_outages")
    );
    assert_eq!(head(), before, "no refusal appended an event");
    assert_eq!(
        get(&server.url("/api/v1/threats")).body["threats"],
        json!([])
    );
    assert!(audit_has(&server, &admin, "raise_threat", "forbidden"));
}

#[test]
fn time_to_shelter_and_compat_threats() {
    let (_dir, server, admin) = fresh();
    let set = request(
        "PUT",
        &server.url("/api/v1/regions/31/time-to-shelter"),
        Some(&admin),
        &[],
        Some(br#"{"seconds": 90}"#),
    );
    assert_eq!(set.status, 200, "{}", set.body);
    let region = get(&server.url("/api/v1/regions/31"));
    assert_eq!(region.body["time_to_shelter"], 90);
    let issuer_refused = request(
        "PUT",
        &server.url("/api/v1/regions/31/time-to-shelter"),
        Some(&issuer_token(&_dir.path().join("tryvoga.db"), "duty", "31")),
        &[],
        Some(br#"{"seconds": 10}"#),
    );
    assert_eq!(issuer_refused.status, 403);
    // The command line, through the server.
    let printed = tryvoga(&[
        "region",
        "set",
        "Київ",
        "--time-to-shelter",
        "75",
        "--server",
        &server.url(""),
        "--token",
        &admin,
        "--json",
    ]);
    let printed: Value = serde_json::from_str(&printed).expect("JSON");
    assert_eq!(printed["time_to_shelter"], 75);
    let region = get(&server.url("/api/v1/regions/31"));
    assert_eq!(region.body["time_to_shelter"], 75);
    assert!(start_alert(&server, &admin, json!(31)).status == 201);
    let threat = post(
        &server.url("/api/v1/threats"),
        &admin,
        &json!({ "kind": "cruise_missiles", "from": CHERNIHIV, "towards": [31],
                 "source": "Крилаті ракети курсом на Київ" }),
    );
    assert_eq!(threat.status, 201, "{}", threat.body);
    let active = get(&server.url(&format!("/v1/alerts/active.json?token={admin}")));
    let alert = &active.body["alerts"][0];
    assert_eq!(
        alert["threats"][0]["threat_type"], "cruise_missiles",
        "{}",
        active.body
    );
    assert_eq!(alert["threats"][0]["level"], "red");
    assert_eq!(
        alert["threats"][0]["source_message"],
        "Крилаті ракети курсом на Київ"
    );
    assert!(alert["threats"][0]["started_at"].is_string());
}

#[test]
fn time_to_shelter_is_set_offline_and_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("tryvoga.db");
    let db_text = db.to_str().expect("utf-8 path");
    // Making the first token creates the record; then the region is set on the file.
    token(&db, "first-admin", "admin", "");
    tryvoga(&[
        "region",
        "set",
        "31",
        "--time-to-shelter",
        "90",
        "--db",
        db_text,
    ]);
    let server = Server::start(&db);
    let region = get(&server.url("/api/v1/regions/31"));
    assert_eq!(region.body["time_to_shelter"], 90, "{}", region.body);
    // A hromada of Kyiv oblast inherits nothing from the city.
    let region = get(&server.url("/api/v1/regions/14"));
    assert_eq!(region.body["time_to_shelter"], Value::Null);
}
