//! The fan-out benchmark: for each target, N idle subscribers spread over several processes
//! and source addresses, then time-stamped messages; per-delivery latency, the time to reach
//! the last subscriber, server memory per connection and server CPU.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::procinfo;
use crate::stats::{self, Latency};
use crate::targets::{self, StartOptions, Target};
use crate::wire;

#[derive(clap::Args, Debug)]
pub struct FanoutArgs {
    /// Subscribers per target.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Comma-separated: tryvoga-sse, tryvoga-ws, nats, mosquitto, raw.
    #[arg(long, default_value = "tryvoga-sse,nats,raw")]
    targets: String,
    /// Messages published per target.
    #[arg(long, default_value_t = 10)]
    events: usize,
    /// Pause between messages: long enough that each is delivered before the next.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// Payload size for the peers, matching a tryvoga event.
    #[arg(long, default_value_t = 480)]
    size: usize,
    /// Subscriber processes (each stays under the per-process file limit).
    #[arg(long)]
    procs: Option<usize>,
    /// The tryvoga binary (default: beside this one).
    #[arg(long)]
    tryvoga: Option<PathBuf>,
    /// Run every target this many times, in turn (target 1, 2, ..., then again): the machine
    /// is shared, and a burst of other work lands on whichever target is running. The table
    /// then shows each target's run with the median last delivery (of an even number, the
    /// faster of the middle two), and the ratios between those runs.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
pub struct TargetResult {
    pub target: &'static str,
    pub version: String,
    pub subscribers: usize,
    pub failed: usize,
    pub events: usize,
    pub missing_deliveries: usize,
    #[serde(flatten)]
    pub latency: Latency,
    pub bytes_per_connection: i64,
    pub server_rss_before: u64,
    pub server_rss_after: u64,
    pub server_cpu_ms: u64,
    /// CPU time of the subscriber processes over the same span: they share the cores with
    /// the server, so the time to the last delivery is roughly (server + clients) / cores.
    pub clients_cpu_ms: u64,
    /// Median time until the publisher's call returned: for tryvoga, the durable commit and
    /// its 201; for the peers, only the write of the message.
    pub publish_ack_ms: f64,
}

/// A subscriber process of the harness (`tryvoga-bench subscribe`) and its pipes.
pub(crate) struct Worker {
    pub child: Child,
    pub stdin: ChildStdin,
    pub lines: mpsc::Receiver<String>,
}

pub(crate) fn spawn_worker(
    me: &std::path::Path,
    running: &targets::Running,
    count: usize,
    source: u8,
) -> Result<Worker> {
    spawn_worker_with(me, running, count, source, &[])
}

/// [`spawn_worker`] with more arguments for `tryvoga-bench subscribe` (e.g. `--check-seq`).
pub(crate) fn spawn_worker_with(
    me: &std::path::Path,
    running: &targets::Running,
    count: usize,
    source: u8,
    extra: &[&str],
) -> Result<Worker> {
    let (addr, proto, path) = &running.subscribe;
    let proto = clap::ValueEnum::to_possible_value(proto)
        .map(|v| v.get_name().to_string())
        .context("protocol name")?;
    let mut child = Command::new(me)
        .args([
            "subscribe",
            "--proto",
            &proto,
            "--addr",
            &addr.to_string(),
            "--path",
            path,
        ])
        .args([
            "--count",
            &count.to_string(),
            "--source",
            &source.to_string(),
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdin = child.stdin.take().context("stdin")?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok(Worker {
        child,
        stdin,
        lines,
    })
}

pub fn run_target(
    args: &FanoutArgs,
    target: Target,
    opts: &StartOptions<'_>,
) -> Result<TargetResult> {
    let mut running = targets::start(target, opts)?;
    let pid = running.pid();
    std::thread::sleep(Duration::from_millis(300));
    let rss_before = procinfo::settled_rss(pid).context("server RSS")?;
    let procs = args
        .procs
        .unwrap_or_else(|| args.subscribers.div_ceil(5000))
        .clamp(1, 200);
    let per = args.subscribers.div_ceil(procs);
    let mut workers = Vec::new();
    let mut remaining = args.subscribers;
    for i in 0..procs {
        let n = per.min(remaining);
        if n == 0 {
            break;
        }
        remaining -= n;
        workers.push(spawn_worker(opts.me, &running, n, 2 + i as u8)?);
    }
    let (mut ok, mut failed) = (0usize, 0usize);
    for w in &workers {
        let line = w
            .lines
            .recv_timeout(Duration::from_secs(600))
            .context("a subscriber process did not get ready in 10 minutes")?;
        let mut parts = line.split_whitespace().skip(1);
        ok += parts
            .next()
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(0);
        failed += parts
            .next()
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(0);
    }
    if ok == 0 {
        bail!("{}: no subscriber connected", target.name());
    }
    let rss_after = procinfo::settled_rss(pid).context("server RSS")?;
    let cpu_before = procinfo::cpu_time(pid).unwrap_or_default();
    let clients_cpu = || -> Duration {
        workers
            .iter()
            .filter_map(|w| procinfo::cpu_time(w.child.id()))
            .sum()
    };
    let clients_before = clients_cpu();
    let mut sent = Vec::new();
    let mut acks = Vec::new();
    for _ in 0..args.events {
        let t = wire::now_ns();
        running.publish(&wire::marker(t), args.size)?;
        acks.push(wire::now_ns().saturating_sub(t) / 1000);
        sent.push(t);
        std::thread::sleep(Duration::from_millis(args.interval_ms));
    }
    // Give the last message time to reach everyone.
    std::thread::sleep(Duration::from_millis(1500));
    let cpu_after = procinfo::cpu_time(pid).unwrap_or_default();
    let clients_after = clients_cpu();
    let mut per_event: HashMap<u64, Vec<u64>> = sent.iter().map(|&t| (t, Vec::new())).collect();
    for mut w in workers {
        writeln!(w.stdin, "stop")?;
        let line = w
            .lines
            .recv_timeout(Duration::from_secs(120))
            .context("a subscriber process did not report")?;
        let report: serde_json::Value = serde_json::from_str(&line)?;
        for pair in report["latencies"].as_array().into_iter().flatten() {
            let (Some(t), Some(lat)) = (pair[0].as_u64(), pair[1].as_u64()) else {
                continue;
            };
            if let Some(v) = per_event.get_mut(&t) {
                v.push(lat);
            }
        }
        let _ = w.child.wait();
    }
    let per_event: Vec<Vec<u64>> = sent.iter().filter_map(|t| per_event.remove(t)).collect();
    let delivered: usize = per_event.iter().map(Vec::len).sum();
    Ok(TargetResult {
        target: target.name(),
        version: running.version.clone(),
        subscribers: ok,
        failed,
        events: args.events,
        missing_deliveries: (ok * args.events).saturating_sub(delivered),
        latency: stats::summarise(&per_event),
        bytes_per_connection: (rss_after as i64 - rss_before as i64) / ok as i64,
        server_rss_before: rss_before,
        server_rss_after: rss_after,
        server_cpu_ms: cpu_after.saturating_sub(cpu_before).as_millis() as u64,
        clients_cpu_ms: clients_after.saturating_sub(clients_before).as_millis() as u64,
        publish_ack_ms: {
            acks.sort_unstable();
            acks.get(acks.len() / 2).copied().unwrap_or(0) as f64 / 1000.0
        },
    })
}

pub fn run(args: FanoutArgs) -> Result<()> {
    let me = std::env::current_exe()?;
    let tryvoga = args
        .tryvoga
        .clone()
        .unwrap_or_else(|| me.with_file_name("tryvoga"));
    let targets: Vec<Target> = args
        .targets
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(str::parse)
        .collect::<Result<_>>()?;
    let opts = StartOptions {
        tryvoga: &tryvoga,
        me: &me,
    };
    let tty = std::io::stderr().is_terminal();
    let rounds = args.rounds;
    let mut runs: Vec<Vec<TargetResult>> = (0..targets.len()).map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (i, &t) in targets.iter().enumerate() {
            if tty {
                eprintln!(
                    "{}: {} subscribers (round {} of {rounds}) ...",
                    t.name(),
                    args.subscribers,
                    round + 1
                );
            }
            let r = run_target(&args, t, &opts).with_context(|| t.name())?;
            runs[i].push(r);
        }
    }
    // Every round counts here, not only the median one shown: a lost message in any run is
    // a finding (a peer's) or a failure (ours).
    let mut ours_incomplete = Vec::new();
    for (round, r) in runs.iter().flat_map(|rs| rs.iter().enumerate()) {
        if r.failed > 0 || r.missing_deliveries > 0 {
            eprintln!(
                "note: {} (round {}): {} subscribers failed to connect, {} deliveries missing",
                r.target,
                round + 1,
                r.failed,
                r.missing_deliveries
            );
            if is_ours(r) {
                ours_incomplete.push(format!("{} (round {})", r.target, round + 1));
            }
        }
    }
    let per_round = per_round_ratios(&runs);
    let results: Vec<TargetResult> = runs.into_iter().filter_map(median_run).collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "rounds": rounds,
                "results": results,
                "last_delivery_ratios_per_round": per_round,
            }))?
        );
    } else {
        if rounds > 1 {
            println!("each target's median run of {rounds}; ratios between those runs:");
        }
        print_table(&results);
        if rounds > 1 {
            println!("last delivery per round, ours / peer:");
            for (pair, ratios) in &per_round {
                let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
                println!("  {pair}: {}", shown.join(" "));
            }
        }
    }
    if !ours_incomplete.is_empty() {
        bail!("not every tryvoga subscriber connected or got every message: {ours_incomplete:?}");
    }
    Ok(())
}

/// A target's run with the median time to the last delivery; of an even number of runs, the
/// faster of the middle two.
fn median_run(mut runs: Vec<TargetResult>) -> Option<TargetResult> {
    runs.sort_by(|a, b| a.latency.mean_last_ms.total_cmp(&b.latency.mean_last_ms));
    let middle = runs.len().checked_sub(1)? / 2;
    Some(runs.swap_remove(middle))
}

/// For each of ours against each peer, the last-delivery ratio of every round.
fn per_round_ratios(runs: &[Vec<TargetResult>]) -> Vec<(String, Vec<f64>)> {
    let firsts = || runs.iter().filter_map(|r| Some((r.first()?, r)));
    let mut out = Vec::new();
    for (our, our_runs) in firsts().filter(|(first, _)| is_ours(first)) {
        for (peer, peer_runs) in firsts().filter(|(first, _)| !is_ours(first)) {
            let ratios = our_runs
                .iter()
                .zip(peer_runs)
                .map(|(o, p)| o.latency.mean_last_ms / p.latency.mean_last_ms.max(1e-9))
                .collect();
            out.push((format!("{} / {}", our.target, peer.target), ratios));
        }
    }
    out
}

fn is_ours(r: &TargetResult) -> bool {
    r.target.starts_with("tryvoga")
}

fn print_table(results: &[TargetResult]) {
    println!(
        "{:<12} {:>7} {:>8} {:>8} {:>8} {:>10} {:>9} {:>8} {:>11} {:>8}",
        "target",
        "subs",
        "p50 ms",
        "p99 ms",
        "max ms",
        "last ms",
        "B/conn",
        "cpu ms",
        "clients cpu",
        "ack ms"
    );
    for r in results {
        println!(
            "{:<12} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>10.2} {:>9} {:>8} {:>11} {:>8.2}",
            r.target,
            r.subscribers,
            r.latency.p50_ms,
            r.latency.p99_ms,
            r.latency.max_ms,
            r.latency.mean_last_ms,
            r.bytes_per_connection,
            r.server_cpu_ms,
            r.clients_cpu_ms,
            r.publish_ack_ms
        );
    }
    let by = |name: &str| results.iter().find(|r| r.target == name);
    for ours in results.iter().filter(|r| is_ours(r)) {
        for peer in ["nats", "mosquitto", "raw"] {
            if let Some(p) = by(peer) {
                println!(
                    "{} / {}: last delivery {:.2}x, p99 {:.2}x",
                    ours.target,
                    peer,
                    ours.latency.mean_last_ms / p.latency.mean_last_ms.max(1e-9),
                    ours.latency.p99_ms / p.latency.p99_ms.max(1e-9)
                );
            }
        }
    }
}
