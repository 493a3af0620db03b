//! The channel reader against the official record built from the same channel: every official
//! interval in the period the export covers should be rebuilt (same region, start within 60 s),
//! and every one that is not is explained.

mod common;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use tryvoga_ingest::channel::{
    Message, RecordInterval, Unmatched, compare_with_record, rebuild_intervals,
};
use tryvoga_ingest::places::{RegionLookup, resolve};

/// The export and the intervals rebuilt from it, shared by both checks (a debug build takes a
/// while over 52,933 messages).
static REBUILT: LazyLock<(Vec<Message>, Vec<tryvoga_ingest::channel::ChannelInterval>)> =
    LazyLock::new(|| {
        let messages = load_export();
        let intervals = rebuild_intervals(&messages, common::gazetteer());
        (messages, intervals)
    });

fn load_export() -> Vec<Message> {
    common::read_shared("data/messages/air_alert_ua_telegram_export_2022-2024.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Message::from_json(&v))
        .collect()
}

fn utc(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%:z")
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// `official_data_{en,uk}.csv`: oblast,raion,hromada,level,started_at,finished_at,source
fn load_record(lookup: &dyn RegionLookup, file: &str) -> Vec<RecordInterval> {
    let path = common::shared()
        .join("data/vadimkin-air-raid-sirens")
        .join(file);
    let mut rdr = csv::Reader::from_path(path).expect("official record");
    let mut out = Vec::new();
    for row in rdr.records() {
        let Ok(row) = row else { continue };
        let (oblast, raion, hromada, level) = (&row[0], &row[1], &row[2], &row[3]);
        let Some(start) = utc(&row[4]) else { continue };
        let o = resolve(lookup, oblast, None);
        let oid = o.as_ref().map(|p| p.oblast.0);
        let (name, region) = match level {
            "oblast" => (oblast, o.map(|p| p.id.0)),
            "raion" => (raion, resolve(lookup, raion, oid).map(|p| p.id.0)),
            _ => (hromada, resolve(lookup, hromada, oid).map(|p| p.id.0)),
        };
        out.push(RecordInterval {
            region,
            name: name.to_string(),
            start,
            end: utc(&row[5]),
        });
    }
    out
}

/// The two stretches the export covers (SOURCES.md §6a).
fn in_export_period(t: DateTime<Utc>) -> bool {
    let d = t.date_naive();
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
    (day(2022, 3, 15)..=day(2022, 8, 2)).contains(&d)
        || (day(2023, 3, 20)..=day(2024, 2, 29)).contains(&d)
}

#[test]
fn rebuilds_the_official_record() {
    check_against("official_data_en.csv");
}

/// The Ukrainian edition (to 2023-12-18): the same intervals, named in Ukrainian.
#[test]
fn rebuilds_the_official_record_uk() {
    check_against("official_data_uk.csv");
}

fn check_against(file: &str) {
    let lookup = common::gazetteer();
    let lookup: &dyn RegionLookup = lookup;
    let (messages, intervals) = &*REBUILT;
    assert_eq!(messages.len(), 52_933);
    let first = messages.iter().find_map(Message::posted);
    let unresolved = intervals
        .iter()
        .filter(|i| i.region.id.is_none() && !i.test)
        .count();
    let record: Vec<RecordInterval> = load_record(lookup, file)
        .into_iter()
        .filter(|r| {
            in_export_period(r.start)
                && first.is_some_and(|f| r.start >= f - chrono::Duration::seconds(60))
        })
        .collect();
    let report = compare_with_record(intervals, &record, messages, lookup, 60);

    println!("channel reader vs official record ({file}), start within 60 s");
    println!(
        "  rebuilt intervals: {} ({} with an unresolved region)",
        intervals.len(),
        unresolved
    );
    println!("  record intervals in the export period: {}", report.total);
    println!(
        "  matched: {} ({:.2}% of all; {:.2}% of those whose time the export covers)",
        report.matched,
        100.0 * report.matched as f64 / report.total.max(1) as f64,
        100.0 * report.covered_ratio()
    );
    for why in [
        Unmatched::ExportGap,
        Unmatched::RecordRegionUnknown,
        Unmatched::StartTimeDiffers,
        Unmatched::AmbiguousName,
        Unmatched::RegionNotInMessages,
    ] {
        println!("  unmatched, {:?}: {}", why, report.count(why));
    }
    // Export gaps are whole days (or hours) of missing messages: list them per day, and every
    // other miss one by one.
    let mut gap_days: BTreeMap<NaiveDate, usize> = BTreeMap::new();
    for (r, why) in &report.unmatched {
        if *why == Unmatched::ExportGap {
            *gap_days.entry(r.start.date_naive()).or_default() += 1;
        } else {
            println!("    {:?}: {} {} (id {:?})", why, r.start, r.name, r.region);
        }
    }
    for (day, n) in &gap_days {
        println!("    ExportGap: {day}: {n} intervals start where the export lacks messages");
    }
    assert!(report.total > 20_000);
    assert!(
        report.covered_ratio() >= 0.99,
        "matched {:.4}",
        report.covered_ratio()
    );
    assert_eq!(report.count(Unmatched::RecordRegionUnknown), 0);
}
