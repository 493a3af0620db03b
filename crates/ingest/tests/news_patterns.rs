//! The news reader on texts written for these tests (not real articles), one pattern each:
//! parts of totals, passive verbs, counts referring back, promised weapons and troops that are
//! not counts, attacks on Russia, power-outage schedules.

use tryvoga_core::report::{AttackReport, InfraKind, WeaponClass};
use tryvoga_ingest::model::PowerReadingKind;
use tryvoga_ingest::news::read_news;
use tryvoga_ingest::{Extraction, Gazetteer};

fn read(text: &str) -> Extraction {
    read_news(text, Gazetteer::embedded())
}

fn one(ex: &Extraction, attacker: &str, target: &str) -> AttackReport {
    let rs: Vec<&AttackReport> = ex
        .reports
        .iter()
        .filter(|r| r.attacker == attacker && r.target == target)
        .collect();
    assert_eq!(rs.len(), 1, "{:#?}", ex.reports);
    rs[0].clone()
}

fn counts(r: &AttackReport, class: WeaponClass) -> [Option<u32>; 5] {
    let w = r
        .weapon(class)
        .unwrap_or_else(|| panic!("no {class:?} in {:#?}", r.weapons));
    [
        w.launched,
        w.destroyed,
        w.suppressed,
        w.left_airspace,
        w.hit,
    ]
}

#[test]
fn parts_passives_casualties_and_traps() {
    let ex = read(
        "Russia launched 90 drones and three Iskander-M ballistic missiles at Ukraine overnight, the air force said.\n\
         Air defences shot down 56 of 90 drones and two of the missiles. Another 30 drones were locationally lost, and four drones left Ukrainian airspace towards Belarus.\n\
         The strikes hit energy infrastructure in the Kharkiv region and a residential building in Kryvyi Rih, killing three people and injuring 12.\n\
         The US promised to deliver 500 Patriot missiles in 2025, while 10,000 troops were sent to the border.\n",
    );
    assert_eq!(ex.reports.len(), 1, "{:#?}", ex.reports);
    let r = one(&ex, "RU", "UA");
    assert_eq!(
        counts(&r, WeaponClass::Drone),
        [Some(90), Some(56), Some(30), Some(4), None]
    );
    assert_eq!(
        counts(&r, WeaponClass::BallisticMissile),
        [Some(3), Some(2), None, None, None]
    );
    assert_eq!(r.weapons.len(), 2, "{:#?}", r.weapons);
    let ids: Vec<Option<u32>> = r.regions.iter().map(|x| x.id).collect();
    assert_eq!(ids, vec![Some(22), Some(9)]);
    assert_eq!(
        (r.casualties.killed, r.casualties.injured),
        (Some(3), Some(12))
    );
    assert!(r.infrastructure.contains(&InfraKind::Energy));
    assert!(r.infrastructure.contains(&InfraKind::Residential));
}

#[test]
fn a_bare_count_refers_to_the_previous_sentence() {
    let ex = read(
        "Russia attacked Ukraine with 145 Shahed and decoy drones overnight. Of those, 62 were shot down and 67 were ‘lost’ due to electronic warfare.",
    );
    let r = one(&ex, "RU", "UA");
    assert_eq!(
        counts(&r, WeaponClass::Drone),
        [Some(145), Some(62), Some(67), None, None]
    );
}

#[test]
fn attacks_on_russia_are_their_own_report() {
    let ex = read(
        "Russia's defence ministry said its air defences destroyed 41 Ukrainian drones over the Belgorod and Kursk regions overnight.",
    );
    let r = one(&ex, "UA", "RU");
    assert_eq!(
        counts(&r, WeaponClass::Drone),
        [None, Some(41), None, None, None]
    );
    let names: Vec<&str> = r.regions.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, vec!["Belgorod", "Kursk"]);
    assert!(
        r.regions
            .iter()
            .all(|x| x.country == "RU" && x.id.is_none())
    );
}

#[test]
fn scheduled_outages() {
    let ex = read(
        "Ukrenergo said scheduled power outages would be applied in Kharkiv, Sumy and Poltava regions on Thursday.",
    );
    assert!(ex.reports.is_empty());
    assert_eq!(ex.power.len(), 1);
    assert_eq!(ex.power[0].kind, PowerReadingKind::ScheduledOutages);
    let ids: Vec<Option<u32>> = ex.power[0].regions.iter().map(|x| x.id).collect();
    assert_eq!(ids, vec![Some(22), Some(20), Some(19)]);
}

#[test]
fn nothing_from_unrelated_numbers() {
    let ex = read(
        "Germany will send 20 more air defence systems and 100 drones to Ukraine, worth $500 million. The war began on 24 February 2022, and 2,000 soldiers were killed last week.",
    );
    assert!(ex.reports.is_empty(), "{:#?}", ex.reports);
}

#[test]
fn launched_with_and_of_the_whole() {
    let ex = read(
        "Russia struck Ukraine with 200 drones and six missiles overnight. Of the 200 drones, 120 were shot down, and 60 were \u{2018}lost\u{2019}, likely due to electronic warfare.",
    );
    let r = one(&ex, "RU", "UA");
    assert_eq!(
        counts(&r, WeaponClass::Drone),
        [Some(200), Some(120), Some(60), None, None]
    );
    assert_eq!(
        counts(&r, WeaponClass::Missile),
        [Some(6), None, None, None, None]
    );
}

#[test]
fn ukrainian_strike_on_a_refinery_and_launch_areas() {
    let ex = read(
        "Ukrainian drones struck an oil refinery in Russia's Saratov region overnight, the governor said. Russia's defence ministry said it destroyed 37 Ukrainian drones.\n\
         Separately, Russia launched two Iskander-M missiles from the Kursk region at Sumy.",
    );
    let ua = one(&ex, "UA", "RU");
    assert_eq!(
        counts(&ua, WeaponClass::Drone),
        [None, Some(37), None, None, None]
    );
    assert_eq!(
        ua.regions
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        vec!["Saratov"]
    );
    assert_eq!(ua.infrastructure, vec![InfraKind::Oil]);
    let ru = one(&ex, "RU", "UA");
    assert_eq!(
        counts(&ru, WeaponClass::BallisticMissile),
        [Some(2), None, None, None, None]
    );
    assert_eq!(ru.launch_areas, vec!["Kursk".to_string()]);
}
