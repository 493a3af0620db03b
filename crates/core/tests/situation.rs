//! The state machine for threats, pre-alerts, power restrictions and times to shelter: scope,
//! expiry, ends by alert, arrival windows, "what is on for region R" through the hierarchy, and
//! old `threat.reported` payloads (notices read from texts) still read back.

use chrono::{DateTime, Duration, TimeZone, Utc};
use tryvoga_core::command::FromPlace;
use tryvoga_core::prealert::EndReason;
use tryvoga_core::threat::{ClearReason, Reported};
use tryvoga_core::{
    Actor, AlertStatus, AlertType, Command, Event, EventBody, PowerKind, Refusal, RegionId,
    Registry, Role, State, ThreatKind,
};

fn reg() -> &'static Registry {
    Registry::embedded()
}

fn id(name: &str) -> RegionId {
    reg().resolve(name).unwrap().id
}

fn actor(role: Role, scope: &[&str]) -> Actor {
    Actor {
        name: format!("{}-token", role.as_str()),
        role,
        scope: scope.iter().map(|n| id(n)).collect(),
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap()
}

/// Decides and applies, as the writer does.
fn run(state: &mut State, who: &Actor, c: Command, now: DateTime<Utc>) -> Result<Event, Refusal> {
    let seq = state.last_seq() + 1;
    let e = state.decide(reg(), who, &c, seq, now)?;
    state.apply(&e);
    Ok(e)
}

fn ballistic(from: &str, towards: &[&str], expires_at: Option<DateTime<Utc>>) -> Command {
    Command::RaiseThreat {
        kind: ThreatKind::BallisticMissiles,
        count: Some(2),
        from: Some(FromPlace::Region(id(from))),
        towards: towards.iter().map(|n| id(n)).collect(),
        heading: None,
        observed_at: None,
        expires_at,
        source: Some("Ракета на Чернігівщині курсом на Київщину!".into()),
    }
}

#[test]
fn a_threat_has_regions_an_eta_and_expires_by_itself() {
    let mut s = State::new();
    let admin = actor(Role::Admin, &[]);
    let e = run(
        &mut s,
        &admin,
        ballistic("Чернігівська область", &["Київська область"], None),
        t0(),
    )
    .unwrap();
    assert_eq!(e.kind(), "threat.reported");
    let kyiv_oblast = id("Київська область");
    assert!(e.body.regions().contains(&kyiv_oblast));
    let EventBody::ThreatReported { threat } = &e.body else {
        panic!()
    };
    let Reported::Notice(t) = &**threat else {
        panic!("a typed threat")
    };
    assert_eq!(t.eta.len(), 1);
    let eta = &t.eta[0];
    assert!(eta.estimate && eta.from < eta.to && eta.from > t0());
    assert!(
        eta.to - t0() < Duration::minutes(5),
        "ballistic over ~130 km: minutes"
    );
    // On for Kyiv oblast, a raion in it, Chernihiv; not for Lviv.
    let now = t0() + Duration::minutes(1);
    let sit = s.situation();
    assert_eq!(sit.threats(reg(), Some(kyiv_oblast), now).len(), 1);
    assert_eq!(
        sit.threats(reg(), Some(id("Бучанський район")), now).len(),
        1
    );
    assert_eq!(
        sit.threats(reg(), Some(id("Чернігівська область")), now)
            .len(),
        1
    );
    assert!(
        sit.threats(reg(), Some(id("Львівська область")), now)
            .is_empty()
    );
    // Default expiry is an hour; past it, the threat is off and due to be cleared.
    let later = t0() + Duration::minutes(61);
    assert!(sit.threats(reg(), None, later).is_empty());
    assert!(s.due(reg(), now).is_empty());
    let due = s.due(reg(), later);
    assert_eq!(due.len(), 1);
    // The expiry may not be recorded early, nor by anyone but an admin.
    let issuer = actor(Role::Issuer, &["Київська область"]);
    assert!(matches!(
        run(&mut s.clone(), &admin, due[0].clone(), now),
        Err(Refusal::Invalid(_))
    ));
    assert!(matches!(
        run(&mut s.clone(), &issuer, due[0].clone(), later),
        Err(Refusal::Forbidden(_))
    ));
    let cleared = run(&mut s, &admin, due[0].clone(), later).unwrap();
    assert_eq!(cleared.kind(), "threat.cleared");
    let EventBody::ThreatCleared { threat } = &cleared.body else {
        panic!()
    };
    assert_eq!(threat.clear_reason, Some(ClearReason::Expired));
    assert!(s.due(reg(), later).is_empty());
    assert!(matches!(
        run(&mut s, &admin, due[0].clone(), later),
        Err(Refusal::Ended(_))
    ));
}

#[test]
fn threats_follow_scope_and_refuse_bad_input() {
    let mut s = State::new();
    let kyiv_issuer = actor(Role::Issuer, &["Київська область"]);
    let now = t0();
    assert!(
        run(
            &mut s,
            &kyiv_issuer,
            ballistic("Чернігівська область", &["Київська область"], None),
            now
        )
        .is_ok()
    );
    assert!(matches!(
        run(
            &mut s,
            &kyiv_issuer,
            ballistic("Чернігівська область", &["Львівська область"], None),
            now
        ),
        Err(Refusal::Forbidden(_))
    ));
    assert!(matches!(
        run(
            &mut s,
            &actor(Role::Grid, &["Київська область"]),
            ballistic("Чернігівська область", &["Київська область"], None),
            now
        ),
        Err(Refusal::Forbidden(_))
    ));
    assert!(matches!(
        run(&mut s, &kyiv_issuer, ballistic("Чернігівська область", &["Київська область"], Some(now - Duration::seconds(1))), now),
        Err(Refusal::Invalid(m)) if m.contains("expires_at")
    ));
    let Command::RaiseThreat {
        kind,
        from,
        towards,
        observed_at,
        expires_at,
        source,
        ..
    } = ballistic("Чернігівська область", &["Київська область"], None)
    else {
        panic!()
    };
    let bad_heading = Command::RaiseThreat {
        kind,
        count: None,
        from,
        towards,
        heading: Some(400),
        observed_at,
        expires_at,
        source,
    };
    assert!(matches!(
        run(&mut s, &kyiv_issuer, bad_heading, now),
        Err(Refusal::Invalid(_))
    ));
    assert_eq!(
        s.situation().threats(reg(), None, now).len(),
        1,
        "refusals changed nothing"
    );
    // A threat naming no region concerns the whole country: admins only.
    let nowhere = Command::RaiseThreat {
        kind: ThreatKind::Mig31kDeparture,
        count: None,
        from: Some(FromPlace::Area("Savasleyka".into())),
        towards: vec![],
        heading: None,
        observed_at: None,
        expires_at: None,
        source: None,
    };
    assert!(matches!(
        run(&mut s, &kyiv_issuer, nowhere.clone(), now),
        Err(Refusal::Forbidden(_))
    ));
    assert!(run(&mut s, &actor(Role::Admin, &[]), nowhere, now).is_ok());
}

#[test]
fn a_prealert_ends_by_an_alert_or_by_expiry() {
    let mut s = State::new();
    let admin = actor(Role::Admin, &[]);
    let issuer = actor(Role::Issuer, &["Київська область"]);
    let now = t0();
    let start = |r: &str, exp| Command::StartPrealert {
        regions: vec![id(r)],
        expires_at: exp,
        note: None,
    };
    run(&mut s, &issuer, start("Київська область", None), now).unwrap();
    run(
        &mut s,
        &admin,
        start("Львівська область", Some(now + Duration::seconds(2))),
        now,
    )
    .unwrap();
    assert!(matches!(
        run(&mut s, &issuer, start("Львівська область", None), now),
        Err(Refusal::Forbidden(_))
    ));
    assert_eq!(
        s.situation()
            .prealerts(reg(), Some(id("Бучанський район")), now)
            .len(),
        1
    );
    assert!(s.due(reg(), now).is_empty());
    // An alert on a raion of Kyiv oblast ends Kyiv's pre-alert.
    run(
        &mut s,
        &issuer,
        Command::StartAlert {
            region: id("Бучанський район"),
            alert_type: AlertType::AirRaid,
            level: None,
            status: AlertStatus::Actual,
            note: None,
        },
        now,
    )
    .unwrap();
    let due = s.due(reg(), now);
    assert_eq!(
        due,
        vec![Command::EndPrealert {
            id: tryvoga_core::PrealertId(1),
            reason: EndReason::Alert
        }]
    );
    let ended = run(&mut s, &admin, due[0].clone(), now).unwrap();
    assert_eq!(ended.kind(), "prealert.ended");
    // Lviv's lapses after two seconds.
    let later = now + Duration::seconds(3);
    assert!(s.situation().prealerts(reg(), None, later).is_empty());
    let due = s.due(reg(), later);
    assert_eq!(
        due,
        vec![Command::EndPrealert {
            id: tryvoga_core::PrealertId(2),
            reason: EndReason::Expired
        }]
    );
    run(&mut s, &admin, due[0].clone(), later).unwrap();
    assert!(s.due(reg(), later).is_empty());
    // Twenty minutes by default.
    let e = run(&mut s, &issuer, start("Київська область", None), later).unwrap();
    let EventBody::PrealertStarted { prealert } = e.body else {
        panic!()
    };
    assert_eq!(prealert.expires_at - later, Duration::minutes(20));
}

#[test]
fn power_restrictions_are_for_grid_tokens_in_scope() {
    let mut s = State::new();
    let grid = actor(Role::Grid, &["Київська область"]);
    let now = t0();
    let start = |r: &str| Command::StartPower {
        regions: vec![id(r)],
        kind: PowerKind::ScheduledOutages,
        queues: vec!["1".into(), "2.1".into()],
        hours: vec!["08:00-12:00".into()],
        note: None,
    };
    let e = run(&mut s, &grid, start("Київська область"), now).unwrap();
    assert_eq!(e.kind(), "power.started");
    assert!(matches!(
        run(&mut s, &grid, start("Львівська область"), now),
        Err(Refusal::Forbidden(_))
    ));
    assert!(matches!(
        run(
            &mut s,
            &actor(Role::Issuer, &["Київська область"]),
            start("Київська область"),
            now
        ),
        Err(Refusal::Forbidden(_))
    ));
    let bad = Command::StartPower {
        regions: vec![id("Київська область")],
        kind: PowerKind::EmergencyOutages,
        queues: vec![],
        hours: vec!["8 to 12".into()],
        note: None,
    };
    assert!(
        matches!(run(&mut s, &grid, bad, now), Err(Refusal::Invalid(m)) if m.contains("hours[0]"))
    );
    let update = Command::UpdatePower {
        id: tryvoga_core::PowerId(1),
        kind: Some(PowerKind::EmergencyOutages),
        queues: None,
        hours: None,
        note: None,
    };
    assert_eq!(
        run(&mut s, &grid, update.clone(), now).unwrap().kind(),
        "power.updated"
    );
    assert!(
        matches!(run(&mut s, &grid, update, now), Err(Refusal::Invalid(_))),
        "changes nothing"
    );
    assert_eq!(
        s.situation()
            .power(reg(), Some(id("Бучанський район")))
            .len(),
        1
    );
    assert!(
        s.situation()
            .power(reg(), Some(id("Львівська область")))
            .is_empty()
    );
    let end = Command::EndPower {
        id: tryvoga_core::PowerId(1),
    };
    assert_eq!(
        run(&mut s, &grid, end.clone(), now).unwrap().kind(),
        "power.ended"
    );
    assert!(matches!(
        run(&mut s, &grid, end, now),
        Err(Refusal::Ended(_))
    ));
    assert!(s.situation().power(reg(), None).is_empty());
}

#[test]
fn time_to_shelter_is_set_by_admins_and_inherited() {
    let mut s = State::new();
    let set = |secs| Command::SetTimeToShelter {
        region: id("Київська область"),
        seconds: secs,
    };
    assert!(matches!(
        run(
            &mut s,
            &actor(Role::Issuer, &["Київська область"]),
            set(Some(90)),
            t0()
        ),
        Err(Refusal::Forbidden(_))
    ));
    assert!(matches!(
        run(&mut s, &actor(Role::Admin, &[]), set(Some(99_999)), t0()),
        Err(Refusal::Invalid(_))
    ));
    let e = run(&mut s, &actor(Role::Admin, &[]), set(Some(90)), t0()).unwrap();
    assert_eq!(e.kind(), "region.updated");
    assert_eq!(
        s.situation().time_to_shelter(reg(), id("Бучанський район")),
        Some(90)
    );
    assert_eq!(
        s.situation().own_time_to_shelter(id("Бучанський район")),
        None
    );
    run(&mut s, &actor(Role::Admin, &[]), set(None), t0()).unwrap();
    assert_eq!(
        s.situation().time_to_shelter(reg(), id("Київська область")),
        None
    );
}

#[test]
fn the_fold_equals_the_decisions_and_old_threat_payloads_still_read() {
    let mut s = State::new();
    let admin = actor(Role::Admin, &[]);
    let mut log = Vec::new();
    log.push(
        run(
            &mut s,
            &admin,
            ballistic("Чернігівська область", &["Київська область"], None),
            t0(),
        )
        .unwrap(),
    );
    log.push(
        run(
            &mut s,
            &admin,
            Command::StartPrealert {
                regions: vec![id("Київ")],
                expires_at: None,
                note: None,
            },
            t0(),
        )
        .unwrap(),
    );
    // A notice read from a text, as the log has held it since issue 6.
    let old = r#"{"seq":3,"at":"2026-02-01T00:00:00Z","issuer":"ingest","kind":"threat.reported","threat":{"action":"start","at":null,"count":3,"from_region":{"id":25,"name":"Чернігівська область"},"id":"4f3a","kind":"drone","model":null,"text":"3 БпЛА з Чернігівщини на Київщину","towards_region":{"id":14,"name":"Київська область"}}}"#;
    let old: Event = serde_json::from_str(old).expect("the old shape reads");
    assert_eq!(old.body.content_key(), Some("4f3a"));
    assert_eq!(old.body.regions(), vec![RegionId(25), RegionId(14)]);
    let EventBody::ThreatReported { threat } = &old.body else {
        panic!()
    };
    assert!(matches!(&**threat, Reported::Reading(_)));
    let again = serde_json::to_string(&old).unwrap();
    assert!(again.contains(r#""id":"4f3a""#) && again.contains(r#""action":"start""#));
    s.apply(&old);
    log.push(old);
    // Every new event reads back as itself, and the fold is the state.
    for e in &log {
        let back: Event = serde_json::from_str(&serde_json::to_string(e).unwrap()).unwrap();
        assert_eq!(&back, e);
    }
    assert_eq!(State::fold(&log), s);
}
