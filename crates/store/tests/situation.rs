//! Threats, pre-alerts, power restrictions and times to shelter survive a restart: the state a
//! reopened record restores equals the fold of its log, notices read from texts (the
//! `threat.reported` shape recorded before threats were typed) included, and their history is
//! read back by kind.

use chrono::{Duration, Utc};
use tryvoga_core::command::FromPlace;
use tryvoga_core::report::{Action, NamedRegion, Threat as Reading, ThreatKind as ReadingKind};
use tryvoga_core::{Actor, Command, Event, PowerKind, RegionId, Registry, Role, State, ThreatKind};
use tryvoga_store::{Access, Store};

fn admin() -> Actor {
    Actor {
        name: "admin".into(),
        role: Role::Admin,
        scope: Vec::new(),
    }
}

fn open(path: &std::path::Path) -> Store {
    Store::open(
        path,
        Registry::embedded(),
        Access::Exclusive,
        Box::new(|_, _| {}),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_situation_is_restored_and_old_threat_notices_still_replay() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = open(&path);
    let commands = vec![
        // A notice read from a text, recorded in the shape the log has always held.
        Command::ReportThreat {
            threat: Reading {
                kind: ReadingKind::Drone,
                action: Action::Start,
                count: Some(3),
                model: None,
                from_region: Some(NamedRegion {
                    id: Some(25),
                    name: "Чернігівська область".into(),
                }),
                towards_region: Some(NamedRegion {
                    id: Some(14),
                    name: "Київська область".into(),
                }),
                at: None,
                text: "3 БпЛА з Чернігівщини курсом на Київщину".into(),
            },
        },
        Command::RaiseThreat {
            kind: ThreatKind::Drones,
            count: Some(3),
            from: Some(FromPlace::Region(RegionId(25))),
            towards: vec![RegionId(14)],
            heading: None,
            observed_at: None,
            expires_at: Some(Utc::now() + Duration::hours(2)),
            source: None,
        },
        Command::StartPrealert {
            regions: vec![RegionId(14)],
            expires_at: None,
            note: None,
        },
        Command::StartPower {
            regions: vec![RegionId(14)],
            kind: PowerKind::EmergencyOutages,
            queues: vec![],
            hours: vec![],
            note: None,
        },
        Command::SetTimeToShelter {
            region: RegionId(31),
            seconds: Some(90),
        },
    ];
    for c in commands {
        store.command(admin(), c, None).await.unwrap();
    }
    let before = store.state();
    let history = store
        .queries()
        .events_of_kinds(&["threat.reported"], None, 10)
        .unwrap();
    assert_eq!(history.len(), 2);
    assert!(history[0].seq > history[1].seq, "newest first");
    assert!(
        history[1].payload.contains(r#""action":"start""#),
        "the reading's shape"
    );
    drop(store);

    let store = open(&path);
    let after = store.state();
    assert_eq!(*after, *before);
    let now = Utc::now();
    let sit = after.situation();
    assert_eq!(
        sit.threats(Registry::embedded(), Some(RegionId(14)), now)
            .len(),
        1
    );
    assert_eq!(
        sit.prealerts(Registry::embedded(), Some(RegionId(14)), now)
            .len(),
        1
    );
    assert_eq!(sit.power(Registry::embedded(), None).len(), 1);
    assert_eq!(
        sit.time_to_shelter(Registry::embedded(), RegionId(31)),
        Some(90)
    );
    let log: Vec<Event> = store
        .queries()
        .events_after(0, 100)
        .unwrap()
        .iter()
        .map(|e| serde_json::from_str(&e.payload).unwrap())
        .collect();
    assert_eq!(State::fold(&log), *after);
}
