//! All 12 Air Force summaries of the sample, read to the figures of their headlines and lists.
//! The expected figures below were read off each text by hand.

mod common;

use chrono::{DateTime, Utc};
use tryvoga_core::report::{AttackReport, WeaponClass};
use tryvoga_ingest::summary::read_summary;

fn load() -> Vec<(i64, DateTime<Utc>, String)> {
    common::read_shared("data/messages/kpszsu_summaries_sample_2026.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let id = v["id"].as_str()?.parse::<i64>().ok()?;
            let at = DateTime::parse_from_rfc3339(v["posted_at"].as_str()?).ok()?;
            Some((id, at.with_timezone(&Utc), v["text"].as_str()?.to_string()))
        })
        .collect()
}

fn report(id: i64) -> AttackReport {
    let (_, at, text) = load()
        .into_iter()
        .find(|(i, _, _)| *i == id)
        .unwrap_or_else(|| panic!("summary {id} missing"));
    let mut ex = read_summary(&text, common::gazetteer(), Some(at));
    assert_eq!(ex.reports.len(), 1, "summary {id}");
    ex.reports.remove(0)
}

/// (class, model contains, launched, destroyed, suppressed, hit)
type Row = (
    WeaponClass,
    Option<&'static str>,
    Option<u32>,
    Option<u32>,
    Option<u32>,
    Option<u32>,
);

fn check(
    id: i64,
    rows: &[Row],
    headline: Option<u32>,
    hit_locations: Option<u32>,
    debris: Option<u32>,
) -> AttackReport {
    let r = report(id);
    assert_eq!(r.attacker, "RU");
    assert_eq!(r.target, "UA");
    assert_eq!(r.weapons.len(), rows.len(), "{id}: {:#?}", r.weapons);
    for &(class, model, launched, destroyed, suppressed, hit) in rows {
        let w = r
            .weapons
            .iter()
            .find(|w| {
                w.class == Some(class)
                    && model.is_none_or(|m| {
                        w.model
                            .as_deref()
                            .is_some_and(|x| x.split('/').any(|p| p == m))
                    })
            })
            .unwrap_or_else(|| panic!("{id}: no {class:?} {model:?} in {:#?}", r.weapons));
        assert_eq!(
            (w.launched, w.destroyed, w.suppressed, w.hit),
            (launched, destroyed, suppressed, hit),
            "{id}: {class:?} {model:?}"
        );
        assert_eq!(w.left_airspace, None);
    }
    assert_eq!(r.headline_destroyed, headline, "{id} headline");
    assert_eq!(r.hit_locations, hit_locations, "{id} hit locations");
    assert_eq!(r.debris_locations, debris, "{id} debris locations");
    r
}

fn period(r: &AttackReport) -> (String, String) {
    let f = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    (f(r.period.start), f(r.period.end))
}

use WeaponClass::*;

#[test]
fn s66144_night_in_prose() {
    let r = check(
        66144,
        &[(Drone, Some("Shahed"), Some(101), Some(95), None, Some(6))],
        Some(95),
        Some(5),
        Some(6),
    );
    assert_eq!(
        period(&r),
        (
            "2026-06-23T15:00:00+00:00".into(),
            "2026-06-24T05:30:00+00:00".into()
        )
    );
    assert!(r.launch_areas.iter().any(|a| a == "Курськ"));
    assert!(r.flags.is_empty());
}

#[test]
fn s66637_numerals_in_words() {
    check(
        66637,
        &[
            (
                AntiShipMissile,
                Some("Zircon"),
                Some(2),
                Some(1),
                None,
                Some(1),
            ),
            (
                BallisticMissile,
                Some("Iskander-M"),
                Some(6),
                Some(6),
                None,
                None,
            ),
            (Drone, None, Some(142), Some(125), None, Some(14)),
        ],
        Some(132),
        Some(11),
        Some(13),
    );
}

#[test]
fn s66963_as_of_with_a_dot() {
    let r = check(
        66963,
        &[
            (
                BallisticMissile,
                Some("Iskander-M"),
                Some(1),
                None,
                None,
                None,
            ),
            (GuidedMissile, Some("Kh-59"), Some(1), Some(1), None, None),
            (Drone, None, Some(151), Some(130), None, Some(17)),
        ],
        Some(131),
        Some(16),
        Some(4),
    );
    // "станом на 07.30" (Kyiv, summer time) is 04:30 UTC.
    assert_eq!(period(&r).1, "2026-07-01T04:30:00+00:00");
}

#[test]
fn s67362_did_not_reach_the_target() {
    check(
        67362,
        &[
            (GuidedMissile, Some("Kh-31"), Some(1), None, Some(1), None),
            (GuidedMissile, Some("Kh-59"), Some(3), Some(3), None, None),
            (Drone, None, Some(125), Some(112), None, Some(4)),
        ],
        Some(115),
        Some(3),
        Some(8),
    );
}

#[test]
fn s70584_header_without_lightning() {
    check(
        70584,
        &[
            (Drone, None, Some(80), Some(65), None, Some(14)),
            (Other, Some("S8000 Banderol"), None, None, None, None),
        ],
        Some(65),
        Some(10),
        Some(2),
    );
}

#[test]
fn s71719_rest_of_missiles_missed() {
    check(
        71719,
        &[
            (
                AntiShipMissile,
                Some("Oniks"),
                Some(2),
                None,
                Some(1),
                Some(1),
            ),
            (GuidedMissile, Some("Kh-31P"), Some(2), None, Some(2), None),
            (Drone, None, Some(101), Some(66), None, Some(29)),
        ],
        Some(66),
        Some(18),
        Some(5),
    );
}

#[test]
fn s71936_s400_against_the_ground() {
    check(
        71936,
        &[
            (
                BallisticMissile,
                Some("Iskander-M"),
                Some(6),
                None,
                None,
                None,
            ),
            (BallisticMissile, Some("S-400"), None, None, None, None),
            (Drone, None, Some(151), Some(135), None, Some(13)),
        ],
        Some(135),
        Some(12),
        Some(7),
    );
}

#[test]
fn s72214_headline_does_not_add_up() {
    let r = check(
        72214,
        &[
            (GuidedMissile, Some("Kh-59"), Some(1), None, Some(1), None),
            (Other, Some("S8000 Banderol"), Some(3), Some(3), None, None),
            (Drone, None, Some(126), Some(92), None, Some(31)),
        ],
        Some(96),
        Some(22),
        Some(2),
    );
    // Both figures are kept: 96 in the headline, 92 + 3 in the list.
    assert_eq!(r.total_destroyed(), 95);
    assert!(r.flags.iter().any(|f| f == "headline_total_mismatch"));
}

#[test]
fn s74294_banderol_and_main_direction() {
    let r = check(
        74294,
        &[
            (AntiShipMissile, Some("Oniks"), Some(2), Some(1), None, None),
            (GuidedMissile, Some("Kh-31P"), Some(6), Some(2), None, None),
            (Other, Some("S8000 Banderol"), None, Some(2), None, None),
            (Drone, None, Some(143), Some(109), None, None),
        ],
        Some(114),
        Some(22),
        Some(5),
    );
    assert_eq!(
        r.regions.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![Some(18)]
    );
    assert!(r.flags.is_empty());
}

#[test]
fn s75065_daytime_tally() {
    let r = check(
        75065,
        &[
            (Other, Some("S8000 Banderol"), Some(7), Some(6), None, None),
            (Drone, None, Some(96), Some(73), None, None),
        ],
        None,
        None,
        None,
    );
    assert_eq!(
        period(&r),
        (
            "2026-08-28T03:30:00+00:00".into(),
            "2026-08-28T16:00:00+00:00".into()
        )
    );
    // "Більшість дронів ворог спрямував у бік столиці".
    assert_eq!(
        r.regions.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![Some(31)]
    );
}

#[test]
fn s75719_bullet_lists() {
    let r = check(
        75719,
        &[
            (BallisticMissile, Some("KN-23"), None, Some(5), None, None),
            (AntiShipMissile, Some("Zircon"), None, None, None, None),
            (CruiseMissile, Some("Kalibr"), None, Some(5), None, None),
            (GuidedMissile, Some("Kh-31P"), None, None, None, None),
            (Other, Some("S8000 Banderol"), None, Some(2), None, None),
            (Drone, None, Some(218), Some(187), None, None),
        ],
        Some(199),
        Some(28),
        Some(10),
    );
    assert_eq!(
        r.regions.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![Some(18), Some(14)]
    );
    // "є загиблі та постраждалі": casualties without a figure stay null.
    assert_eq!((r.casualties.killed, r.casualties.injured), (None, None));
    assert!(r.flags.is_empty());
}

#[test]
fn s78115_daytime_with_jet_drones_aside() {
    let r = check(
        78115,
        &[
            (Drone, None, Some(323), Some(310), None, Some(10)),
            (Other, Some("Dan-T"), Some(10), None, None, None),
        ],
        None,
        None,
        None,
    );
    assert_eq!(
        period(&r),
        (
            "2026-09-13T03:30:00+00:00".into(),
            "2026-09-13T15:00:00+00:00".into()
        )
    );
}

#[test]
fn all_twelve_read() {
    assert_eq!(load().len(), 12);
}
