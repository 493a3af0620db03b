//! The contract of a backend of the record, written once for any backend: what an
//! [`EventLog`] appends (atomically, with its materialised rows, idempotency keys, import keys,
//! audit entries, token and output changes) and what the [`Queries`] then read back, and how
//! its [`Leases`] are taken, renewed, expire and are given back. A
//! backend's test file calls [`run`] with a function that opens a fresh, empty backend;
//! `sqlite.rs` does so for the embedded backend, and the next backend calls the same suite.

use std::any::Any;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tryvoga_core::report::{AttackReport, Evidence, Period, WeaponClass, WeaponCount};
use tryvoga_core::{
    Actor, AlertId, AlertStatus, AlertType, Command, Event, Origin, RegionId, Registry, Role, State,
};
use tryvoga_store::log::{
    AuditRow, Batch, EventLog, IdempotencyRow, ImportKey, ImportedRow, Recorded, TokenWrite,
};
use tryvoga_store::{
    AuditEntry, DeadLetter, HistoryQuery, OutputWrite, SharedLeases, SharedQueries, Webhook, tokens,
};

/// A fresh, empty backend: its write half, its reads, and whatever must live as long as they
/// do (a temporary directory, a server).
pub struct Backend<L> {
    pub log: L,
    pub queries: SharedQueries,
    /// The same backend's leases.
    pub leases: SharedLeases,
    pub _keep: Box<dyn Any>,
}

/// Every check of the contract, each on a backend of its own.
pub fn run<L: EventLog>(make: &dyn Fn() -> Backend<L>) {
    an_empty_log_restores_to_the_empty_state(make());
    a_batch_is_appended_whole_and_read_back_as_written(make());
    a_batch_that_fails_writes_nothing(make());
    tokens_are_created_found_by_hash_and_revoked_once(make());
    reports_and_threats_are_found_by_their_key(make());
    imported_rows_are_found_again(make());
    output_positions_move_forward_only(make());
    compat_webhooks_and_their_key(make());
    an_outputs_own_position_moves_forward_only(make());
    a_lease_has_one_holder_until_it_expires_or_is_given_back(make());
}

const REGISTRY: fn() -> &'static Registry = Registry::embedded;

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0).unwrap() + Duration::minutes(minute)
}

fn admin() -> Actor {
    Actor {
        name: "admin".into(),
        role: Role::Admin,
        scope: Vec::new(),
    }
}

fn start(region: u32) -> Command {
    Command::StartAlert {
        region: RegionId(region),
        alert_type: AlertType::AirRaid,
        level: None,
        status: AlertStatus::Actual,
        note: None,
    }
}

/// Decides `command` against `state` as the writer would, at `minute`.
fn decide(state: &mut State, command: &Command, minute: i64) -> Event {
    let seq = state.last_seq() + 1;
    let event = state
        .decide_as(REGISTRY(), &admin(), command, Origin::Live, seq, at(minute))
        .expect("accepted");
    state.apply(&event);
    event
}

fn ok(action: &str) -> AuditEntry {
    AuditEntry {
        token: Some("admin".into()),
        action: action.into(),
        request: Some("{}".into()),
        code: "ok".into(),
        reason: "accepted".into(),
    }
}

fn an_empty_log_restores_to_the_empty_state<L: EventLog>(mut b: Backend<L>) {
    let state = b.log.restore().expect("restore");
    assert_eq!((state.last_seq(), state.active().count()), (0, 0));
    assert_eq!(b.log.newest_signature().expect("sig"), None);
    assert_eq!(b.log.event(1).expect("event"), None);
    assert_eq!(b.queries.head().expect("head"), (0, 0));
    assert!(b.queries.events_after(0, 10).expect("events").is_empty());
    assert_eq!(b.queries.token_count().expect("tokens"), 0);
}

fn a_batch_is_appended_whole_and_read_back_as_written<L: EventLog>(mut b: Backend<L>) {
    let mut state = b.log.restore().expect("restore");
    let kyiv = decide(&mut state, &start(31), 0);
    let lviv = decide(&mut state, &start(27), 1);
    let mut ended = decide(&mut state, &Command::EndAlert { id: AlertId(1) }, 30);
    ended.sig = Some("ed25519:0011223344556677:AAAA".into());
    let batch = Batch {
        events: vec![kyiv.clone(), lviv.clone(), ended.clone()],
        idempotency: vec![IdempotencyRow {
            token: "admin".into(),
            key: "k-1".into(),
            fingerprint: "f".into(),
            seq: 1,
        }],
        audit: vec![
            AuditRow {
                at: at(0),
                entry: ok("start_alert"),
                seq: Some(1),
            },
            AuditRow {
                at: at(2),
                entry: AuditEntry {
                    code: "forbidden".into(),
                    ..ok("start_alert")
                },
                seq: None,
            },
        ],
        ..Batch::default()
    };
    b.log.append(&batch).expect("append");

    let q = &b.queries;
    let stored = q.events_after(0, 10).expect("events");
    assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        stored[0].payload,
        serde_json::to_string(&kyiv).unwrap(),
        "the payload is the event exactly as written"
    );
    assert_eq!(stored[0].kind, "alert.started");
    assert_eq!(stored[0].region, Some(RegionId(31)));
    assert_eq!(q.events_after(1, 1).expect("page").len(), 1);
    assert_eq!(q.head().expect("head"), (3, ended.at.timestamp_millis()));
    assert_eq!(b.log.event(2).expect("event"), Some(lviv.clone()));
    assert_eq!(
        b.log.idempotency("admin", "k-1").expect("key"),
        Some(("f".into(), 1))
    );
    assert_eq!(b.log.idempotency("other", "k-1").expect("key"), None);
    assert_eq!(
        b.log.newest_signature().expect("sig").as_deref(),
        Some("ed25519:0011223344556677:AAAA")
    );
    assert_eq!(
        b.log.restore().expect("restore"),
        state,
        "restore equals the fold"
    );

    let kyiv_alert = q.alert(AlertId(1)).expect("alert").expect("materialised");
    assert_eq!(kyiv_alert.ended_at, Some(at(30)));
    assert_eq!(q.alert_events(AlertId(1)).expect("events").len(), 2);
    let times = q.event_times(&[1, 3, 99]).expect("times");
    assert_eq!(
        (times[&1], times[&3], times.get(&99)),
        (at(0), at(30), None)
    );

    let all = HistoryQuery {
        limit: 10,
        ..HistoryQuery::default()
    };
    let (page, next) = q.history(&all).expect("history");
    assert_eq!(page.iter().map(|a| a.id.0).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(next, None);
    let first = HistoryQuery {
        limit: 1,
        ..all.clone()
    };
    let (page, next) = q.history(&first).expect("page one");
    assert_eq!(page[0].id, AlertId(2));
    let rest = HistoryQuery {
        after: next,
        ..first.clone()
    };
    assert_eq!(q.history(&rest).expect("page two").0[0].id, AlertId(1));
    let drills = HistoryQuery {
        status: Some(AlertStatus::Exercise),
        ..all.clone()
    };
    assert!(q.history(&drills).expect("drills").0.is_empty());
    let spans = q.spans(None, None, at(10), at(60)).expect("spans");
    assert_eq!(spans.len(), 2, "both were under way at 10 minutes");
    assert_eq!(
        q.last_actual_change(&[RegionId(31)]).expect("change"),
        Some(at(30))
    );
    assert_eq!(q.ended_since(at(0), 10).expect("ended"), [AlertId(1)]);

    let audit = q.audit(10).expect("audit");
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].outcome, "refused", "newest first");
    assert_eq!(audit[1].outcome, "accepted");
    assert_eq!(audit[1].seq, Some(1));
}

fn a_batch_that_fails_writes_nothing<L: EventLog>(mut b: Backend<L>) {
    let mut state = b.log.restore().expect("restore");
    let first = decide(&mut state, &start(31), 0);
    b.log
        .append(&Batch {
            events: vec![first.clone()],
            ..Batch::default()
        })
        .expect("first");
    // The same sequence number again: the log refuses it, and nothing else of the batch lands.
    let doomed = Batch {
        events: vec![first],
        audit: vec![AuditRow {
            at: at(1),
            entry: ok("start_alert"),
            seq: None,
        }],
        tokens: vec![TokenWrite::Create {
            name: "ghost".into(),
            hash: tokens::hash("tv_ghost"),
            role: Role::Reader,
            regions: Vec::new(),
            at: at(1),
        }],
        ..Batch::default()
    };
    assert!(b.log.append(&doomed).is_err());
    assert!(b.queries.audit(10).expect("audit").is_empty());
    assert!(!b.log.token_named("ghost").expect("token"));
    assert_eq!(b.queries.head().expect("head").0, 1);
}

fn tokens_are_created_found_by_hash_and_revoked_once<L: EventLog>(mut b: Backend<L>) {
    let create = |name: &str, secret: &str| TokenWrite::Create {
        name: name.into(),
        hash: tokens::hash(secret),
        role: Role::Issuer,
        regions: vec![RegionId(14)],
        at: at(0),
    };
    let applied = b
        .log
        .append(&Batch {
            tokens: vec![create("kyiv", "tv_a"), create("lviv", "tv_b")],
            ..Batch::default()
        })
        .expect("create");
    assert_eq!(applied.tokens.len(), 2);
    assert_ne!(applied.tokens[0], applied.tokens[1], "each gets its own id");
    assert!(b.log.token_named("kyiv").expect("named"));
    let q = &b.queries;
    let found = q
        .token_by_hash(&tokens::hash("tv_a"))
        .expect("hash")
        .expect("live");
    assert_eq!(
        (found.name.as_str(), found.regions.clone()),
        ("kyiv", vec![RegionId(14)])
    );
    assert_eq!(found.id, applied.tokens[0]);
    assert_eq!(q.token_count().expect("count"), 2);
    let revoke = || TokenWrite::Revoke {
        name: "kyiv".into(),
        at: at(5),
    };
    let applied = b
        .log
        .append(&Batch {
            tokens: vec![revoke(), revoke()],
            ..Batch::default()
        })
        .expect("revoke");
    assert_eq!(applied.tokens, [1, 0], "a token is revoked once");
    assert_eq!(q.token_by_hash(&tokens::hash("tv_a")).expect("hash"), None);
    assert!(q.token_revoked(&tokens::hash("tv_a")).expect("revoked"));
    assert!(!q.token_revoked(&tokens::hash("tv_b")).expect("live"));
    let by_name = q.token_by_name("kyiv").expect("by name").expect("kept");
    assert_eq!(by_name.revoked_at, Some(at(5)));
    assert!(q.token_by_name("nobody").expect("by name").is_none());
    let listed = q.tokens().expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].revoked_at, Some(at(5)));
    assert!(
        b.log
            .token_named("kyiv")
            .expect("a revoked name stays taken")
    );
}

fn attack() -> AttackReport {
    AttackReport {
        period: Period {
            start: Some(Utc.with_ymd_and_hms(2024, 6, 23, 15, 0, 0).unwrap()),
            end: Some(Utc.with_ymd_and_hms(2024, 6, 24, 5, 30, 0).unwrap()),
        },
        weapons: vec![WeaponCount {
            class: Some(WeaponClass::Drone),
            launched: Some(27),
            destroyed: Some(24),
            ..WeaponCount::default()
        }],
        evidence: vec![Evidence {
            text: "збито 24 з 27 ударних БпЛА".into(),
            start: 0,
            end: 20,
        }],
        ..AttackReport::new("RU", "UA")
    }
}

fn reports_and_threats_are_found_by_their_key<L: EventLog>(mut b: Backend<L>) {
    let mut state = b.log.restore().expect("restore");
    let report = decide(
        &mut state,
        &Command::ReportAttack {
            report: Box::new(attack()),
        },
        0,
    );
    let key = report.body.content_key().expect("keyed").to_string();
    b.log
        .append(&Batch {
            events: vec![report],
            ..Batch::default()
        })
        .expect("append");
    assert_eq!(
        b.log.recorded(Recorded::Report, &key).expect("found"),
        Some(1)
    );
    assert_eq!(
        b.log.recorded(Recorded::Threat, &key).expect("other table"),
        None
    );
    let june = |d| Utc.with_ymd_and_hms(2024, 6, d, 0, 0, 0).unwrap();
    let listed = b.queries.reports(june(1), june(30), 10).expect("reports");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].report.id, key);
    assert_eq!(listed[0].time, attack().period.start.unwrap());
    let nights = b.queries.nights(june(1), june(30)).expect("nights");
    assert_eq!(nights.len(), 1);
    assert_eq!(nights[0].total.launched, Some(27));
    assert!(
        b.queries
            .reports(june(25), june(30), 10)
            .expect("later")
            .is_empty()
    );
    assert_eq!(b.queries.threat_count().expect("threats"), 0);
}

fn imported_rows_are_found_again<L: EventLog>(mut b: Backend<L>) {
    let key = ImportKey {
        source: "vadimkin/official".into(),
        region: RegionId(31),
        alert_type: AlertType::AirRaid,
        started_ms: at(0).timestamp_millis(),
    };
    b.log
        .append(&Batch {
            imported: vec![ImportedRow {
                key: key.clone(),
                alert: AlertId(7),
                file: "official_data_en.csv".into(),
                line: 2,
            }],
            ..Batch::default()
        })
        .expect("append");
    assert_eq!(b.log.imported(&key).expect("found"), Some(AlertId(7)));
    let other = ImportKey {
        source: "another".into(),
        ..key
    };
    assert_eq!(b.log.imported(&other).expect("per source"), None);
    assert_eq!(
        b.queries.imported_counts().expect("counts"),
        [("vadimkin/official".to_string(), 1)]
    );
}

fn webhook(id: &str) -> Webhook {
    Webhook {
        id: id.into(),
        owner: "kyiv".into(),
        url: "http://127.0.0.1:9/hook".into(),
        regions: Some(vec![31]),
        types: Some(vec!["air_raid".into()]),
        signing: "hmac-sha256".into(),
        secret: Some("whsec_x".into()),
        created_ms: at(0).timestamp_millis(),
        delivered_seq: 5,
        attempts: 0,
        last_error: None,
    }
}

fn outputs<L: EventLog>(b: &mut Backend<L>, writes: Vec<OutputWrite>) -> Vec<u64> {
    b.log
        .append(&Batch {
            outputs: writes,
            ..Batch::default()
        })
        .expect("append")
        .outputs
}

fn output_positions_move_forward_only<L: EventLog>(mut b: Backend<L>) {
    outputs(
        &mut b,
        vec![
            OutputWrite::CreateWebhook(webhook("wh_a")),
            OutputWrite::CreateWebhook(webhook("wh_b")),
        ],
    );
    let letter = |seq| OutputWrite::DeadLetter {
        webhook: "wh_a".into(),
        letter: DeadLetter {
            delivery: format!("wh_a-{seq}"),
            seq,
            attempts: 15,
            last_error: "the receiver answered 500".into(),
            failed_at: at(3),
        },
    };
    let changed = outputs(
        &mut b,
        vec![
            OutputWrite::WebhookProgress {
                id: "wh_a".into(),
                delivered_seq: 9,
                attempts: 2,
                last_error: Some("refused".into()),
            },
            OutputWrite::WebhookProgress {
                id: "wh_a".into(),
                delivered_seq: 7,
                attempts: 3,
                last_error: None,
            },
            letter(6),
            letter(6),
        ],
    );
    assert_eq!(changed, [1, 1, 1, 0], "a dead letter is kept once");
    let q = &b.queries;
    let a = q.webhook("wh_a").expect("read").expect("there");
    assert_eq!(a.delivered_seq, 9, "a position never moves back");
    assert_eq!((a.attempts, a.last_error), (3, None));
    assert_eq!(q.webhook_ids().expect("ids").len(), 2);
    let listed = q.webhooks().expect("list");
    assert_eq!(listed[0].0.regions, Some(vec![31]));
    assert_eq!(q.dead_letter_count("wh_a").expect("count"), 1);
    let letters = q.dead_letters("wh_a").expect("letters");
    assert_eq!((letters[0].seq, letters[0].failed_at), (6, at(3)));
    assert_eq!(
        outputs(
            &mut b,
            vec![OutputWrite::DeleteWebhook { id: "wh_a".into() }]
        ),
        [1]
    );
    assert_eq!(b.queries.webhook("wh_a").expect("read"), None);
    assert_eq!(b.queries.dead_letter_count("wh_a").expect("count"), 0);
}

fn compat_webhooks_and_their_key<L: EventLog>(mut b: Backend<L>) {
    let register = |url: &str, from| OutputWrite::RegisterCompatWebhook {
        token: "device".into(),
        url: url.into(),
        at: at(0),
        from_seq: from,
    };
    assert_eq!(
        outputs(
            &mut b,
            vec![OutputWrite::MoveCompatWebhook {
                token: "device".into(),
                url: "http://127.0.0.1:9/a".into(),
                at: at(0),
            }]
        ),
        [0],
        "nothing to move before a registration"
    );
    outputs(&mut b, vec![register("http://127.0.0.1:9/a", 4)]);
    outputs(
        &mut b,
        vec![OutputWrite::CompatWebhookProgress {
            token: "device".into(),
            delivered_seq: 8,
            error: None,
        }],
    );
    // Registering again moves the webhook and keeps its position.
    outputs(&mut b, vec![register("http://127.0.0.1:9/b", 0)]);
    let w = b
        .queries
        .compat_webhook("device")
        .expect("read")
        .expect("there");
    assert_eq!(
        (w.url.as_str(), w.delivered_seq),
        ("http://127.0.0.1:9/b", 8)
    );
    assert_eq!(
        b.queries.compat_webhook_tokens().expect("tokens"),
        ["device"]
    );
    let key = |id: &str, pem: &str, minute| OutputWrite::AddCompatSigningKey {
        key_id: id.into(),
        private_pem: pem.into(),
        at: at(minute),
    };
    assert_eq!(
        outputs(
            &mut b,
            vec![
                key("k1", "one", 0),
                key("k1", "again", 1),
                key("k2", "two", 2)
            ]
        ),
        [1, 0, 1]
    );
    assert_eq!(
        b.queries.compat_signing_key().expect("key").as_deref(),
        Some("two")
    );
    assert_eq!(
        outputs(
            &mut b,
            vec![OutputWrite::RemoveCompatWebhook {
                token: "device".into()
            }]
        ),
        [1]
    );
    assert_eq!(b.queries.compat_webhook("device").expect("read"), None);
}

fn an_outputs_own_position_moves_forward_only<L: EventLog>(mut b: Backend<L>) {
    assert_eq!(b.queries.position("mqtt").expect("read"), None);
    let at = |seq| OutputWrite::Position {
        name: "mqtt".into(),
        delivered_seq: seq,
    };
    assert_eq!(outputs(&mut b, vec![at(12)]), [1]);
    outputs(&mut b, vec![at(9)]);
    assert_eq!(
        b.queries.position("mqtt").expect("read"),
        Some(12),
        "a position never moves back"
    );
    outputs(&mut b, vec![at(15)]);
    assert_eq!(b.queries.position("mqtt").expect("read"), Some(15));
    assert_eq!(b.queries.position("other").expect("read"), None);
}

fn a_lease_has_one_holder_until_it_expires_or_is_given_back<L: EventLog>(b: Backend<L>) {
    use std::time::Duration as Ttl;
    let l = &b.leases;
    let long = Ttl::from_secs(30);
    assert_eq!(l.holder("webhook:a").expect("holder"), None);
    assert!(l.take("webhook:a", "node-1", long).expect("take"), "free");
    assert!(!l.take("webhook:a", "node-2", long).expect("take"), "held");
    assert!(
        l.take("webhook:a", "node-1", long).expect("renew"),
        "renewed"
    );
    assert_eq!(
        l.holder("webhook:a").expect("holder").as_deref(),
        Some("node-1")
    );
    assert!(
        l.take("webhook:b", "node-2", long).expect("take"),
        "leases are independent"
    );
    // Only the holder gives a lease back.
    l.release("webhook:a", "node-2").expect("release");
    assert!(!l.take("webhook:a", "node-2", long).expect("take"));
    l.release("webhook:a", "node-1").expect("release");
    assert_eq!(l.holder("webhook:a").expect("holder"), None);
    assert!(
        l.take("webhook:a", "node-2", long).expect("take"),
        "given back"
    );

    // A short lease expires by the database's clock, and then anyone may take it; the one
    // that lost it cannot renew it.
    let short = Ttl::from_millis(300);
    assert!(l.take("mqtt", "node-1", short).expect("take"));
    assert!(!l.take("mqtt", "node-2", short).expect("take"));
    std::thread::sleep(Ttl::from_millis(450));
    assert_eq!(l.holder("mqtt").expect("holder"), None, "expired");
    assert!(l.take("mqtt", "node-2", long).expect("take"), "taken over");
    assert!(!l.take("mqtt", "node-1", short).expect("renew"), "lost");
    assert_eq!(l.holder("mqtt").expect("holder").as_deref(), Some("node-2"));
}
