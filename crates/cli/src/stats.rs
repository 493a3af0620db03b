//! `tryvoga stats`: a region's figures over a period — alerts, durations, time under alert, by
//! month, hour of day and weekday (Kyiv time) — from the database file or a running server.

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Europe::Kyiv;
use clap::Args;
use tryvoga_core::{AlertType, Registry};
use tryvoga_history::figures::{self, RegionStats};
use tryvoga_store::{Access, Store};

use crate::output::{print_json, table};
use crate::{Place, Target};

#[derive(Args)]
pub struct StatsArgs {
    /// The region: id, KATOTTG or ISO code, or name in Ukrainian or English.
    #[arg(long)]
    pub region: String,
    /// Start of the period (a date YYYY-MM-DD, midnight UTC, or an RFC 3339 time); a year
    /// before --to by default.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the period, excluded; now by default.
    #[arg(long)]
    pub to: Option<String>,
    /// Only alerts of this type (air_raid, artillery_shelling, ...).
    #[arg(long = "type")]
    pub alert_type: Option<String>,
    #[command(flatten)]
    pub target: Target,
}

/// A date (midnight UTC, as the API reads it) or an RFC 3339 time.
pub fn parse_time(flag: &str, text: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        .map_err(|_| anyhow!("{flag} must be a date YYYY-MM-DD or an RFC 3339 time, not {text:?}"))
}

/// The period asked for, defaulting as the server does: the year up to now.
pub fn period(from: Option<&str>, to: Option<&str>) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let to = to
        .map(|t| parse_time("--to", t))
        .transpose()?
        .unwrap_or_else(Utc::now);
    let from = from
        .map(|f| parse_time("--from", f))
        .transpose()?
        .unwrap_or(to - Duration::days(365));
    if from >= to {
        return Err(anyhow!("--from must be before --to"));
    }
    Ok((from, to))
}

pub fn resolve(region: &str) -> Result<&'static tryvoga_core::Region> {
    Registry::embedded().resolve(region).map_err(|e| {
        let names: Vec<String> = e
            .candidates()
            .iter()
            .map(|c| format!("{} {} / {} ({})", c.id, c.name_uk, c.name_en, c.oblast))
            .collect();
        if names.is_empty() {
            anyhow!("--region: {e}")
        } else {
            anyhow!("--region: {e}; candidates: {}", names.join("; "))
        }
    })
}

pub use tryvoga_api::query::percent as encode;

pub fn query(from: DateTime<Utc>, to: DateTime<Utc>, alert_type: Option<AlertType>) -> String {
    let mut q = format!(
        "from={}&to={}",
        encode(&from.to_rfc3339()),
        encode(&to.to_rfc3339())
    );
    if let Some(t) = alert_type {
        q.push_str(&format!("&type={t}"));
    }
    q
}

pub fn open_shared(db: &std::path::Path) -> Result<Store> {
    if !db.exists() {
        return Err(anyhow!("{}: no such database file", db.display()));
    }
    Store::open(
        db,
        Registry::embedded(),
        Access::Shared,
        Box::new(|_, _| {}),
    )
    .with_context(|| format!("opening {}", db.display()))
}

pub fn run(args: StatsArgs) -> Result<()> {
    let (from, to) = period(args.from.as_deref(), args.to.as_deref())?;
    let alert_type = args
        .alert_type
        .as_deref()
        .map(str::parse::<AlertType>)
        .transpose()?;
    let figures: RegionStats = match args.target.place()? {
        Place::File(db) => {
            let region = resolve(&args.region)?;
            let store = open_shared(&db)?;
            figures::region_stats(
                store.queries().as_ref(),
                Registry::embedded(),
                region,
                alert_type,
                from,
                to,
                Utc::now(),
            )?
        }
        Place::Server(client) => {
            let v = client.get(&format!(
                "/api/v1/regions/{}/stats?{}",
                encode(&args.region),
                query(from, to, alert_type)
            ))?;
            serde_json::from_value(v).context("the server's statistics were not as expected")?
        }
    };
    if args.target.json {
        print_json(&serde_json::to_value(&figures)?);
    } else {
        show(&figures);
    }
    Ok(())
}

fn hm(seconds: u64) -> String {
    format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60)
}

fn show(f: &RegionStats) {
    let s = &f.stats;
    let kyiv = |t: DateTime<Utc>| t.with_timezone(&Kyiv).format("%Y-%m-%d %H:%M").to_string();
    println!(
        "{} / {} ({}), {} to {} (Kyiv time){}",
        f.region.name_uk,
        f.region.name_en,
        f.region.id,
        kyiv(s.from),
        kyiv(s.to),
        f.alert_type
            .map(|t| format!(", {t} only"))
            .unwrap_or_default()
    );
    let rows = vec![
        vec!["alerts on the region".into(), s.count.to_string()],
        vec!["total duration".into(), hm(s.total_seconds)],
        vec!["mean".into(), hm(s.mean_seconds)],
        vec!["median".into(), hm(s.median_seconds)],
        vec![
            "longest".into(),
            match s.longest_started_at {
                Some(t) => format!("{} (from {})", hm(s.longest_seconds), kyiv(t)),
                None => "-".into(),
            },
        ],
        vec![
            "time under alert".into(),
            format!(
                "{} ({:.1}% of the period)",
                hm(s.under_alert_seconds),
                s.share * 100.0
            ),
        ],
        vec!["part of it under alert".into(), hm(s.partial_seconds)],
    ];
    table(&["FIGURE", "VALUE"], &rows);
    println!();
    let months: Vec<Vec<String>> = s
        .by_month
        .iter()
        .map(|m| {
            vec![
                m.month.clone(),
                m.count.to_string(),
                hm(m.seconds),
                hm(m.partial_seconds),
            ]
        })
        .collect();
    table(&["MONTH", "ALERTS", "UNDER ALERT", "PARTIAL"], &months);
    println!();
    let hours: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
    let mut header: Vec<&str> = vec!["STARTS BY HOUR"];
    header.extend(hours.iter().map(String::as_str));
    let mut row = vec!["alerts".to_string()];
    row.extend(s.by_hour.iter().map(u64::to_string));
    table(&header, &[row]);
    println!();
    let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let mut header: Vec<&str> = vec!["STARTS BY WEEKDAY"];
    header.extend(days);
    let mut row = vec!["alerts".to_string()];
    row.extend(s.by_weekday.iter().map(u64::to_string));
    table(&header, &[row]);
}
