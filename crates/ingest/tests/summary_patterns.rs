//! The summary reader on texts written for these tests in the Air Force's shapes that the
//! sample lacks: a massive combined strike with inventory lists and a clarification post.

use chrono::DateTime;
use tryvoga_core::report::WeaponClass;
use tryvoga_ingest::Gazetteer;
use tryvoga_ingest::summary::read_summary;

const COMBINED: &str = "⚡️ ЗБИТО/ПОДАВЛЕНО 430 ЦІЛЕЙ ПРОТИВНИКА
У ніч на 10 жовтня (з 18:00 9 жовтня) противник завдав масованого комбінованого удару по об’єктах енергетики.
Всього зафіксовано 497 засобів повітряного нападу:
- 32 балістичні ракети Іскандер-М/KN-23 (Курська, Ростовська обл.);
- 2 аеробалістичні ракети Кинджал (Липецька обл.);
- 18 крилатих ракет Х-101 (Саратовська обл.);
- 445 ударних БпЛА типу Shahed, Гербера та дронів інших типів.
За попередніми даними, станом на 09:00, протиповітряною обороною знешкоджено/подавлено 430 повітряних цілей:
- 14 балістичних ракет Іскандер-М/KN-23;
- 2 ракети Кинджал;
- 16 крилатих ракет Х-101;
- 398 ворожих БпЛА.
Зафіксовано влучання 18 ракет та 40 ударних БпЛА на 25 локаціях. На жаль, загинули 4 людини, поранено 21.
";

const CLARIFICATION: &str = "‼️ УТОЧНЕННЯ
За уточненими даними, у ніч на 10 жовтня протиповітряною обороною збито/подавлено 15 балістичних ракет Іскандер-М/KN-23 та 401 ворожий БпЛА.";

#[test]
fn combined_strike_with_inventory_lists() {
    let at = DateTime::parse_from_rfc3339("2026-10-10T07:00:00+00:00")
        .map(|d| d.to_utc())
        .ok();
    let ex = read_summary(COMBINED, Gazetteer::embedded(), at);
    let r = &ex.reports[0];
    let get = |c| {
        let w = r
            .weapon(c)
            .unwrap_or_else(|| panic!("no {c:?}: {:#?}", r.weapons));
        (w.launched, w.destroyed, w.hit)
    };
    assert_eq!(
        get(WeaponClass::BallisticMissile),
        (Some(32), Some(14), None)
    );
    assert_eq!(
        get(WeaponClass::AeroballisticMissile),
        (Some(2), Some(2), None)
    );
    assert_eq!(get(WeaponClass::CruiseMissile), (Some(18), Some(16), None));
    assert_eq!(get(WeaponClass::Drone), (Some(445), Some(398), Some(40)));
    assert_eq!(r.weapons.len(), 5, "{:#?}", r.weapons);
    // 18 missiles hit, type not stated: kept as missiles, not pinned on one type.
    assert_eq!(r.weapon(WeaponClass::Missile).and_then(|w| w.hit), Some(18));
    assert_eq!(r.headline_destroyed, Some(430));
    assert!(r.flags.is_empty(), "{:?}", r.flags);
    assert_eq!(r.hit_locations, Some(25));
    assert_eq!(
        (r.casualties.killed, r.casualties.injured),
        (Some(4), Some(21))
    );
    assert_eq!(
        r.period.start.map(|t| t.to_rfc3339()),
        Some("2026-10-09T15:00:00+00:00".to_string())
    );
    assert!(
        r.infrastructure
            .contains(&tryvoga_core::report::InfraKind::Energy)
    );
}

#[test]
fn clarification_post() {
    let ex = read_summary(CLARIFICATION, Gazetteer::embedded(), None);
    let r = &ex.reports[0];
    assert!(r.flags.iter().any(|f| f == "clarification"));
    assert_eq!(
        r.weapon(WeaponClass::BallisticMissile)
            .and_then(|w| w.destroyed),
        Some(15)
    );
    assert_eq!(
        r.weapon(WeaponClass::Drone).and_then(|w| w.destroyed),
        Some(401)
    );
    assert_eq!(r.period.start, None);
}
