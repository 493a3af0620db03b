//! `tryvoga import sirens <CSV>`: loads a published alert record into the database as past
//! alerts (origin `import`, never announced as live), idempotently, and accounts for every row:
//! imported, already present, or skipped with its line and reason.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::json;
use tryvoga_core::Registry;
use tryvoga_history::import::line_ranges;
use tryvoga_history::{ImportSummary, read_sirens};

use crate::offline::RecordKey;
use crate::output::{bar, print_json};

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Vadimkin's siren record: official_data_{en,uk}.csv, full_data.csv, or the oblast-only
    /// volunteer files (volunteer_data_{en,uk}.csv, oblasts_only.csv).
    Sirens {
        /// The CSV file.
        file: PathBuf,
        /// The database file; created if missing. A server must not be running on it.
        #[arg(long, default_value = "./tryvoga.db", env = "TRYVOGA_DB")]
        db: PathBuf,
        #[command(flatten)]
        key: RecordKey,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The alert channel's export (JSON lines): the alert intervals rebuilt from its messages.
    Channel {
        /// The export, one message object per line.
        file: PathBuf,
        /// The database file; created if missing. A server must not be running on it.
        #[arg(long, default_value = "./tryvoga.db", env = "TRYVOGA_DB")]
        db: PathBuf,
        #[command(flatten)]
        key: RecordKey,
        /// Check the rebuilt intervals against an official record (official_data_en.csv).
        #[arg(long)]
        compare: Option<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: ImportCommand) -> Result<()> {
    match cmd {
        ImportCommand::Sirens {
            file,
            db,
            key,
            json,
        } => sirens(&file, &db, &key, json),
        ImportCommand::Channel {
            file,
            db,
            key,
            compare,
            json,
        } => crate::channel::run(crate::channel::ChannelArgs {
            file,
            db,
            key,
            compare,
            json,
        }),
    }
}

fn sirens(file: &std::path::Path, db: &std::path::Path, key: &RecordKey, json: bool) -> Result<()> {
    let started = Instant::now();
    let size = std::fs::metadata(file)
        .with_context(|| format!("{}", file.display()))?
        .len();
    let reading = bar(size, "reading");
    let data = read_sirens(file, Registry::embedded(), &mut |bytes| {
        reading.set_position(bytes)
    })?;
    reading.finish_and_clear();

    let store = crate::offline::open_for_import(db, key)?;
    let writing = bar(data.rows.len() as u64, "writing");
    let rt = crate::runtime()?;
    let summary = rt.block_on(tryvoga_history::import(&store, &data, &mut |done| {
        writing.set_position(done as u64)
    }))?;
    writing.finish_and_clear();
    drop(store);
    report(&summary, started.elapsed().as_secs_f64(), json);
    Ok(())
}

/// Alerts the official record does not hold, though they were on all along (SOURCES.md).
const PERMANENT: &str = "Not in the record: the permanent alerts of Luhansk oblast (since \
     2022-04-04 16:45 UTC) and of Crimea (since 2022-12-10 22:22 UTC); figures for them count \
     only what the file has.";

fn report(s: &ImportSummary, seconds: f64, json: bool) {
    if json {
        print_json(&json!({
            "file": s.file,
            "source": s.source,
            "rows": s.records,
            "imported": s.imported,
            "already_present": s.already.len(),
            "skipped": s.skipped.iter().map(|k| json!({"line": k.line, "reason": k.reason})).collect::<Vec<_>>(),
            "notes": s.notes.iter().map(|n| json!({"line": n.line, "note": n.message})).collect::<Vec<_>>(),
            "seconds": seconds,
        }));
        return;
    }
    println!(
        "{} ({}): {} rows in {:.2} s",
        s.file, s.source, s.records, seconds
    );
    println!("  imported:        {}", s.imported);
    println!("  already present: {}", s.already.len());
    println!("  skipped:         {}", s.skipped.len());
    if !s.already.is_empty() {
        println!(
            "already in the record from {}: lines {}",
            s.source,
            line_ranges(&s.already)
        );
    }
    for k in &s.skipped {
        println!("skipped line {}: {}", k.line, k.reason);
    }
    for n in &s.notes {
        println!("note line {}: {}", n.line, n.message);
    }
    if s.source == "vadimkin/official" {
        println!("{PERMANENT}");
    }
}
