//! Fan-out over stateless edges (issue 14): nats-server with JetStream, one `tryvoga serve
//! --nats` relaying its log to the stream, several `tryvoga edge` processes sharing one port
//! (`SO_REUSEPORT`), and subscriber processes spread over loopback source addresses. For each
//! subscriber count it starts everything afresh, connects the subscribers, raises alerts with
//! `POST /api/v1/alerts` one by one and measures, from each command's 201, the time to the last
//! subscriber; the edges' memory per connection; the edges' CPU time per delivery; and that
//! every SSE connection got every event once, its `id:` sequences contiguous. Everything it
//! starts is stopped on success, on failure and when the run exceeds its time bound.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::fanout::{self, Worker};
use crate::procinfo;
use crate::stats::{self, Latency};
use crate::subscribe::Proto;
use crate::targets::{self, StartOptions, Target, free_port, tempdir};
use crate::wire;

#[derive(clap::Args, Debug)]
pub struct EdgesArgs {
    /// Comma-separated subscriber counts, one fresh cluster each.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "19000,40000,70000,100000"
    )]
    subscribers: Vec<usize>,
    /// `tryvoga edge` processes sharing one port.
    #[arg(long, default_value_t = 6)]
    edges: usize,
    /// Alerts raised per subscriber count.
    #[arg(long, default_value_t = 10)]
    events: usize,
    /// Pause between alerts: long enough that each reaches everyone before the next.
    #[arg(long, default_value_t = 2000)]
    interval_ms: u64,
    /// Subscribers per subscriber process (each process may hold ~20,000 open files, and
    /// each source address 127.0.0.x gives ~28,000 ephemeral ports towards one port).
    #[arg(long, default_value_t = 16_000)]
    per_process: usize,
    /// Stop everything and fail if the whole run takes longer than this.
    #[arg(long, default_value_t = 1800)]
    timeout_secs: u64,
    /// The tryvoga binary (default: beside this one).
    #[arg(long)]
    tryvoga: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
pub struct StepResult {
    pub subscribers: usize,
    pub connected: usize,
    pub failed: usize,
    pub edges: usize,
    /// Open descriptors of each edge once subscribed (its subscribers plus a few).
    pub edge_fds: Vec<usize>,
    pub events: usize,
    pub deliveries: usize,
    pub missing_deliveries: usize,
    /// Connections whose `id:` sequence had a gap or a repeat.
    pub broken_connections: u64,
    pub min_events_per_connection: u64,
    pub max_events_per_connection: u64,
    /// Median time of `POST /api/v1/alerts` to its 201 (the durable commit).
    pub ack_ms: f64,
    /// From each command's 201 to each delivery; `mean_last_ms` is the mean over events of
    /// the time from the 201 to the last subscriber, `max_ms` the worst event's.
    #[serde(flatten)]
    pub after_ack: Latency,
    pub edges_rss_before: u64,
    pub edges_rss_after: u64,
    pub bytes_per_connection: i64,
    pub edges_cpu_ms: u64,
    pub cpu_us_per_delivery: f64,
    pub serve_cpu_ms: u64,
    pub nats_cpu_ms: u64,
    pub clients_cpu_ms: u64,
}

/// Every process this run has started and not yet stopped, for the watchdog.
static STARTED: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn started(pid: u32) {
    if let Ok(mut pids) = STARTED.lock() {
        pids.push(pid);
    }
}

fn stopped(pid: u32) {
    if let Ok(mut pids) = STARTED.lock() {
        pids.retain(|&p| p != pid);
    }
}

/// Kills every started process and exits if the run outlives `limit`.
fn watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!(
            "edges: the run took longer than {} s; stopping everything it started",
            limit.as_secs()
        );
        if let Ok(pids) = STARTED.lock() {
            for &pid in pids.iter() {
                // SAFETY: kill(2) on a child of ours, still registered (not yet reaped).
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                }
            }
        }
        std::process::exit(3);
    });
}

/// A child process killed and reaped on drop.
pub(crate) struct Proc(Child);

impl Proc {
    fn new(child: Child) -> Proc {
        started(child.id());
        Proc(child)
    }
    pub(crate) fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        stopped(self.0.id());
    }
}

/// Subscriber processes, killed on drop unless they have already reported and exited.
struct Workers(Vec<Worker>);

impl Drop for Workers {
    fn drop(&mut self) {
        for w in &mut self.0 {
            let _ = w.child.kill();
            let _ = w.child.wait();
            stopped(w.child.id());
        }
    }
}

/// A `tryvoga edge` on `port` (shared with the others), once it says it serves.
pub(crate) fn start_edge(
    tryvoga: &std::path::Path,
    nats: &str,
    port: u16,
    extra: &[&str],
) -> Result<Proc> {
    let mut child = Command::new(tryvoga)
        .args(["edge", "--nats", nats, "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        // The subscribers come from a handful of loopback addresses, thousands each.
        .args(["--max-conns-per-ip", "0"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {} edge", tryvoga.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let edge = Proc::new(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Read to the end, so that the edge never writes into a closed pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .context("the edge did not say it serves within 30 s")?;
        if line.starts_with("edge serving on") {
            return Ok(edge);
        }
    }
}

/// nats-server with JetStream on a free port, its storage under `dir`; and its URL.
pub(crate) fn start_nats(dir: &std::path::Path) -> Result<(Proc, String)> {
    let nats_port = free_port()?;
    let nats = Proc::new(
        Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &nats_port.to_string(),
                "-sd",
            ])
            .arg(dir.join("jetstream"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nats-server (Debian: apt-get install nats-server)")?,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", nats_port)).is_err() {
        if Instant::now() > deadline {
            bail!("nats-server is not listening after 10 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((nats, format!("nats://127.0.0.1:{nats_port}")))
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn run_step(
    args: &EdgesArgs,
    opts: &StartOptions<'_>,
    subscribers: usize,
    bar: &ProgressBar,
) -> Result<StepResult> {
    let dir = tempdir::Dir::new("edges")?;
    bar.set_message(format!("{subscribers}: starting nats-server -js"));
    let (nats, url) = start_nats(&dir.0)?;
    bar.set_message(format!("{subscribers}: starting tryvoga serve --nats"));
    let mut running = targets::start_tryvoga(
        Target::TryvogaSse,
        opts,
        tempdir::Dir::new("edges-serve")?,
        &["--nats", &url],
    )?;
    started(running.pid());
    let serve_pid = running.pid();
    let result = (|| {
        bar.set_message(format!("{subscribers}: starting {} edges", args.edges));
        let port = free_port()?;
        let edges = (0..args.edges)
            .map(|_| start_edge(opts.tryvoga, &url, port, &[]))
            .collect::<Result<Vec<Proc>>>()?;
        running.subscribe = (
            SocketAddr::from(([127, 0, 0, 1], port)),
            Proto::Sse,
            "/api/v1/stream".into(),
        );
        std::thread::sleep(Duration::from_millis(500));
        let rss = |edges: &[Proc]| -> Result<u64> {
            edges
                .iter()
                .map(|e| procinfo::settled_rss(e.pid()).context("an edge's RSS"))
                .sum()
        };
        let rss_before = rss(&edges)?;
        let procs = subscribers.div_ceil(args.per_process.max(1));
        if procs > 250 {
            bail!("{procs} subscriber processes: more than the source addresses 127.0.0.2-251");
        }
        let per = subscribers.div_ceil(procs);
        bar.set_message(format!(
            "{subscribers}: connecting subscribers from {procs} processes"
        ));
        let mut workers = Workers(Vec::new());
        let mut remaining = subscribers;
        for i in 0..procs {
            let n = per.min(remaining);
            remaining -= n;
            let w = fanout::spawn_worker_with(opts.me, &running, n, 2 + i as u8, &["--check-seq"])?;
            started(w.child.id());
            workers.0.push(w);
        }
        let (mut ok, mut failed) = (0usize, 0usize);
        for w in &workers.0 {
            let line = w
                .lines
                .recv_timeout(Duration::from_secs(600))
                .context("a subscriber process did not get ready in 10 minutes")?;
            let mut parts = line.split_whitespace().skip(1);
            ok += parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            failed += parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        }
        if ok == 0 {
            bail!("no subscriber connected");
        }
        let edge_fds: Vec<usize> = edges.iter().map(|e| open_fds(e.pid())).collect();
        let rss_after = rss(&edges)?;
        let cpu =
            |pids: &[u32]| -> Duration { pids.iter().filter_map(|&p| procinfo::cpu_time(p)).sum() };
        let edge_pids: Vec<u32> = edges.iter().map(Proc::pid).collect();
        let client_pids: Vec<u32> = workers.0.iter().map(|w| w.child.id()).collect();
        let before = (
            cpu(&edge_pids),
            cpu(&[serve_pid]),
            cpu(&[nats.pid()]),
            cpu(&client_pids),
        );
        let mut sent = Vec::new();
        let mut acks = Vec::new();
        for i in 0..args.events {
            bar.set_message(format!(
                "{subscribers}: {ok} subscribed; alert {} of {}",
                i + 1,
                args.events
            ));
            let t = wire::now_ns();
            running.publish(&wire::marker(t), 0)?;
            acks.push(wire::now_ns());
            sent.push(t);
            std::thread::sleep(Duration::from_millis(args.interval_ms));
        }
        std::thread::sleep(Duration::from_millis(args.interval_ms.max(2000)));
        let after = (
            cpu(&edge_pids),
            cpu(&[serve_pid]),
            cpu(&[nats.pid()]),
            cpu(&client_pids),
        );
        bar.set_message(format!(
            "{subscribers}: collecting the subscribers' reports"
        ));
        // Each event's deliveries as microseconds after its 201.
        let index: HashMap<u64, usize> = sent.iter().enumerate().map(|(i, &t)| (t, i)).collect();
        let mut per_event: Vec<Vec<u64>> = vec![Vec::new(); sent.len()];
        let (mut broken, mut min_count, mut max_count) = (0u64, u64::MAX, 0u64);
        for w in &mut workers.0 {
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
                if let Some(&i) = index.get(&t) {
                    let received = t + lat * 1000;
                    per_event[i].push(received.saturating_sub(acks[i]) / 1000);
                }
            }
            let seq = &report["seq"];
            broken += seq["broken_connections"].as_u64().unwrap_or(0);
            min_count = min_count.min(seq["min_count"].as_u64().unwrap_or(0));
            max_count = max_count.max(seq["max_count"].as_u64().unwrap_or(0));
            let _ = w.child.wait();
        }
        let after_ack = stats::summarise(&per_event);
        let deliveries = after_ack.deliveries;
        let edges_cpu = after.0.saturating_sub(before.0);
        let ack_ms = {
            let mut a: Vec<u64> = acks.iter().zip(&sent).map(|(a, t)| a - t).collect();
            a.sort_unstable();
            a.get(a.len() / 2).copied().unwrap_or(0) as f64 / 1e6
        };
        drop(workers);
        drop(edges);
        Ok(StepResult {
            subscribers,
            connected: ok,
            failed,
            edges: args.edges,
            edge_fds,
            events: args.events,
            deliveries,
            missing_deliveries: (ok * args.events).saturating_sub(deliveries),
            broken_connections: broken,
            min_events_per_connection: if min_count == u64::MAX { 0 } else { min_count },
            max_events_per_connection: max_count,
            ack_ms,
            after_ack,
            edges_rss_before: rss_before,
            edges_rss_after: rss_after,
            bytes_per_connection: (rss_after as i64 - rss_before as i64) / ok as i64,
            edges_cpu_ms: edges_cpu.as_millis() as u64,
            cpu_us_per_delivery: edges_cpu.as_secs_f64() * 1e6 / deliveries.max(1) as f64,
            serve_cpu_ms: after.1.saturating_sub(before.1).as_millis() as u64,
            nats_cpu_ms: after.2.saturating_sub(before.2).as_millis() as u64,
            clients_cpu_ms: after.3.saturating_sub(before.3).as_millis() as u64,
        })
    })();
    stopped(serve_pid);
    drop(running);
    drop(nats);
    result
}

fn lost(r: &StepResult) -> bool {
    r.failed > 0
        || r.missing_deliveries > 0
        || r.broken_connections > 0
        || r.min_events_per_connection != r.events as u64
        || r.max_events_per_connection != r.events as u64
}

pub fn run(args: EdgesArgs) -> Result<()> {
    let me = std::env::current_exe()?;
    let tryvoga = args
        .tryvoga
        .clone()
        .unwrap_or_else(|| me.with_file_name("tryvoga"));
    let opts = StartOptions {
        tryvoga: &tryvoga,
        me: &me,
    };
    watchdog(Duration::from_secs(args.timeout_secs));
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(args.subscribers.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    } else {
        ProgressBar::hidden()
    };
    let started_at = Instant::now();
    let mut results = Vec::new();
    for &n in &args.subscribers {
        let r = run_step(&args, &opts, n, &bar).with_context(|| format!("{n} subscribers"))?;
        bar.inc(1);
        results.push(r);
    }
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!(
            "{} edges on one port, {} alerts each, {} ms apart; {:.0} s in all",
            args.edges,
            args.events,
            args.interval_ms,
            started_at.elapsed().as_secs_f64()
        );
        println!(
            "{:>7} {:>6} {:>7} {:>8} {:>8} {:>8} {:>10} {:>8} {:>7} {:>9} {:>8} {:>8} {:>8}",
            "subs",
            "lost",
            "ack ms",
            "p50 ms",
            "p99 ms",
            "last ms",
            "worst ms",
            "B/conn",
            "edge MB",
            "edge cpu",
            "us/dlv",
            "serve ms",
            "clients"
        );
        for r in &results {
            println!(
                "{:>7} {:>6} {:>7.2} {:>8.1} {:>8.1} {:>8.1} {:>10.1} {:>8} {:>7} {:>9} {:>8.2} {:>8} {:>8}",
                r.connected,
                r.missing_deliveries as u64 + r.broken_connections,
                r.ack_ms,
                r.after_ack.p50_ms,
                r.after_ack.p99_ms,
                r.after_ack.mean_last_ms,
                r.after_ack.max_ms,
                r.bytes_per_connection,
                r.edges_rss_after / (1 << 20),
                r.edges_cpu_ms,
                r.cpu_us_per_delivery,
                r.serve_cpu_ms,
                r.clients_cpu_ms
            );
        }
        for r in &results {
            println!(
                "{} subscribers: per edge {:?} descriptors; events per connection {}..{}; \
                 {} connections with a gap or repeat",
                r.subscribers,
                r.edge_fds,
                r.min_events_per_connection,
                r.max_events_per_connection,
                r.broken_connections
            );
        }
    }
    let bad: Vec<usize> = results
        .iter()
        .filter(|r| lost(r))
        .map(|r| r.subscribers)
        .collect();
    if !bad.is_empty() {
        bail!("not every subscriber connected and got every event once, in order: {bad:?}");
    }
    Ok(())
}
