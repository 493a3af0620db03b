//! `tryvoga-bench commands --postgres`: durable commands on each backend in one run, so that
//! the figures share a machine and a moment. In order: the disk's raw fsync rate (one-page
//! write + fdatasync in the temporary directory every database here lives in), a release
//! `tryvoga serve` on a fresh SQLite file, one node on a fresh PostgreSQL database, and two
//! nodes on another fresh database of the same cluster with the clients split between them;
//! then the fsync probe again, since a shared disk's rate drifts. PostgreSQL is a
//! `ScratchCluster` (initdb into a temporary directory, default settings: `fsync` and
//! `synchronous_commit` on, no standby). Every count is a 2xx, sent only after the commit.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tryvoga_store::postgres::scratch::ScratchCluster;

use crate::commands::{
    CommandsArgs, Drive, Server, drive, fsync_rate, percentile_ms, tryvoga_path,
};
use crate::wire;

/// One line of the table.
#[derive(Debug, Serialize)]
struct Row {
    setup: String,
    commands: u64,
    commands_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU of the tryvoga node(s) per acknowledged command.
    tryvoga_cpu_us_per_command: f64,
    /// CPU of every PostgreSQL process per acknowledged command (0 for SQLite).
    postgres_cpu_us_per_command: f64,
    /// commands/s over the raw fsyncs/s.
    per_raw_fsync: f64,
    log_seq: u64,
}

/// The keys directory the PostgreSQL nodes share, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A bar for one phase on a terminal; nothing when stderr is not one.
fn bar(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(1000);
    let style = ProgressStyle::with_template("{msg:>24} [{bar:40}] {elapsed}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

fn row(setup: &str, d: &Drive, seconds: f64, fsyncs: f64) -> Row {
    let per_command =
        |cpu: Option<&Duration>| cpu.map_or(0.0, |c| c.as_micros() as f64 / d.ok.max(1) as f64);
    let rate = d.ok as f64 / seconds;
    Row {
        setup: setup.to_string(),
        commands: d.ok,
        commands_per_sec: rate,
        p50_ms: percentile_ms(&d.latencies_us, 0.5),
        p99_ms: percentile_ms(&d.latencies_us, 0.99),
        tryvoga_cpu_us_per_command: per_command(d.cpu.first()),
        postgres_cpu_us_per_command: per_command(d.cpu.get(1)),
        per_raw_fsync: rate / fsyncs.max(1e-9),
        log_seq: d.log_seq,
    }
}

/// Runs the clients against `servers` (all on one record) with a bar of its own.
fn measure(
    what: &str,
    servers: &[&Server],
    args: &CommandsArgs,
    postgres: Option<&ScratchCluster>,
) -> Result<Drive> {
    let token = servers
        .iter()
        .map(|s| s.token.clone())
        .find(|t| !t.is_empty())
        .context("no node printed an admin token")?;
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    let nodes: Vec<u32> = servers.iter().map(|s| s.pid()).collect();
    let tryvoga = move || nodes.clone();
    let pg = || postgres.map(ScratchCluster::processes).unwrap_or_default();
    let progress = bar(what);
    let d = drive(
        &ports,
        &token,
        args.clients,
        Duration::from_secs(args.seconds.max(1)),
        &[&tryvoga, &pg],
        &|done| progress.set_position((done * 1000.0) as u64),
    )
    .with_context(|| what.to_string())?;
    progress.finish_and_clear();
    if d.refused > 0 {
        bail!(
            "{what}: {} commands were refused (expected none)",
            d.refused
        );
    }
    if d.ok == 0 {
        bail!("{what}: no command was acknowledged");
    }
    Ok(d)
}

pub fn run(args: &CommandsArgs) -> Result<()> {
    let exe = tryvoga_path(args.tryvoga.clone())?;
    let seconds = args.seconds.max(1) as f64;
    let scratch = Scratch(std::env::temp_dir().join(format!(
        "tryvoga-bench-pg-{}-{}",
        std::process::id(),
        wire::now_ns()
    )));
    std::fs::create_dir_all(&scratch.0)?;

    let probe = bar("raw fsync");
    let (fsync_before, fsync_p50_before) = fsync_rate(&scratch.0, args.fsync_seconds)?;
    probe.finish_and_clear();

    let sqlite = {
        let server = Server::start(&exe, "pg-sqlite", &[])?;
        measure("SQLite, one node", &[&server], args, None)?
    };

    let cluster = ScratchCluster::start()
        .context("PostgreSQL for the benchmark (apt-get install postgresql-15)")?;
    let one = {
        let url = cluster.database("bench_one")?;
        let key = scratch.0.join("one.ed25519");
        let key = key.to_str().context("utf-8 temp path")?;
        let node = Server::start_on(&exe, "pg-one", Some(&url), &["--signing-key", key])?;
        measure("PostgreSQL, one node", &[&node], args, Some(&cluster))?
    };
    let two = {
        let url = cluster.database("bench_two")?;
        let key = scratch.0.join("two.ed25519");
        let key = key.to_str().context("utf-8 temp path")?;
        let a = Server::start_on(&exe, "pg-two-a", Some(&url), &["--signing-key", key])?;
        let b = Server::start_on(&exe, "pg-two-b", Some(&url), &["--signing-key", key])?;
        measure("PostgreSQL, two nodes", &[&a, &b], args, Some(&cluster))?
    };
    drop(cluster);

    let probe = bar("raw fsync again");
    let (fsync_after, fsync_p50_after) = fsync_rate(&scratch.0, args.fsync_seconds)?;
    probe.finish_and_clear();
    let fsyncs = (fsync_before + fsync_after) / 2.0;

    let rows = vec![
        row("SQLite, one node", &sqlite, seconds, fsyncs),
        row("PostgreSQL, one node", &one, seconds, fsyncs),
        row("PostgreSQL, two nodes", &two, seconds, fsyncs),
    ];
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "clients": args.clients,
                "seconds": seconds,
                "fsync_per_sec": [fsync_before, fsync_after],
                "fsync_p50_ms": [fsync_p50_before, fsync_p50_after],
                "results": rows,
            }))?
        );
        return Ok(());
    }
    println!(
        "durable commands, {} clients, {seconds:.0} s counted per setup after 1 s of warm-up",
        args.clients
    );
    println!(
        "{:<24} {:>11} {:>8} {:>8} {:>13} {:>14} {:>12}",
        "setup", "commands/s", "p50 ms", "p99 ms", "tryvoga us/c", "postgres us/c", "x raw fsync"
    );
    println!(
        "{:<24} {:>11.0} {:>8.2} {:>8} {:>13} {:>14} {:>12.2}",
        "raw fsync (4 KiB)",
        fsyncs,
        (fsync_p50_before + fsync_p50_after) / 2.0,
        "-",
        "-",
        "-",
        1.0
    );
    for r in &rows {
        println!(
            "{:<24} {:>11.0} {:>8.2} {:>8.2} {:>13.1} {:>14.1} {:>12.2}",
            r.setup,
            r.commands_per_sec,
            r.p50_ms,
            r.p99_ms,
            r.tryvoga_cpu_us_per_command,
            r.postgres_cpu_us_per_command,
            r.per_raw_fsync
        );
    }
    println!(
        "raw fsync/s before {fsync_before:.0} (p50 {fsync_p50_before:.2} ms), after \
         {fsync_after:.0} (p50 {fsync_p50_after:.2} ms); logs at seq {}, {}, {}",
        rows[0].log_seq, rows[1].log_seq, rows[2].log_seq
    );
    Ok(())
}
