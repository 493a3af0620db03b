//! The recorded form of reports and threats writes the same JSON the record has always held
//! (members in key order at every depth, the content key as `id`), reads back to the same value,
//! and leaves the readers' own order (`tryvoga ingest text --json`) alone.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tryvoga_core::report::{
    Action, AttackReport, Casualties, Evidence, InfraKind, NamedRegion, Period, Recorded,
    TargetRegion, Threat, ThreatKind, WeaponClass, WeaponCount, report_key, threat_key,
};
use tryvoga_core::{Event, EventBody};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn full_report() -> AttackReport {
    AttackReport {
        attacker: "RU".into(),
        target: "UA".into(),
        period: Period {
            start: Some(t("2024-06-23T15:00:00Z")),
            end: Some(t("2024-06-24T05:30:00Z")),
        },
        weapons: vec![
            WeaponCount {
                class: Some(WeaponClass::Drone),
                model: Some("Shahed".into()),
                launched: Some(27),
                destroyed: Some(24),
                suppressed: Some(2),
                left_airspace: Some(1),
                hit: Some(0),
            },
            WeaponCount::default(),
        ],
        regions: vec![
            TargetRegion {
                id: Some(14),
                name: "Kyiv Oblast".into(),
                country: "UA".into(),
            },
            TargetRegion {
                id: None,
                name: "Kursk".into(),
                country: "RU".into(),
            },
        ],
        casualties: Casualties {
            killed: Some(1),
            injured: None,
        },
        infrastructure: vec![InfraKind::Energy, InfraKind::Residential],
        evidence: vec![Evidence {
            text: "збито 24 з 27 ударних БпЛА \"Shahed\"\n".into(),
            start: 3,
            end: 40,
        }],
        launch_areas: vec!["Курськ".into()],
        hit_locations: Some(4),
        debris_locations: Some(6),
        headline_destroyed: Some(24),
        flags: vec!["clarification".into()],
    }
}

fn threat() -> Threat {
    Threat {
        kind: ThreatKind::CruiseMissile,
        action: Action::Start,
        count: Some(3),
        model: Some("Kh-101".into()),
        from_region: Some(NamedRegion {
            id: Some(25),
            name: "Чернігівська область".into(),
        }),
        towards_region: Some(NamedRegion {
            id: None,
            name: "Нарнія".into(),
        }),
        at: Some(t("2024-06-23T21:05:00Z")),
        text: "Ракета на Київщину!".into(),
    }
}

/// The record's JSON as it was written while reports crossed the core as JSON values: the
/// fields, `id` inserted, every object's members in key order.
fn as_values_wrote_it<T: serde::Serialize>(inner: &T, id: &str) -> String {
    let mut v = serde_json::to_value(inner).unwrap();
    v.as_object_mut()
        .unwrap()
        .insert("id".into(), Value::String(id.into()));
    serde_json::to_string(&v).unwrap()
}

#[test]
fn a_recorded_report_writes_what_the_record_holds() {
    let mut sparse = AttackReport::new("UA", "RU");
    sparse.evidence.push(Evidence {
        text: "x".into(),
        start: 0,
        end: 1,
    });
    for report in [full_report(), sparse] {
        let id = report_key(&report);
        let recorded = Recorded {
            id: id.clone(),
            inner: report.clone(),
        };
        let written = serde_json::to_string(&recorded).unwrap();
        assert_eq!(written, as_values_wrote_it(&report, &id));
        let back: Recorded<AttackReport> = serde_json::from_str(&written).unwrap();
        assert_eq!(back, recorded);
    }
}

#[test]
fn a_recorded_threat_writes_what_the_record_holds() {
    let mut bare = threat();
    bare.from_region = None;
    bare.towards_region = None;
    bare.at = None;
    bare.model = None;
    for threat in [threat(), bare] {
        let id = threat_key(&threat);
        let recorded = Recorded {
            id: id.clone(),
            inner: threat.clone(),
        };
        let written = serde_json::to_string(&recorded).unwrap();
        assert_eq!(written, as_values_wrote_it(&threat, &id));
        let back: Recorded<Threat> = serde_json::from_str(&written).unwrap();
        assert_eq!(back, recorded);
    }
}

#[test]
fn the_readers_order_is_kept_outside_the_record() {
    let written = serde_json::to_string(&full_report()).unwrap();
    assert!(written.starts_with(r#"{"attacker":"RU","target":"UA","period":{"start":"#));
}

#[test]
fn events_carry_the_recorded_form_and_read_back() {
    let report = full_report();
    let event = Event {
        seq: 7,
        at: t("2024-06-24T06:00:00Z"),
        issuer: Some("cli:ingest".into()),
        body: EventBody::ReportAttack {
            report: Box::new(Recorded {
                id: report_key(&report),
                inner: report.clone(),
            }),
        },
        sig: None,
    };
    let written = serde_json::to_string(&event).unwrap();
    let expected = format!(
        r#"{{"seq":7,"at":"2024-06-24T06:00:00Z","issuer":"cli:ingest","kind":"report.attack","report":{}}}"#,
        as_values_wrote_it(&report, &report_key(&report))
    );
    assert_eq!(written, expected);
    let back: Event = serde_json::from_str(&written).unwrap();
    assert_eq!(back, event);
    assert_eq!(back.body.content_key(), Some(report_key(&report).as_str()));
    // A stored event is read whatever order its members come in.
    let shuffled = json!({
        "kind": "threat.reported", "seq": 8, "issuer": null, "at": "2024-06-24T06:00:00Z",
        "threat": {"text": "x", "id": "k", "kind": "drone", "action": "end", "count": null,
                   "model": null, "from_region": null, "towards_region": null, "at": null}
    });
    let back: Event = serde_json::from_value(shuffled).unwrap();
    assert_eq!(back.body.content_key(), Some("k"));
}
