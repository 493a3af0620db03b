//! `tryvoga ingest text <FILE|->...`: reads official texts (channel messages, Air Force
//! summaries, news live blogs) into alerts, threats, attack reports and power restrictions.
//!
//! With `--json` stdout is exactly the `{"alerts","threats","reports","power"}` object of
//! `tryvoga_ingest::model` and nothing else, whatever else the command does; without it, a
//! summary for people. With `--server URL --token T` (or `--db PATH`) each report and threat is
//! also recorded as a `report.attack` / `threat.reported` event. The record keys them by their
//! source text, so ingesting the same text twice adds nothing; what was recorded or found
//! already recorded is told on stderr when stdout carries the JSON.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use chrono::Utc;
use clap::{Args, Subcommand};
use tryvoga_core::report::{AttackReport, NamedRegion, Threat, check_report, check_threat};
use tryvoga_core::{Actor, Command, Role};
use tryvoga_ingest::model::Extraction;
use tryvoga_ingest::{Gazetteer, Kind, Options, UnknownKind, read_documents};

use crate::client::Client;
use crate::output::kyiv_time;

#[derive(Subcommand)]
pub enum IngestCommand {
    /// Read texts into alerts, threats, attack reports and power restrictions; optionally
    /// record the reports and threats.
    Text(TextArgs),
}

#[derive(Args)]
pub struct TextArgs {
    /// The text files, or - for standard input. Several files are read together (successive
    /// captures of one live blog give each attack once). A JSON-lines export (one object with a
    /// `text` field per line) is recognised by itself.
    #[arg(required = true)]
    files: Vec<String>,
    /// What the texts are; auto decides from each text.
    #[arg(long, default_value = "auto", value_parser = parse_kind)]
    kind: Kind,
    /// Print the extraction as one JSON object (and nothing else on stdout).
    #[arg(long)]
    json: bool,
    /// Record the reports and threats in this database file (wins over --server).
    #[arg(long)]
    db: Option<PathBuf>,
    #[command(flatten)]
    key: crate::offline::RecordKey,
    /// Record the reports and threats through this running server.
    #[arg(long, env = "TRYVOGA_SERVER")]
    server: Option<String>,
    /// An admin or issuer token for --server.
    #[arg(long, env = "TRYVOGA_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

fn parse_kind(s: &str) -> Result<Kind, UnknownKind> {
    s.parse()
}

pub fn run(cmd: IngestCommand) -> Result<()> {
    match cmd {
        IngestCommand::Text(args) => text(args),
    }
}

fn read_input(name: &str) -> Result<String> {
    let mut bytes = Vec::new();
    if name == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading standard input")?;
    } else {
        bytes = std::fs::read(name).with_context(|| name.to_string())?;
    }
    let shown = if name == "-" { "standard input" } else { name };
    String::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "{shown}: not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

fn text(args: TextArgs) -> Result<()> {
    let texts = args
        .files
        .iter()
        .map(|f| read_input(f))
        .collect::<Result<Vec<_>>>()?;
    let docs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let options = Options {
        reference: Some(Utc::now()),
    };
    let ex = read_documents(&docs, args.kind, Gazetteer::embedded(), &options);
    if args.json {
        emit(&format!("{}\n", serde_json::to_string(&ex)?))?;
    } else {
        emit(&summary(&ex))?;
    }
    let outcomes = match (&args.db, &args.server) {
        (Some(db), _) => record_offline(db, &args.key, &ex)?,
        (None, Some(url)) => {
            let token = args.token.clone().ok_or_else(|| {
                anyhow!("--server needs an admin or issuer token: --token T (or TRYVOGA_TOKEN)")
            })?;
            record_through(&Client::new(url, Some(token)), &ex)?
        }
        (None, None) => return Ok(()),
    };
    let (new, already) =
        outcomes.iter().fold(
            (0, 0),
            |(n, a), o| {
                if o.duplicate { (n, a + 1) } else { (n + 1, a) }
            },
        );
    let lines = outcomes
        .iter()
        .map(|o| {
            format!(
                "{} {} {}: event {}",
                o.kind,
                short(&o.id),
                if o.duplicate {
                    "already recorded"
                } else {
                    "recorded"
                },
                o.seq
            )
        })
        .chain(std::iter::once(format!(
            "recorded {new}, already in the record {already}"
        )));
    for line in lines {
        // stdout carries the JSON object alone when --json is given.
        if args.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
    Ok(())
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// What became of one report or threat sent to the record.
struct Outcome {
    kind: &'static str,
    id: String,
    seq: u64,
    duplicate: bool,
}

fn record_through(client: &Client, ex: &Extraction) -> Result<Vec<Outcome>> {
    let mut out = Vec::new();
    let items = ex
        .reports
        .iter()
        .map(|r| ("report.attack", "/api/v1/reports", serde_json::to_value(r)))
        .chain(ex.threats.iter().map(|t| {
            (
                "threat.reported",
                "/api/v1/threats",
                serde_json::to_value(t),
            )
        }));
    for (i, (kind, path, body)) in items.enumerate() {
        let body = body?;
        let answer = client
            .post(path, &body, None)
            .with_context(|| format!("posting {kind} #{} to {path}", i + 1))?;
        out.push(Outcome {
            kind,
            id: answer["id"].as_str().unwrap_or_default().to_string(),
            seq: answer["seq"].as_u64().unwrap_or(0),
            duplicate: answer["duplicate"].as_bool().unwrap_or(false),
        });
    }
    Ok(out)
}

// The core decides each command; checking them all first (with the core's own checks) records
// nothing when any of them would be refused.
fn report_command(r: &AttackReport) -> Result<Command> {
    check_report(r).map_err(|e| anyhow!("report.{e}"))?;
    Ok(Command::ReportAttack {
        report: Box::new(r.clone()),
    })
}

fn threat_command(t: &Threat) -> Result<Command> {
    check_threat(t).map_err(|e| anyhow!("threat.{e}"))?;
    Ok(Command::ReportThreat { threat: t.clone() })
}

fn record_offline(
    db: &std::path::Path,
    key: &crate::offline::RecordKey,
    ex: &Extraction,
) -> Result<Vec<Outcome>> {
    let commands = ex
        .reports
        .iter()
        .map(|r| report_command(r).map(|c| ("report.attack", c)))
        .chain(
            ex.threats
                .iter()
                .map(|t| threat_command(t).map(|c| ("threat.reported", c))),
        )
        .collect::<Result<Vec<_>>>()?;
    let store =
        crate::offline::open(db, key).with_context(|| format!("opening {}", db.display()))?;
    let actor = Actor {
        name: "cli:ingest".into(),
        role: Role::Admin,
        scope: Vec::new(),
    };
    let rt = crate::runtime()?;
    let mut out = Vec::new();
    for (kind, command) in commands {
        let accepted = rt.block_on(store.command(actor.clone(), command, None))?;
        out.push(Outcome {
            kind,
            id: accepted
                .event
                .body
                .content_key()
                .unwrap_or_default()
                .to_string(),
            seq: accepted.event.seq,
            duplicate: accepted.replayed,
        });
    }
    Ok(out)
}

fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |x| x.to_string())
}

fn when(t: Option<chrono::DateTime<Utc>>) -> String {
    t.map_or_else(|| "?".into(), |t| kyiv_time(&t.to_rfc3339()))
}

/// Writes to stdout; a reader that went away (`| head`) ends the command quietly.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// A value's name as the JSON has it (`cruise_missile`, `start`).
fn word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

fn summary(ex: &Extraction) -> String {
    let mut out = String::new();
    outln!(
        out,
        "{} alerts, {} threats, {} attack reports, {} power restrictions",
        ex.alerts.len(),
        ex.threats.len(),
        ex.reports.len(),
        ex.power.len()
    );
    for (i, r) in ex.reports.iter().enumerate() {
        outln!(
            out,
            "\nreport {}: {} -> {}, {} to {} (Kyiv)",
            i + 1,
            r.attacker,
            r.target,
            when(r.period.start),
            when(r.period.end)
        );
        for w in &r.weapons {
            let class = w.class.map_or("unknown", |c| c.as_str());
            let model = w
                .model
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default();
            outln!(
                out,
                "  {class}{model}: launched {}, destroyed {}, suppressed {}, left airspace {}, hit {}",
                or_dash(w.launched),
                or_dash(w.destroyed),
                or_dash(w.suppressed),
                or_dash(w.left_airspace),
                or_dash(w.hit)
            );
        }
        if !r.regions.is_empty() {
            let names: Vec<String> = r
                .regions
                .iter()
                .map(|g| match g.id {
                    Some(id) => format!("{} ({id})", g.name),
                    None => format!("{} [{}]", g.name, g.country),
                })
                .collect();
            outln!(out, "  regions: {}", names.join(", "));
        }
        if r.casualties.killed.is_some() || r.casualties.injured.is_some() {
            outln!(
                out,
                "  killed {}, injured {}",
                or_dash(r.casualties.killed),
                or_dash(r.casualties.injured)
            );
        }
        for e in &r.evidence {
            outln!(out, "  evidence: {}", e.text.trim());
        }
    }
    if !ex.threats.is_empty() {
        out.push('\n');
    }
    for t in &ex.threats {
        let name =
            |r: &Option<NamedRegion>| r.as_ref().map_or_else(|| "?".into(), |r| r.name.clone());
        outln!(
            out,
            "threat {} {}{} from {} towards {} at {}",
            word(&t.kind),
            word(&t.action),
            t.count.map(|c| format!(" x{c}")).unwrap_or_default(),
            name(&t.from_region),
            name(&t.towards_region),
            when(t.at)
        );
    }
    if !ex.alerts.is_empty() {
        out.push('\n');
    }
    for a in &ex.alerts {
        outln!(
            out,
            "alert {} {} {}{} at {}{}",
            word(&a.action),
            word(&a.alert_type),
            a.region.name,
            a.region.id.map(|id| format!(" ({id})")).unwrap_or_default(),
            a.at.map(|t| kyiv_time(&t.to_rfc3339()))
                .or_else(|| a.time_local.clone())
                .unwrap_or_else(|| "?".into()),
            if a.test { " [test]" } else { "" }
        );
    }
    for p in &ex.power {
        let names: Vec<&str> = p.regions.iter().map(|r| r.name.as_str()).collect();
        outln!(
            out,
            "power {}: {} from {} to {}",
            word(&p.kind),
            names.join(", "),
            when(p.start),
            when(p.end)
        );
    }
    out
}
