//! `tryvoga verify FILE`: checks, offline, that what a stream or a feed delivered was signed
//! by the server's key: a saved SSE stream, WebSocket messages or any JSON lines of events
//! (one per line, or the `/api/v1/events` answer), a CAP message, or the CAP Atom feed.
//! Exit 0 when every event or message verifies, 1 when any does not.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use serde_json::Value;
use tryvoga_outputs::signing::{self, Trusted};

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The file to check (`-` for standard input).
    file: PathBuf,
    /// The trusted public key: the `/.well-known/tryvoga-key` document, a PEM public key or
    /// base64 of the 32 key bytes.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Take the public key of the record at this database (its `<db>.ed25519`).
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Fetch the public key from this server's `/.well-known/tryvoga-key` (not offline).
    #[arg(long, env = "TRYVOGA_SERVER")]
    server: Option<String>,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
}

pub fn run(args: VerifyArgs) -> Result<()> {
    let trusted = trusted(&args)?;
    let text = if args.file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("reading {}", args.file.display()))?
    };
    let (kind, checked, failures) = if text.trim_start().starts_with('<') {
        check_xml(&text, &trusted)
    } else {
        check_json(&text, &trusted)
    };
    if args.json {
        println!(
            "{}",
            serde_json::json!({"kind": kind, "verified": checked - failures.len(), "failed": failures})
        );
    }
    for f in &failures {
        eprintln!("{f}");
    }
    if checked == 0 {
        bail!("{}: found nothing to verify", args.file.display());
    }
    if !failures.is_empty() {
        bail!("{} of {checked} {kind} failed verification", failures.len());
    }
    if !args.json {
        println!("verified {checked} {kind}");
    }
    Ok(())
}

fn trusted(args: &VerifyArgs) -> Result<Trusted> {
    if let Some(path) = &args.key {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return Trusted::parse(&text).map_err(|e| anyhow!("{}: {e}", path.display()));
    }
    if let Some(db) = &args.db {
        let path = signing::key_path(db);
        if !path.exists() {
            bail!(
                "{} does not exist: no key for that database",
                path.display()
            );
        }
        let key = signing::EventKey::load_or_create(&path).map_err(|e| anyhow!(e))?;
        return Ok(Trusted::new([key.verifying_key()]));
    }
    if let Some(server) = &args.server {
        let url = format!("{}/.well-known/tryvoga-key", server.trim_end_matches('/'));
        let text = ureq::get(&url)
            .call()
            .with_context(|| format!("fetching {url}"))?
            .into_string()?;
        return Trusted::parse(&text).map_err(|e| anyhow!("{url}: {e}"));
    }
    bail!("say which key to trust: --key FILE, --db PATH or --server URL")
}

/// Events in JSON: SSE `data:` lines, JSON lines, or `{"events":[...]}`. Objects without a
/// `seq` (heartbeats, hello, drop notices) are not events and are skipped.
fn check_json(text: &str, trusted: &Trusted) -> (&'static str, usize, Vec<String>) {
    let mut checked = 0;
    let mut failures = Vec::new();
    let check = |v: &Value, line: usize, checked: &mut usize, failures: &mut Vec<String>| {
        if v.get("seq").is_none() || v.get("kind").is_none() {
            return;
        }
        *checked += 1;
        if let Err(e) = signing::verify_event(v, trusted) {
            let seq = v.get("seq").map(Value::to_string).unwrap_or_default();
            failures.push(format!("line {line}: event {seq}: {e}"));
        }
    };
    let whole = serde_json::from_str::<Value>(text).ok();
    if let Some(Value::Object(obj)) = &whole
        && let Some(Value::Array(events)) = obj.get("events")
    {
        for e in events {
            check(e, 1, &mut checked, &mut failures);
        }
        return ("events", checked, failures);
    }
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        let json = match line.strip_prefix("data:") {
            Some(rest) => rest.trim_start(),
            None if line.trim_start().starts_with('{') => line.trim(),
            // SSE `id:`, `event:`, `retry:`, comments and blank lines.
            None => continue,
        };
        match serde_json::from_str::<Value>(json) {
            Ok(v) => check(&v, i + 1, &mut checked, &mut failures),
            Err(e) => failures.push(format!("line {}: not JSON: {e}", i + 1)),
        }
    }
    ("events", checked, failures)
}

/// A CAP message, or each CAP message embedded in an Atom feed.
fn check_xml(text: &str, trusted: &Trusted) -> (&'static str, usize, Vec<String>) {
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<alert") {
        let Some(len) = rest[start..].find("</alert>") else {
            failures.push("an <alert> element is not closed".into());
            checked += 1;
            break;
        };
        let end = start + len + "</alert>".len();
        let alert = &rest[start..end];
        checked += 1;
        let identifier = alert
            .split_once("<identifier>")
            .and_then(|(_, r)| r.split_once("</identifier>"))
            .map_or("?", |(id, _)| id);
        if let Err(e) = signing::verify_cap(alert, trusted) {
            failures.push(format!("CAP message {identifier}: {e}"));
        }
        rest = &rest[end..];
    }
    ("CAP messages", checked, failures)
}
