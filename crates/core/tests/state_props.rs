//! Property tests: the state is the fold of the events it produced, statuses follow the
//! hierarchy, and no command sequence yields two active alerts of one key.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use tryvoga_core::*;

fn region(id: u32, level: Level, parent: Option<u32>, oblast: u32) -> Region {
    Region {
        id: RegionId(id),
        level,
        parent: parent.map(RegionId),
        oblast: RegionId(oblast),
        name_uk: format!("Регіон {id}"),
        name_en: format!("Region {id}"),
        aliases: vec![],
        katottg: None,
        iso: None,
        alerts_in_ua_uid: None,
        ukrainealarm_id: None,
        synthetic_id: false,
    }
}

/// Two oblasts, each with two raions of two hromadas.
fn small_registry() -> Registry {
    let mut regions = Vec::new();
    for o in [1u32, 2] {
        regions.push(region(o, Level::Oblast, None, o));
        for r in 0..2 {
            let rid = o * 10 + r;
            regions.push(region(rid, Level::Raion, Some(o), o));
            for h in 0..2 {
                regions.push(region(rid * 10 + h, Level::Hromada, Some(rid), o));
            }
        }
    }
    Registry::new(regions, vec![RegionId(1), RegionId(2)]).expect("consistent test registry")
}

const REGION_IDS: &[u32] = &[1, 2, 10, 11, 20, 21, 100, 101, 110, 111, 200, 201, 210, 211];

#[derive(Debug, Clone)]
enum Op {
    Start(u32, usize, usize, Option<AlertLevel>),
    Update(u64, Option<AlertLevel>),
    End(u64),
    Cancel(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let level = prop_oneof![
        Just(None),
        Just(Some(AlertLevel::Red)),
        Just(Some(AlertLevel::Yellow))
    ];
    prop_oneof![
        4 => (prop::sample::select(REGION_IDS), 0..2usize, 0..3usize, level.clone())
            .prop_map(|(r, t, s, l)| Op::Start(r, t, s, l)),
        1 => (1..30u64, level).prop_map(|(id, l)| Op::Update(id, l)),
        2 => (1..30u64).prop_map(Op::End),
        1 => (1..30u64).prop_map(Op::Cancel),
    ]
}

fn to_command(op: &Op) -> Command {
    match *op {
        Op::Start(r, t, s, level) => Command::StartAlert {
            region: RegionId(r),
            alert_type: [AlertType::AirRaid, AlertType::ArtilleryShelling][t],
            level,
            status: AlertStatus::ALL[s],
            note: None,
        },
        Op::Update(id, level) => Command::UpdateAlert {
            id: AlertId(id),
            level: Some(level),
            note: None,
        },
        Op::End(id) => Command::EndAlert { id: AlertId(id) },
        Op::Cancel(id) => Command::CancelAlert {
            id: AlertId(id),
            reason: "false alarm".into(),
        },
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
        .expect("valid time")
        .with_timezone(&Utc)
}

fn run(registry: &Registry, actor: &Actor, ops: &[Op]) -> (State, Vec<Event>) {
    let mut state = State::new();
    let mut log = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let seq = state.last_seq() + 1;
        let now = t0() + Duration::seconds(i as i64);
        if let Ok(event) = state.decide(registry, actor, &to_command(op), seq, now) {
            state.apply(&event);
            log.push(event);
        }
    }
    (state, log)
}

fn admin() -> Actor {
    Actor {
        name: "admin".into(),
        role: Role::Admin,
        scope: vec![],
    }
}

proptest! {
    #[test]
    fn state_is_the_fold_of_its_events(ops in prop::collection::vec(op(), 0..60)) {
        let registry = small_registry();
        let (state, log) = run(&registry, &admin(), &ops);
        // Through JSON too: what the log stores must rebuild the same state.
        let reread: Vec<Event> = log
            .iter()
            .map(|e| serde_json::from_str(&serde_json::to_string(e).unwrap()).unwrap())
            .collect();
        prop_assert_eq!(State::fold(&reread), state);
        for (i, e) in log.iter().enumerate() {
            prop_assert_eq!(e.seq, i as u64 + 1, "sequence is gapless");
        }
    }

    #[test]
    fn one_active_alert_per_region_type_and_status(ops in prop::collection::vec(op(), 0..60)) {
        let registry = small_registry();
        let (state, _) = run(&registry, &admin(), &ops);
        let mut seen = std::collections::HashSet::new();
        for a in state.active() {
            prop_assert!(seen.insert((a.region.id, a.alert_type, a.status)));
            prop_assert!(a.ended_at.is_none());
        }
    }

    #[test]
    fn statuses_follow_the_hierarchy(ops in prop::collection::vec(op(), 0..60)) {
        let registry = small_registry();
        let (state, _) = run(&registry, &admin(), &ops);
        let map = state.statuses(&registry, |a| a.alert_type == AlertType::AirRaid);
        let actual_air: Vec<&Alert> = state
            .active()
            .filter(|a| a.status.is_actual() && a.alert_type == AlertType::AirRaid)
            .collect();
        for &id in REGION_IDS {
            let id = RegionId(id);
            let expected = if actual_air.iter().any(|a| registry.is_within(id, a.region.id)) {
                Status::Active
            } else if actual_air.iter().any(|a| registry.is_within(a.region.id, id)) {
                Status::Partial
            } else {
                Status::None
            };
            let got = map.get(&id).map_or(Status::None, |s| s.0);
            prop_assert_eq!(got, expected, "region {}", id);
            prop_assert_eq!(
                state.status_of(&registry, id, |a| a.alert_type == AlertType::AirRaid),
                expected
            );
            // An active parent makes every child active.
            if got == Status::Active {
                for &c in registry.children(id) {
                    prop_assert_eq!(map.get(&c).map(|s| s.0), Some(Status::Active));
                }
            }
        }
    }
}

#[test]
fn drills_never_change_public_status() {
    let registry = small_registry();
    let (state, log) = run(
        &registry,
        &admin(),
        &[Op::Start(1, 0, 1, None), Op::Start(2, 0, 2, None)],
    );
    assert_eq!(log.len(), 2);
    assert!(state.statuses(&registry, |_| true).is_empty());
}

#[test]
fn hromada_alert_makes_raion_and_oblast_partial_and_oblast_alert_covers_all() {
    let registry = small_registry();
    let (state, _) = run(&registry, &admin(), &[Op::Start(100, 0, 0, None)]);
    let s = |id| state.status_of(&registry, RegionId(id), |_| true);
    assert_eq!(s(100), Status::Active);
    assert_eq!(s(10), Status::Partial);
    assert_eq!(s(1), Status::Partial);
    assert_eq!(s(101), Status::None);
    assert_eq!(s(2), Status::None);

    let (state, _) = run(
        &registry,
        &admin(),
        &[Op::Start(2, 0, 0, Some(AlertLevel::Yellow))],
    );
    for d in registry.descendants(RegionId(2)) {
        assert_eq!(state.status_of(&registry, d, |_| true), Status::Active);
    }
}

#[test]
fn issuer_scope_covers_descendants_only() {
    let registry = small_registry();
    let issuer = Actor {
        name: "duty".into(),
        role: Role::Issuer,
        scope: vec![RegionId(10)],
    };
    let state = State::new();
    let start = |r| Command::StartAlert {
        region: RegionId(r),
        alert_type: AlertType::AirRaid,
        level: None,
        status: AlertStatus::Actual,
        note: None,
    };
    assert!(
        state
            .decide(&registry, &issuer, &start(101), 1, t0())
            .is_ok()
    );
    assert!(matches!(
        state.decide(&registry, &issuer, &start(1), 1, t0()),
        Err(Refusal::Forbidden(_))
    ));
    assert!(matches!(
        state.decide(&registry, &issuer, &start(200), 1, t0()),
        Err(Refusal::Forbidden(_))
    ));
    let reader = Actor {
        role: Role::Reader,
        ..issuer
    };
    assert!(matches!(
        state.decide(&registry, &reader, &start(101), 1, t0()),
        Err(Refusal::Forbidden(_))
    ));
}

#[test]
fn second_alert_of_a_kind_conflicts_and_ended_alert_cannot_end_again() {
    let registry = small_registry();
    let (state, log) = run(&registry, &admin(), &[Op::Start(1, 0, 0, None), Op::End(1)]);
    assert_eq!(log.len(), 2);
    let refused = state.decide(&registry, &admin(), &to_command(&Op::End(1)), 3, t0());
    assert!(matches!(refused, Err(Refusal::Ended(_))));
    let refused = state.decide(&registry, &admin(), &to_command(&Op::End(9)), 3, t0());
    assert!(matches!(refused, Err(Refusal::NotFound(_))));

    let (state, _) = run(&registry, &admin(), &[Op::Start(1, 0, 0, None)]);
    match state.decide(
        &registry,
        &admin(),
        &to_command(&Op::Start(1, 0, 0, None)),
        2,
        t0(),
    ) {
        Err(Refusal::Conflict { alert, .. }) => assert_eq!(alert.id, AlertId(1)),
        other => panic!("expected conflict, got {other:?}"),
    }
}

#[test]
fn cancel_needs_a_reason_and_is_kept_flagged() {
    let registry = small_registry();
    let (state, _) = run(&registry, &admin(), &[Op::Start(1, 0, 0, None)]);
    let no_reason = Command::CancelAlert {
        id: AlertId(1),
        reason: "  ".into(),
    };
    assert!(matches!(
        state.decide(&registry, &admin(), &no_reason, 2, t0()),
        Err(Refusal::Invalid(_))
    ));
    let (_, log) = run(
        &registry,
        &admin(),
        &[Op::Start(1, 0, 0, None), Op::Cancel(1)],
    );
    let alert = log[1].body.alert().expect("alert event");
    assert!(alert.cancelled);
    assert_eq!(alert.cancel_reason.as_deref(), Some("false alarm"));
    assert!(alert.ended_at.is_some());
    assert_eq!(log[1].kind(), "alert.cancelled");
}
