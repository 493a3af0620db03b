//! Unit tests of `channel`, kept beside it rather than in it so that the module reads as the
//! reader it is.

use super::*;
use crate::places::Gazetteer;

fn read(text: &str) -> Extraction {
    let g = Gazetteer::top_level();
    let mut ctx = Context::default();
    read_message(&Message::from_text(text), &g, &mut ctx, None)
}

#[test]
fn alert_and_all_clear() {
    let e = read(
        "🔴 18:10 Повітряна тривога в Вінницька область\nПройдіть в укриття.\n#Вінницька_область",
    );
    assert_eq!(e.alerts.len(), 1);
    let a = &e.alerts[0];
    assert_eq!(a.region.id, Some(4));
    assert_eq!(a.alert_type, AlertType::AirRaid);
    assert_eq!(a.action, Action::Start);
    assert_eq!(a.time_local.as_deref(), Some("18:10"));
    assert!(a.at.is_none());
    let e = read("🟢 18:02 Відбій тривоги в Київська область.\n#Київська_область");
    assert_eq!(e.alerts[0].action, Action::End);
    assert_eq!(e.alerts[0].region.id, Some(14));
}

#[test]
fn partial_all_clear_lists_the_rest() {
    let e = read(
        "🟡 19:02 Відбій тривоги в Київська область\nЗверніть увагу, тривога ще триває у:\n\n- м. Київ\n#Київська_область",
    );
    let a = &e.alerts[0];
    assert_eq!(a.action, Action::End);
    assert_eq!(a.region.id, Some(14));
    assert_eq!(a.still_active.len(), 1);
    assert_eq!(a.still_active[0].id, Some(31));
}

#[test]
fn artillery_region_from_body() {
    let e = read(
        "🔴 06:52 Загроза артобстрілу!\nЗараз у Сумська область артилерійський обстріл.\nПройдіть в укриття!\n#Сумська_область",
    );
    assert_eq!(e.alerts[0].alert_type, AlertType::ArtilleryShelling);
    assert_eq!(e.alerts[0].region.id, Some(20));
}

#[test]
fn threats_of_2026() {
    let e = read(
        "🟠 15:59 УВАГА !!!\nЗагроза застосування керованих авіаційних бомб (КАБів).\n#Запорізька_область",
    );
    assert_eq!(e.threats[0].kind, ThreatKind::GuidedBomb);
    assert_eq!(
        e.threats[0].towards_region.as_ref().and_then(|r| r.id),
        Some(12)
    );
    let e = read(
        "🟢 15:54 Відбій загрози ударних БпЛА\nВідбій загрози ударних БпЛА\n#Харківська_область",
    );
    assert_eq!(e.threats[0].kind, ThreatKind::Drone);
    assert_eq!(e.threats[0].action, Action::End);
    let e = read("🔴 16:00 Загроза балістики! Швидкісна ціль на Київ\n#м_Київ");
    assert_eq!(e.threats[0].kind, ThreatKind::BallisticMissile);
}

#[test]
fn test_region_is_flagged() {
    let e = read("🔴 00:56 Повітряна тривога в Тестовий Регіон\n#Тестовий_Регіон");
    assert!(e.alerts[0].test);
    assert_eq!(e.alerts[0].region.id, None);
}

#[test]
fn dst_is_respected() {
    let m = Message {
        date_local: NaiveDateTime::parse_from_str("2022-03-15T18:10:34", "%Y-%m-%dT%H:%M:%S").ok(),
        ..Message::from_text("🔴 18:10 Повітряна тривога в Вінницька область")
    };
    assert_eq!(
        m.posted().map(|t| t.to_rfc3339()),
        Some("2022-03-15T16:10:34+00:00".into())
    );
    let m = Message {
        date_local: NaiveDateTime::parse_from_str("2022-07-15T18:10:34", "%Y-%m-%dT%H:%M:%S").ok(),
        ..Message::from_text("")
    };
    assert_eq!(
        m.posted().map(|t| t.to_rfc3339()),
        Some("2022-07-15T15:10:34+00:00".into())
    );
}

#[test]
fn time_only_messages_take_the_reference_date() {
    let g = Gazetteer::top_level();
    let mut ctx = Context::default();
    let reference = DateTime::parse_from_rfc3339("2026-08-08T21:05:00Z")
        .map(|d| d.to_utc())
        .ok();
    let e = read_message(
        &Message::from_text("🔴 23:55 Повітряна тривога в Сумська область"),
        &g,
        &mut ctx,
        reference,
    );
    // 23:55 Kyiv (UTC+3) on 8 August is 20:55 UTC, before the reference.
    assert_eq!(
        e.alerts[0].at.map(|t| t.to_rfc3339()),
        Some("2026-08-08T20:55:00+00:00".into())
    );
    let e = read_message(
        &Message::from_text("🔴 23:58 Повітряна тривога в Сумська область"),
        &g,
        &mut ctx,
        DateTime::parse_from_rfc3339("2026-08-08T21:01:00Z")
            .map(|d| d.to_utc())
            .ok(),
    );
    assert_eq!(
        e.alerts[0].at.map(|t| t.to_rfc3339()),
        Some("2026-08-08T20:58:00+00:00".into())
    );
    let e = read_message(
        &Message::from_text("🔴 23:58 Повітряна тривога в Сумська область"),
        &g,
        &mut ctx,
        DateTime::parse_from_rfc3339("2026-08-08T05:00:00Z")
            .map(|d| d.to_utc())
            .ok(),
    );
    assert_eq!(
        e.alerts[0].at.map(|t| t.to_rfc3339()),
        Some("2026-08-07T20:58:00+00:00".into())
    );
}

#[test]
fn garbage_reads_as_nothing() {
    for t in ["", "🔴", "🔴 99:99 в", "#", "Зараз у", "🟡\n- \n-"] {
        let _ = read(t);
    }
    assert!(read("hello").is_empty());
}
