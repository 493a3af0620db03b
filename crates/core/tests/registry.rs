//! The embedded registry: its shape, and how names, codes and ids people use resolve.

use tryvoga_core::{Level, RegionId, Registry, ResolveError};

fn id(input: &str) -> u32 {
    match Registry::embedded().resolve(input) {
        Ok(r) => r.id.0,
        Err(e) => panic!("{input:?}: {e} {:?}", e.candidates()),
    }
}

#[test]
fn has_every_level_and_a_consistent_tree() {
    let r = Registry::embedded();
    let count = |l| r.regions().filter(|x| x.level == l).count();
    assert_eq!(count(Level::Oblast), 27);
    assert_eq!(count(Level::Raion), 136);
    assert!(count(Level::Hromada) > 1400);
    assert_eq!(r.oblast_order().len(), 27);
    for region in r.regions() {
        match region.level {
            Level::Oblast => assert!(region.parent.is_none() && region.iso.is_some()),
            Level::Raion => assert_eq!(
                r.get(region.parent.expect("parent")).map(|p| p.level),
                Some(Level::Oblast)
            ),
            Level::Hromada => assert_eq!(
                r.get(region.parent.expect("parent")).map(|p| p.level),
                Some(Level::Raion)
            ),
        }
        assert!(r.is_within(region.id, region.oblast));
    }
}

#[test]
fn resolves_ids_codes_and_names_in_both_languages() {
    assert_eq!(id("14"), 14);
    assert_eq!(id(" 31 "), 31);
    assert_eq!(id("9999"), 29, "ukrainealarm's Crimea id maps to ours");
    assert_eq!(id("UA-32"), 14);
    assert_eq!(id("ua-30"), 31);
    assert_eq!(id("UA32000000000030281"), 14);
    assert_eq!(id("Київська область"), 14);
    assert_eq!(id("київська обл."), 14);
    assert_eq!(id("Kyiv oblast"), 14);
    assert_eq!(id("KYIV OBLAST"), 14);
    assert_eq!(id("Kyivska oblast"), 14);
    assert_eq!(id("Kyiv"), 31);
    assert_eq!(id("м. Київ"), 31);
    assert_eq!(id("Kyiv City"), 31);
    assert_eq!(id("Lviv"), 27);
    assert_eq!(id("#Харківська_область"), 22);
}

#[test]
fn old_raion_names_and_apostrophe_variants_resolve() {
    let samarivskyi = id("Самарівський район");
    assert_eq!(
        id("Новомосковський район"),
        samarivskyi,
        "the pre-2024 name is an alias"
    );
    let a = id("Кам'янець-Подільський район");
    assert_eq!(id("Кам’янець-Подільський район"), a);
    assert_eq!(id("камʼянець-подільський"), a);
}

#[test]
fn unknown_and_ambiguous_names_list_candidates() {
    let r = Registry::embedded();
    match r.resolve("Kyjiw") {
        Err(ResolveError::Unknown { candidates, .. }) => {
            assert!(
                candidates
                    .iter()
                    .any(|c| c.id == RegionId(31) || c.id == RegionId(14))
            );
        }
        other => panic!("expected unknown with candidates, got {other:?}"),
    }
    // Hromada names repeat across oblasts: a bare one is ambiguous, inside its oblast it is not.
    let mut seen = std::collections::HashMap::new();
    let repeated = r
        .regions()
        .filter(|x| x.level == Level::Hromada)
        .find(|x| seen.insert(x.name_uk.clone(), x.id).is_some())
        .expect("some hromada name occurs twice");
    match r.resolve(&repeated.name_uk) {
        Err(ResolveError::Ambiguous { candidates, .. }) => assert!(candidates.len() >= 2),
        other => panic!(
            "expected ambiguity for {:?}, got {other:?}",
            repeated.name_uk
        ),
    }
    let inside = r
        .resolve_within(&repeated.name_uk, Some(repeated.oblast))
        .expect("unique inside its oblast");
    assert_eq!(inside.oblast, repeated.oblast);
    assert!(matches!(
        r.resolve("1234567"),
        Err(ResolveError::Unknown { .. })
    ));
    assert!(matches!(r.resolve(""), Err(ResolveError::Unknown { .. })));
}
