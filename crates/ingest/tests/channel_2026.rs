//! The 2026 raion-level channel format and its threat notices (sample of 20 real messages).

mod common;

use tryvoga_core::AlertType;
use tryvoga_core::report::{Action, ThreatKind};
use tryvoga_ingest::{Kind, read_text};

#[test]
fn reads_the_2026_sample() {
    let text = common::read_shared("data/messages/air_alert_ua_sample_2026-08-08.jsonl");
    let ex = read_text(&text, Kind::Auto, common::gazetteer());
    assert_eq!(ex.alerts.len(), 15);
    assert_eq!(ex.threats.len(), 5);
    assert!(ex.reports.is_empty());

    let first = &ex.alerts[0];
    assert_eq!(first.region.id, Some(45), "Павлоградський район");
    assert_eq!(
        (first.alert_type, first.action),
        (AlertType::AirRaid, Action::Start)
    );
    // 15:44 Kyiv summer time on the day the messages were fetched.
    assert_eq!(
        first.at.map(|t| t.to_rfc3339()),
        Some("2026-08-08T12:44:00+00:00".to_string())
    );
    // Новомосковський район was renamed Самарівський; the hashtag keeps the old name.
    assert_eq!(ex.alerts[1].region.id, Some(43));

    // 🟡 whose list names the same raion.
    let partial = &ex.alerts[3];
    assert_eq!(
        (partial.region.id, partial.action),
        (Some(123), Action::End)
    );
    assert_eq!(
        partial
            .still_active
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        vec![Some(123)]
    );
    assert_eq!(
        ex.alerts.iter().filter(|a| a.action == Action::End).count(),
        11
    );

    let kinds: Vec<(ThreatKind, Action, Option<u32>)> = ex
        .threats
        .iter()
        .map(|t| {
            (
                t.kind,
                t.action,
                t.towards_region.as_ref().and_then(|r| r.id),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (ThreatKind::Drone, Action::End, Some(1293)),
            (ThreatKind::GuidedBomb, Action::Start, Some(564)),
            (ThreatKind::GuidedBomb, Action::Start, Some(564)),
            (ThreatKind::GuidedBomb, Action::Start, Some(149)),
            (ThreatKind::Drone, Action::Start, Some(351)),
        ]
    );
    assert_eq!(ex.threats[4].model.as_deref(), Some("Molniya"));
}
