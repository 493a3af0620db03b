//! How results are shown: tables for people on a terminal, bare values or JSON for machines.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Kyiv;
use serde_json::Value;

pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// A time as people in Ukraine read it.
pub fn kyiv_time(t: &str) -> String {
    DateTime::parse_from_rfc3339(t)
        .map(|t| t.with_timezone(&Kyiv).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| t.to_string())
}

pub fn duration_since(t: &str, until: Option<&str>) -> String {
    let Ok(start) = DateTime::parse_from_rfc3339(t) else {
        return String::new();
    };
    let end = until
        .and_then(|u| DateTime::parse_from_rfc3339(u).ok())
        .map(|u| u.with_timezone(&Utc))
        .unwrap_or_else(Utc::now);
    let secs = (end - start.with_timezone(&Utc)).num_seconds().max(0);
    format!("{}h{:02}m", secs / 3600, secs % 3600 / 60)
}

/// Prints rows under a header with columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            if i + 1 < cells.len() {
                out.push_str(&" ".repeat(w - cell.chars().count()));
            }
        }
        println!("{out}");
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

pub fn alert_rows(alerts: &[Value]) -> Vec<Vec<String>> {
    alerts
        .iter()
        .map(|a| {
            let s = |v: &Value| v.as_str().unwrap_or("").to_string();
            vec![
                a["id"].to_string(),
                format!("{} ({})", s(&a["region"]["name_uk"]), a["region"]["id"]),
                s(&a["type"]),
                a["level"].as_str().unwrap_or("-").to_string(),
                s(&a["status"]),
                kyiv_time(a["started_at"].as_str().unwrap_or("")),
                duration_since(
                    a["started_at"].as_str().unwrap_or(""),
                    a["ended_at"].as_str(),
                ),
            ]
        })
        .collect()
}

pub const ALERT_HEADER: &[&str] = &[
    "ID",
    "REGION",
    "TYPE",
    "LEVEL",
    "STATUS",
    "STARTED (KYIV)",
    "LASTED",
];

pub fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// A bar on a terminal; nothing at all when either output is redirected.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    if !stdout_is_terminal() || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}
