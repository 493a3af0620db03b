//! Unit tests of `weapons`, kept beside it rather than in it so that the module reads as the
//! reader it is.

use super::*;

fn phrases(text: &str) -> Vec<(WeaponClass, Option<u32>, Option<CountRole>, String)> {
    let toks = tokenize(text);
    scan(text, &toks)
        .into_iter()
        .map(|m| (m.class, m.count, m.role, m.models.join("/")))
        .collect()
}

#[test]
fn ukrainian_launch_list() {
    let p = phrases(
        "противник атакував двома протикорабельними ракетами Циркон/Онікс із Курської обл., шістьма балістичними ракетами Іскандер-М/С-400 із Брянської обл., та 142 ударними БпЛА типу Shahed, Гербера, Італмас та дронами-імітаторами типу «Пародія» із напрямків",
    );
    assert_eq!(p.len(), 3, "{p:?}");
    assert_eq!(
        p[0],
        (
            WeaponClass::AntiShipMissile,
            Some(2),
            Some(CountRole::Launched),
            "Zircon/Oniks".into()
        )
    );
    assert_eq!(
        p[1],
        (
            WeaponClass::BallisticMissile,
            Some(6),
            Some(CountRole::Launched),
            "Iskander-M/S-400".into()
        )
    );
    assert_eq!(
        p[2],
        (
            WeaponClass::Drone,
            Some(142),
            Some(CountRole::Launched),
            "Shahed/Gerbera/Italmas/Parodiya".into()
        )
    );
}

#[test]
fn not_reached_applies_backwards() {
    let p = phrases(
        "збито/подавлено 112 ворожих БпЛА типу Shahed, 3 керовані авіаційні ракети Х-59/69, протирадіолокаційною ракетою Х-31 не досягла цілі.",
    );
    assert_eq!(p[0].1, Some(112));
    assert_eq!(
        p[1],
        (
            WeaponClass::GuidedMissile,
            Some(3),
            Some(CountRole::Destroyed),
            "Kh-59/Kh-69".into()
        )
    );
    assert_eq!(
        p[2],
        (
            WeaponClass::GuidedMissile,
            Some(1),
            Some(CountRole::Suppressed),
            "Kh-31".into()
        )
    );
}

#[test]
fn english_counts_and_ellipsis() {
    let p = phrases(
        "Ukraine’s air force said it has shot down two cruise missiles, two ballistic missiles and 37 Russian drones as regions across Ukraine were targeted.",
    );
    assert_eq!(p.len(), 3, "{p:?}");
    assert_eq!(p[0].0, WeaponClass::CruiseMissile);
    assert_eq!(p[0].1, Some(2));
    assert_eq!(
        p[2],
        (
            WeaponClass::Drone,
            Some(37),
            Some(CountRole::Destroyed),
            String::new()
        )
    );
    let p = phrases(
        "A further 47 Russian drones were lost in different regions of Ukraine, while two left Ukraine’s airspace",
    );
    assert_eq!(
        p[0],
        (
            WeaponClass::Drone,
            Some(47),
            Some(CountRole::Suppressed),
            String::new()
        )
    );
    assert_eq!(
        p[1],
        (
            WeaponClass::Drone,
            Some(2),
            Some(CountRole::LeftAirspace),
            String::new()
        )
    );
}

#[test]
fn launched_with() {
    let p = phrases("Russia struck Ukraine with 200 drones and six missiles overnight.");
    assert_eq!(
        p[1],
        (
            WeaponClass::Missile,
            Some(6),
            Some(CountRole::Launched),
            String::new()
        ),
        "{p:?}"
    );
}

#[test]
fn passive_verb_after_an_adverb() {
    let p = phrases(
        "Another 30 drones were locationally lost, and four drones left Ukrainian airspace towards Belarus.",
    );
    assert_eq!(p[0].2, Some(CountRole::Suppressed), "{p:?}");
}

#[test]
fn numbers_that_are_not_weapons() {
    assert!(
        phrases("Following reports of 10,000 North Korean soldiers arriving in Russia").is_empty()
    );
    assert!(phrases("станом на 08:30, 24 червня").is_empty());
    let p = phrases("the attacks – involving cruise and ballistic missiles – were less intense");
    assert_eq!(
        p.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![WeaponClass::CruiseMissile, WeaponClass::BallisticMissile]
    );
    assert!(p.iter().all(|x| x.1.is_none()));
}
