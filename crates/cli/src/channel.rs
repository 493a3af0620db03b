//! `tryvoga import channel <export.jsonl>`: rebuilds the alert intervals from the alert
//! channel's messages (each 🔴 paired with the next 🟢/🟡 for the same region) and writes them
//! into the record as past alerts, through the same idempotent path as `import sirens`, under
//! their own source (`channel/air_alert_ua`), so that importing the export again adds nothing
//! and the official record imported beside it is not mistaken for it.
//!
//! With `--compare official_data_en.csv` it also checks the rebuilt intervals against the
//! official record for the time the export spans: an official interval is matched by a rebuilt
//! one on the same region starting within 60 s, and every one that is not is listed with why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use chrono::Duration;
use serde_json::json;
use tryvoga_core::{AlertType, RegionId, Registry};
use tryvoga_history::import::line_ranges;
use tryvoga_history::sirens::Kind as DatasetKind;
use tryvoga_history::{Dataset, Skip, read_sirens};
use tryvoga_ingest::Gazetteer;
use tryvoga_ingest::channel::{
    ChannelInterval, MatchReport, Message, RecordInterval, Unmatched, compare_with_record,
    rebuild_intervals,
};
use tryvoga_store::HistoricalAlert;

use crate::output::{kyiv_time, print_json};

/// The import source of intervals rebuilt from the channel's messages.
pub const SOURCE: &str = "channel/air_alert_ua";
/// How far apart the starts of a rebuilt and an official interval may be and still match.
const TOLERANCE_S: i64 = 60;

pub struct ChannelArgs {
    pub file: PathBuf,
    pub db: PathBuf,
    pub key: crate::offline::RecordKey,
    pub compare: Option<PathBuf>,
    pub json: bool,
}

/// An export read: its file name, its messages with the line each came from, and the lines
/// that were not messages.
struct Export {
    file: String,
    messages: Vec<Message>,
    lines: Vec<u64>,
    skipped: Vec<Skip>,
}

fn read_export(path: &Path) -> Result<Export> {
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    let mut messages = Vec::new();
    let mut lines = Vec::new();
    let mut skipped = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<serde_json::Value>(line.trim());
        match parsed.as_ref().ok().and_then(Message::from_json) {
            Some(m) => {
                messages.push(m);
                lines.push(n);
            }
            None => skipped.push(Skip {
                line: n,
                reason: match parsed {
                    Err(e) => format!("not JSON: {e}"),
                    Ok(_) => "not a message object (no text field)".into(),
                },
            }),
        }
    }
    let file = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    Ok(Export {
        file,
        messages,
        lines,
        skipped,
    })
}

/// The rows to import, and every interval left out with the line of its 🔴 and the reason.
fn rows(
    intervals: &[ChannelInterval],
    messages: &[Message],
    lines: &[u64],
    registry: &Registry,
) -> (Vec<HistoricalAlert>, Vec<Skip>) {
    let line_of: BTreeMap<i64, u64> = messages
        .iter()
        .zip(lines)
        .filter_map(|(m, l)| Some((m.id?, *l)))
        .collect();
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for iv in intervals {
        let line = iv
            .start_message
            .and_then(|id| line_of.get(&id).copied())
            .unwrap_or(0);
        let mut skip = |reason: String| skipped.push(Skip { line, reason });
        let name = &iv.region.name;
        let Some(id) = iv
            .region
            .id
            .filter(|id| registry.get(RegionId(*id)).is_some())
        else {
            skip(format!("{name:?} is not a region the registry knows"));
            continue;
        };
        if iv.test {
            skip(format!("{name}: a test message, not an alert"));
            continue;
        }
        let Some(end) = iv.end else {
            skip(format!(
                "{name}: no all-clear followed the alert of {}",
                kyiv_time(&iv.start.to_rfc3339())
            ));
            continue;
        };
        if end < iv.start {
            skip(format!("{name}: the all-clear comes before the alert"));
            continue;
        }
        let type_word = serde_json::to_value(iv.alert_type)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let Ok(alert_type) = type_word.parse::<AlertType>() else {
            skip(format!(
                "{name}: alert type {type_word:?} unknown to the record"
            ));
            continue;
        };
        rows.push(HistoricalAlert {
            line,
            region: RegionId(id),
            alert_type,
            started_at: iv.start,
            ended_at: end,
            note: None,
        });
    }
    (rows, skipped)
}

/// The official record's intervals that start while the export runs.
fn record_in_span(
    path: &Path,
    messages: &[Message],
    registry: &Registry,
) -> Result<(Vec<RecordInterval>, usize)> {
    let data = read_sirens(path, registry, &mut |_| {})?;
    let times: Vec<_> = messages.iter().filter_map(Message::posted).collect();
    let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) else {
        return Err(anyhow!("the export has no dated message to compare by"));
    };
    let from = *first - Duration::seconds(TOLERANCE_S);
    let record = data
        .rows
        .iter()
        .filter(|r| r.started_at >= from && r.started_at <= *last)
        .map(|r| RecordInterval {
            region: Some(r.region.0),
            name: registry
                .get(r.region)
                .map_or_else(|| r.region.to_string(), |g| g.name_uk.clone()),
            start: r.started_at,
            end: Some(r.ended_at),
        })
        .collect();
    Ok((record, data.skipped.len()))
}

fn why(u: Unmatched) -> &'static str {
    match u {
        Unmatched::ExportGap => "export_gap",
        Unmatched::RecordRegionUnknown => "record_region_unknown",
        Unmatched::StartTimeDiffers => "start_time_differs",
        Unmatched::AmbiguousName => "ambiguous_name",
        Unmatched::RegionNotInMessages => "region_not_in_messages",
    }
}

const CATEGORIES: [Unmatched; 5] = [
    Unmatched::ExportGap,
    Unmatched::AmbiguousName,
    Unmatched::StartTimeDiffers,
    Unmatched::RegionNotInMessages,
    Unmatched::RecordRegionUnknown,
];

fn explain(u: Unmatched) -> &'static str {
    match u {
        Unmatched::ExportGap => {
            "the export lacks the messages of that time (a run of missing \
             message ids, or outside the days it holds)"
        }
        Unmatched::AmbiguousName => {
            "the message names a hromada several oblasts share without \
             saying which; the reader placed it in another oblast"
        }
        Unmatched::StartTimeDiffers => "the channel announced the region more than 60 s away",
        Unmatched::RegionNotInMessages => "no message within 60 s names the region",
        Unmatched::RecordRegionUnknown => "the record's region did not resolve",
    }
}

fn comparison_json(file: &Path, report: &MatchReport, skipped_rows: usize) -> serde_json::Value {
    let covered = report.total - report.count(Unmatched::ExportGap);
    json!({
        "record": file.display().to_string(),
        "record_rows_skipped": skipped_rows,
        "tolerance_seconds": TOLERANCE_S,
        "total": report.total,
        "matched": report.matched,
        "matched_share": report.matched as f64 / report.total.max(1) as f64,
        "covered": covered,
        "matched_share_covered": report.covered_ratio(),
        "unmatched_by_category": CATEGORIES
            .iter()
            .map(|c| (why(*c).to_string(), json!(report.count(*c))))
            .collect::<serde_json::Map<_, _>>(),
        "unmatched": report.unmatched.iter().map(|(r, w)| json!({
            "region": r.region,
            "name": r.name,
            "start": r.start,
            "end": r.end,
            "category": why(*w),
        })).collect::<Vec<_>>(),
    })
}

fn print_comparison(file: &Path, report: &MatchReport, skipped_rows: usize) {
    let covered = report.total - report.count(Unmatched::ExportGap);
    println!(
        "\ncompared with {} (same region, start within {TOLERANCE_S} s):",
        file.display()
    );
    println!(
        "  official intervals while the export runs: {}",
        report.total
    );
    println!(
        "  matched: {} = {:.2}% of all; {:.2}% of the {} whose time the export has messages for",
        report.matched,
        100.0 * report.matched as f64 / report.total.max(1) as f64,
        100.0 * report.covered_ratio(),
        covered
    );
    if skipped_rows > 0 {
        println!("  rows of the record it could not read: {skipped_rows}");
    }
    for c in CATEGORIES {
        let n = report.count(c);
        if n > 0 {
            println!("  unmatched, {}: {n} ({})", why(c), explain(c));
        }
    }
    for (r, w) in &report.unmatched {
        println!(
            "unmatched {} {} ({}) {}",
            kyiv_time(&r.start.to_rfc3339()),
            r.name,
            r.region.map_or_else(|| "?".into(), |id| id.to_string()),
            why(*w)
        );
    }
}

pub fn run(args: ChannelArgs) -> Result<()> {
    let started = Instant::now();
    let registry = Registry::embedded();
    let Export {
        file,
        messages,
        lines,
        skipped: skipped_lines,
    } = read_export(&args.file)?;
    if messages.is_empty() {
        return Err(anyhow!(
            "{}: no channel messages (one JSON object with a text field per line)",
            args.file.display()
        ));
    }
    let intervals = rebuild_intervals(&messages, Gazetteer::embedded());
    let (rows, skipped_intervals) = rows(&intervals, &messages, &lines, registry);
    let comparison = args
        .compare
        .as_deref()
        .map(|path| -> Result<_> {
            let (record, skipped_rows) = record_in_span(path, &messages, registry)?;
            let report = compare_with_record(
                &intervals,
                &record,
                &messages,
                Gazetteer::embedded(),
                TOLERANCE_S,
            );
            Ok((path.to_path_buf(), report, skipped_rows))
        })
        .transpose()?;

    let store = crate::offline::open_for_import(&args.db, &args.key)?;
    let data = Dataset {
        file: file.clone(),
        source: SOURCE.into(),
        // Not a siren dataset: the kind only matters to the sirens reader.
        kind: DatasetKind::Official,
        records: rows.len() as u64,
        rows,
        skipped: Vec::new(),
        notes: Vec::new(),
    };
    let rt = crate::runtime()?;
    let summary = rt.block_on(tryvoga_history::import(&store, &data, &mut |_| {}))?;
    drop(store);
    let seconds = started.elapsed().as_secs_f64();

    if args.json {
        let skip_json = |s: &[Skip]| {
            s.iter()
                .map(|k| json!({"line": k.line, "reason": k.reason}))
                .collect::<Vec<_>>()
        };
        print_json(&json!({
            "file": file,
            "source": SOURCE,
            "messages": messages.len(),
            "lines_skipped": skip_json(&skipped_lines),
            "intervals": intervals.len(),
            "imported": summary.imported,
            "already_present": summary.already.len(),
            "intervals_skipped": skip_json(&skipped_intervals),
            "comparison": comparison.as_ref().map(|(p, r, s)| comparison_json(p, r, *s)),
            "seconds": seconds,
        }));
        return Ok(());
    }
    println!(
        "{file} ({SOURCE}): {} messages, {} intervals rebuilt in {seconds:.2} s",
        messages.len(),
        intervals.len()
    );
    println!("  imported:          {}", summary.imported);
    println!("  already present:   {}", summary.already.len());
    println!("  intervals skipped: {}", skipped_intervals.len());
    println!("  lines skipped:     {}", skipped_lines.len());
    if !summary.already.is_empty() {
        println!(
            "already in the record from {SOURCE}: intervals starting at lines {}",
            line_ranges(&summary.already)
        );
    }
    for k in &skipped_lines {
        println!("skipped line {}: {}", k.line, k.reason);
    }
    for k in &skipped_intervals {
        println!("skipped interval (line {}): {}", k.line, k.reason);
    }
    if let Some((path, report, skipped_rows)) = &comparison {
        print_comparison(path, report, *skipped_rows);
    }
    Ok(())
}
