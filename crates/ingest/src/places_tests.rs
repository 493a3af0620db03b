//! Unit tests of `places`, kept beside it rather than in it so that the module reads as the
//! reader it is.

use super::*;

#[test]
fn normalises_hashtags_and_names() {
    assert_eq!(fold_name("#Київська_область"), "київська область");
    assert_eq!(
        fold_name("Куп’янський район"),
        fold_name("#Купянський_район")
    );
    assert_eq!(
        fold_name("м. Харків та Харківська територіальна громада"),
        fold_name("#м_Харків_та_Харківська_територіальна_громада")
    );
}

#[test]
fn top_level_resolves_official_and_bare_names() {
    let g = Gazetteer::top_level();
    assert_eq!(
        resolve(&g, "Київська область", None).map(|p| p.id.0),
        Some(14)
    );
    assert_eq!(
        resolve(&g, "#Київська_область", None).map(|p| p.id.0),
        Some(14)
    );
    assert_eq!(resolve(&g, "м. Київ", None).map(|p| p.id.0), Some(31));
    assert_eq!(
        resolve(&g, "Kharkiv Oblast", None).map(|p| p.id.0),
        Some(22)
    );
    assert!(resolve(&g, "Нарнія", None).is_none());
}

#[test]
fn the_core_registry_is_a_lookup_too() {
    let r = Registry::embedded();
    assert_eq!(
        resolve(r, "Київська область", None).map(|p| p.id.0),
        Some(14)
    );
    assert_eq!(r.place(31).map(|p| p.oblast.0), Some(31));
    assert!(r.find("Нарнія").is_empty());
}

#[test]
fn ukrainian_colloquial_forms() {
    let ids = |t: &str| {
        uk_oblast_mentions(t)
            .into_iter()
            .map(|m| m.2)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids("Основні напрямки удару - Одещина, Київщина."),
        vec![18, 14]
    );
    assert_eq!(ids("у Харківській області та на Сумщині"), vec![22, 20]);
    assert_eq!(ids("Більшість дронів у бік столиці"), vec![31]);
}

#[test]
fn english_forms() {
    let ids = |t: &str| {
        en_mentions(t)
            .into_iter()
            .map(|m| m.region.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(
            "restrictions would apply to Kyiv, the Kyiv region, Odesa, Dnipro and the Donetsk regions."
        ),
        vec![Some(31), Some(14), Some(18), Some(9), Some(28)]
    );
    assert_eq!(ids("Kyiv and Kharkiv regions"), vec![Some(14), Some(22)]);
    assert_eq!(ids("Kyiv said the attack on Sumy"), vec![Some(20)]);
    assert_eq!(ids("stationed in Kursk"), vec![None]);
}
