//! Reports and threats in the record: one event per text however often it is posted, the
//! materialised tables in line with the log, refusals that append nothing.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tryvoga_core::report::{
    Action, AttackReport, Evidence, Period, Threat, ThreatKind, WeaponClass, WeaponCount,
    report_key,
};
use tryvoga_core::{Actor, Command, Event, EventBody, Registry, Role};
use tryvoga_store::{Access, CommandError, Store};

fn actor(role: Role) -> Actor {
    Actor {
        name: format!("{}-token", role.as_str()),
        role,
        scope: vec![tryvoga_core::RegionId(4)],
    }
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn attack() -> AttackReport {
    AttackReport {
        period: Period {
            start: Some(t("2024-06-23T15:00:00Z")),
            end: Some(t("2024-06-24T05:30:00Z")),
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

/// The core keys a report by its text: every post of it is the same command.
fn report() -> Command {
    Command::ReportAttack {
        report: Box::new(attack()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_posted_twice_is_one_event_and_one_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let published = Arc::new(Mutex::new(Vec::<Event>::new()));
    let sink = Arc::clone(&published);
    let store = Store::open(
        &path,
        Registry::embedded(),
        Access::Exclusive,
        Box::new(move |events, _| sink.lock().unwrap().extend_from_slice(events)),
    )
    .unwrap();

    let first = store
        .command(actor(Role::Issuer), report(), None)
        .await
        .unwrap();
    assert!(!first.replayed);
    assert_eq!(first.event.kind(), "report.attack");
    // Another token, same text: the same record.
    let again = store
        .command(actor(Role::Admin), report(), None)
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.event.seq, first.event.seq);

    let refused = store.command(actor(Role::Reader), report(), None).await;
    assert!(matches!(refused, Err(CommandError::Refused(_))));

    let threat = store
        .command(
            actor(Role::Issuer),
            Command::ReportThreat {
                threat: Threat {
                    kind: ThreatKind::Drone,
                    action: Action::Start,
                    count: None,
                    model: None,
                    from_region: None,
                    towards_region: None,
                    at: None,
                    text: "БпЛА на Суми".into(),
                },
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(threat.event.kind(), "threat.reported");

    assert_eq!(published.lock().unwrap().len(), 2, "one report, one threat");
    let q = store.queries();
    let (events, listed, nights, threats) = (
        q.head().unwrap().0,
        q.reports(t("2024-06-01T00:00:00Z"), t("2024-07-01T00:00:00Z"), 100)
            .unwrap(),
        q.nights(t("2024-06-01T00:00:00Z"), t("2024-07-01T00:00:00Z"))
            .unwrap(),
        q.threat_count().unwrap(),
    );
    assert_eq!(events, 2);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].report.id, report_key(&attack()));
    assert_eq!(listed[0].time, t("2024-06-23T15:00:00Z"));
    assert_eq!(nights.len(), 1);
    assert_eq!(nights[0].night.to_string(), "2024-06-23");
    assert_eq!(nights[0].total.launched, Some(27));
    assert_eq!(nights[0].total.destroyed, Some(24));
    assert_eq!(threats, 1);
    let EventBody::ReportAttack { report: stored } = &first.event.body else {
        panic!("not a report");
    };
    assert_eq!(stored.evidence[0].text, "збито 24 з 27 ударних БпЛА");

    // Reopening restores the log position; a repost after restart is still one record.
    drop(store);
    let store = Store::open(
        &path,
        Registry::embedded(),
        Access::Exclusive,
        Box::new(|_, _| {}),
    )
    .unwrap();
    let after = store
        .command(actor(Role::Admin), report(), None)
        .await
        .unwrap();
    assert!(after.replayed);
    assert_eq!(store.state().last_seq(), 2);
}
