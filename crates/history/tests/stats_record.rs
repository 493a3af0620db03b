//! Statistics over the imported official record, checked against figures this test computes
//! from the CSV itself with its own plain code (split on commas, parse times, sum, merge).

use std::path::PathBuf;
use std::sync::OnceLock;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use chrono_tz::Europe::Kyiv;
use tryvoga_core::stats::{Stats, compute};
use tryvoga_core::{RegionId, Registry};
use tryvoga_history::figures::intervals_for;
use tryvoga_store::{Access, Store};

fn official_csv() -> PathBuf {
    let shared = std::env::var_os("TRYVOGA_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let path = shared.join("data/vadimkin-air-raid-sirens/official_data_en.csv");
    assert!(
        path.is_file(),
        "the shared data is missing: expected {}; set TRYVOGA_SHARED to the shared folder",
        path.display()
    );
    path
}

/// One row as the test reads it: no CSV library, the file has no quoted fields.
struct Row {
    oblast: String,
    raion: String,
    hromada: String,
    level: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

fn rows() -> &'static Vec<Row> {
    static ROWS: OnceLock<Vec<Row>> = OnceLock::new();
    ROWS.get_or_init(|| {
        let text = std::fs::read_to_string(official_csv()).expect("readable");
        let parse = |s: &str| {
            DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%:z")
                .expect("a time")
                .with_timezone(&Utc)
        };
        text.lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.trim_end_matches('\r').split(',').collect();
                assert_eq!(f.len(), 7, "{l}");
                Row {
                    oblast: f[0].into(),
                    raion: f[1].into(),
                    hromada: f[2].into(),
                    level: f[3].into(),
                    start: parse(f[4]),
                    end: parse(f[5]),
                }
            })
            .collect()
    })
}

/// The store with the official record imported, shared by the tests of this file.
fn store() -> &'static Store {
    static STORE: OnceLock<(tempfile::TempDir, Store)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let rt = tokio::runtime::Runtime::new().unwrap();
            let store = rt.block_on(async {
                let store = Store::open(
                    &dir.path().join("t.db"),
                    Registry::embedded(),
                    Access::Exclusive,
                    Box::new(|_, _| {}),
                )
                .unwrap();
                let data = tryvoga_history::read_sirens(
                    &official_csv(),
                    Registry::embedded(),
                    &mut |_| {},
                )
                .unwrap();
                tryvoga_history::import(&store, &data, &mut |_| {})
                    .await
                    .unwrap();
                store
            });
            // The writer thread outlives the runtime: the store's queue does not need it.
            std::mem::forget(rt);
            (dir, store)
        })
        .1
}

fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().unwrap()
}

fn stats(region: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Stats {
    let registry = Registry::embedded();
    let id = registry.resolve(region).expect("known region").id;
    let intervals =
        intervals_for(store().queries().as_ref(), registry, id, None, from, to).unwrap();
    compute(&intervals, from, to, utc(2030, 1, 1))
}

/// Merged length of spans clipped to `[from, to)`, in seconds.
fn union_seconds(mut spans: Vec<(i64, i64)>, from: i64, to: i64) -> i64 {
    spans.sort();
    let mut total = 0;
    let mut current: Option<(i64, i64)> = None;
    for (s, e) in spans {
        let (s, e) = (s.max(from), e.min(to));
        if s >= e {
            continue;
        }
        current = match current {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    total + current.map_or(0, |(s, e)| e - s)
}

#[test]
fn kyiv_city_2023_total_time_count_and_months_match_the_csv() {
    let (from, to) = (utc(2023, 1, 1), utc(2024, 1, 1));
    let own: Vec<&Row> = rows()
        .iter()
        .filter(|r| r.oblast == "Kyiv City" && r.start >= from && r.start < to)
        .collect();
    assert!(own.len() > 100, "Kyiv had hundreds of alerts in 2023");
    let total: i64 = own.iter().map(|r| (r.end - r.start).num_seconds()).sum();
    let s = stats("Kyiv City", from, to);
    assert_eq!(s.count, own.len() as u64);
    assert_eq!(s.total_seconds, total as u64);
    let spans = rows()
        .iter()
        .filter(|r| r.oblast == "Kyiv City")
        .map(|r| (r.start.timestamp(), r.end.timestamp()))
        .collect();
    assert_eq!(
        s.under_alert_seconds as i64,
        union_seconds(spans, from.timestamp(), to.timestamp())
    );
    // Starts per Kyiv month, counted here with the time zone database directly.
    let mut per_month = std::collections::BTreeMap::new();
    for r in &own {
        let local = r.start.with_timezone(&Kyiv);
        *per_month
            .entry(format!("{:04}-{:02}", local.year(), local.month()))
            .or_insert(0u64) += 1;
    }
    for m in &s.by_month {
        assert_eq!(
            m.count,
            per_month.get(&m.month).copied().unwrap_or(0),
            "{}",
            m.month
        );
    }
    assert_eq!(s.by_hour.iter().sum::<u64>(), s.count);
}

#[test]
fn kharkiv_oblast_october_2022_count_matches_the_csv() {
    let (from, to) = (utc(2022, 10, 1), utc(2022, 11, 1));
    let expected = rows()
        .iter()
        .filter(|r| {
            r.oblast == "Kharkivska oblast"
                && r.level == "oblast"
                && r.start >= from
                && r.start < to
        })
        .count();
    assert!(expected > 0);
    let s = stats("Kharkivska oblast", from, to);
    assert_eq!(s.count, expected as u64);
    let longest = rows()
        .iter()
        .filter(|r| {
            r.oblast == "Kharkivska oblast"
                && r.level == "oblast"
                && r.start >= from
                && r.start < to
        })
        .map(|r| (r.end - r.start).num_seconds())
        .max()
        .unwrap_or(0);
    assert_eq!(s.longest_seconds, longest as u64);
}

#[test]
fn a_hromada_is_under_alert_when_its_raion_or_oblast_is() {
    // The hromada with the most alerts of its own in the record, chosen here.
    let mut counts = std::collections::HashMap::new();
    for r in rows()
        .iter()
        .filter(|r| r.level == "hromada" && r.oblast.ends_with("oblast"))
    {
        *counts
            .entry((r.oblast.clone(), r.raion.clone(), r.hromada.clone()))
            .or_insert(0) += 1;
    }
    let ((oblast, raion, hromada), _) = counts
        .into_iter()
        .max_by_key(|(k, n)| (*n, k.clone()))
        .expect("the record has hromada alerts");
    let (from, to) = (utc(2022, 1, 1), utc(2025, 1, 1));
    let covering = rows()
        .iter()
        .filter(|r| {
            r.oblast == oblast
                && ((r.level == "oblast")
                    || (r.level == "raion" && r.raion == raion)
                    || (r.level == "hromada" && r.raion == raion && r.hromada == hromada))
        })
        .map(|r| (r.start.timestamp(), r.end.timestamp()))
        .collect();
    let registry = Registry::embedded();
    let o = registry.resolve(&oblast).unwrap().id;
    let ra = registry.resolve_within(&raion, Some(o)).unwrap().id;
    let h: RegionId = registry.resolve_within(&hromada, Some(ra)).unwrap().id;
    let s = stats(&h.to_string(), from, to);
    assert_eq!(
        s.under_alert_seconds as i64,
        union_seconds(covering, from.timestamp(), to.timestamp()),
        "{hromada} in {raion}, {oblast}"
    );
}
