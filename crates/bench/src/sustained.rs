//! Sustained fan-out: N idle subscribers (the fan-out harness's subscriber processes) held
//! while events are published at a steady rate for a bounded time; server memory sampled every
//! second, delivery latency per second; flat or not is the first third against the last.
//!
//! Longer than most files, on purpose: the publisher, the per-second sampling and the report
//! of one run are read as one procedure, and the peers (nats, mosquitto, the raw loop) are run
//! through the same code so that their figures are comparable.
//!
//! The publisher is the real thing: durable `POST /api/v1/alerts` commands on a few keep-alive
//! connections, alternating starts and ends across regions and types (no 409s, the active set
//! stays small). Once a second the start carries a time-stamped marker in its note and is never
//! ended: every subscriber records its delivery (the p50/p99/max of all N per second). Every
//! event, marked or not, is also timed by a few probe SSE connections that match `id:` to the
//! sequence number the publisher was answered with.
//!
//! A peer (`--target nats`, `mosquitto`, `raw`) gets the same subscribers and rate from the
//! harness's own publisher, one marked message a second and filler of the same size between.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::commands::{
    Conn, TYPES, get_request, json_u64, percentile_ms, post_request, region_ids,
};
use crate::fanout;
use crate::procinfo;
use crate::targets::{self, StartOptions, Target};
use crate::wire;

#[derive(clap::Args, Debug)]
pub struct SustainedArgs {
    /// Subscribers held for the whole run.
    #[arg(long, default_value_t = 19_000)]
    subscribers: usize,
    /// Events published per second.
    #[arg(long, default_value_t = 100)]
    rate: u64,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// tryvoga-sse, tryvoga-ws, or a peer: nats, mosquitto, raw.
    #[arg(long, default_value = "tryvoga-sse")]
    target: Target,
    /// Probe SSE connections that time every event.
    #[arg(long, default_value_t = 8)]
    probes: usize,
    /// Publisher connections (each one command in flight): enough that the rate holds while
    /// each command waits for its group commit.
    #[arg(long, default_value_t = 16)]
    publishers: usize,
    /// Subscriber processes (default: one per 5,000, under the per-process file limit).
    #[arg(long)]
    procs: Option<usize>,
    /// The tryvoga binary (default: beside this one).
    #[arg(long)]
    tryvoga: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize, Default, Clone)]
pub struct Second {
    pub second: u64,
    pub published: u64,
    pub rss_mb: f64,
    /// The marked event of this second, over every subscriber.
    pub deliveries: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Every event published this second, over the probe connections.
    pub probe_p50_ms: f64,
    pub probe_p99_ms: f64,
    pub probe_max_ms: f64,
    pub publish_p99_ms: f64,
}

#[derive(Debug, Serialize, Default)]
pub struct Third {
    pub rss_mb: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub probe_p99_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct SustainedReport {
    pub target: &'static str,
    pub version: String,
    pub subscribers: usize,
    pub failed: usize,
    pub rate: u64,
    pub seconds: u64,
    /// Acknowledged within the run's seconds (the target is rate × seconds).
    pub published: u64,
    /// At least 95% of rate × seconds was published.
    pub rate_held: bool,
    pub publish_errors: u64,
    pub marked: usize,
    pub missing_deliveries: usize,
    pub dropped_by_server: u64,
    pub rss_idle_mb: f64,
    pub rss_connected_mb: f64,
    pub server_cpu_percent: f64,
    pub first_third: Third,
    pub last_third: Third,
    pub memory_flat: bool,
    pub latency_flat: bool,
    pub per_second: Vec<Second>,
}

type Key = (u32, &'static str);

#[derive(Default)]
struct PubState {
    free: VecDeque<Key>,
    open: VecDeque<(u64, Key)>,
    marked_keys: Vec<Key>,
    /// (send time ns, seq, acknowledged after µs)
    sent: Vec<(u64, u64, u64)>,
    marked_sent: Vec<u64>,
    errors: u64,
}

enum Action {
    Marked(Key),
    Start(Key),
    End(u64, Key),
}

async fn publisher(
    port: u16,
    token: Rc<String>,
    state: Rc<RefCell<PubState>>,
    ticks: Rc<tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<u64>>>,
    rate: u64,
    hard_stop: Instant,
) -> Result<()> {
    let mut conn = Conn::open(port).await?;
    loop {
        let Some(tick) = ticks.lock().await.recv().await else {
            return Ok(());
        };
        if Instant::now() > hard_stop {
            return Ok(());
        }
        let action = {
            let mut st = state.borrow_mut();
            if tick % rate == 0
                && let Some(k) = st.marked_keys.pop()
            {
                Action::Marked(k)
            } else if tick % 2 == 1
                && let Some((id, k)) = st.open.pop_front()
            {
                Action::End(id, k)
            } else if let Some(k) = st.free.pop_front() {
                Action::Start(k)
            } else {
                continue;
            }
        };
        let t = wire::now_ns();
        let request = match &action {
            Action::Marked((r, kind)) => post_request(
                "/api/v1/alerts",
                &token,
                &format!(
                    "{{\"region\":{r},\"type\":\"{kind}\",\"note\":\"{}\"}}",
                    wire::marker(t)
                ),
            ),
            Action::Start((r, kind)) => post_request(
                "/api/v1/alerts",
                &token,
                &format!("{{\"region\":{r},\"type\":\"{kind}\"}}"),
            ),
            Action::End(id, _) => post_request(&format!("/api/v1/alerts/{id}/end"), &token, ""),
        };
        let (status, body) = conn.call(&request).await?;
        let acked_us = (wire::now_ns().saturating_sub(t)) / 1000;
        let mut st = state.borrow_mut();
        let ok = matches!((&action, status), (Action::End(..), 200) | (_, 201));
        if !ok {
            st.errors += 1;
            eprintln!("publish: HTTP {status}: {}", String::from_utf8_lossy(&body));
            continue;
        }
        let seq = json_u64(&body, "seq").unwrap_or(0);
        st.sent.push((t, seq, acked_us));
        match action {
            Action::Marked(_) => st.marked_sent.push(t),
            Action::Start(k) => {
                let id = json_u64(&body, "id").context("no alert id")?;
                st.open.push_back((id, k));
            }
            Action::End(_, k) => st.free.push_back(k),
        }
    }
}

/// An SSE connection that notes when each sequence number arrives.
async fn probe(port: u16, log: Rc<RefCell<Vec<(u64, u64)>>>) -> Result<()> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    stream
        .write_all(wire::http_get("/api/v1/stream", "Accept: text/event-stream\r\n").as_bytes())
        .await?;
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        let now = wire::now_ns();
        pending.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        while let Some(nl) = pending[start..].iter().position(|&b| b == b'\n') {
            let line = &pending[start..start + nl];
            if let Some(rest) = line.strip_prefix(b"id: ")
                && let Some(seq) = std::str::from_utf8(rest)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
            {
                log.borrow_mut().push((seq, now));
            }
            start += nl + 1;
        }
        pending.drain(..start);
    }
}

fn stats_ms(mut us: Vec<u32>) -> (f64, f64, f64) {
    us.sort_unstable();
    (
        percentile_ms(&us, 0.5),
        percentile_ms(&us, 0.99),
        percentile_ms(&us, 1.0),
    )
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { 0.0 } else { s / n as f64 }
}

fn third(rows: &[Second]) -> Third {
    // Seconds without a marked event (or without probe data) do not pull the means down.
    let marked: Vec<&Second> = rows.iter().filter(|r| r.deliveries > 0).collect();
    let probed: Vec<&Second> = rows.iter().filter(|r| r.probe_p99_ms > 0.0).collect();
    Third {
        rss_mb: mean(rows.iter().map(|r| r.rss_mb)),
        p50_ms: mean(marked.iter().map(|r| r.p50_ms)),
        p99_ms: mean(marked.iter().map(|r| r.p99_ms)),
        max_ms: marked.iter().map(|r| r.max_ms).fold(0.0, f64::max),
        probe_p99_ms: mean(probed.iter().map(|r| r.probe_p99_ms)),
    }
}

/// What one publishing run produced, whichever the target.
#[derive(Default)]
struct Run {
    t0: u64,
    /// (send time ns, seq, acknowledged after µs)
    sent: Vec<(u64, u64, u64)>,
    marked_sent: Vec<u64>,
    errors: u64,
    probe_log: Vec<(u64, u64)>,
    samples: Vec<u64>,
    cpu_share: f64,
    dropped: u64,
}

/// tryvoga: durable commands on a few connections, probes timing every event by `id:`.
fn publish_tryvoga(
    args: &SustainedArgs,
    running: &targets::Running,
    rate: u64,
    seconds: u64,
) -> Result<Run> {
    let pid = running.pid();
    let port = running.subscribe.0.port();
    let token = Rc::new(
        running
            .tryvoga_token()
            .context("no admin token")?
            .to_string(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let mut setup = Conn::open(port).await?;
        let mut regions = Vec::new();
        for level in ["oblast", "raion", "hromada"] {
            regions.extend(region_ids(&mut setup, level).await?);
        }
        let mut keys: Vec<Key> = TYPES
            .iter()
            .flat_map(|t| regions.iter().map(move |&r| (r, *t)))
            .collect();
        let marked_keys: Vec<Key> = keys.split_off(keys.len() - (seconds as usize + 5));
        let state = Rc::new(RefCell::new(PubState {
            free: keys.into(),
            marked_keys,
            ..PubState::default()
        }));
        let probe_log = Rc::new(RefCell::new(Vec::new()));
        let mut probes = Vec::new();
        for _ in 0..args.probes {
            probes.push(tokio::task::spawn_local(probe(port, probe_log.clone())));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (tick_tx, tick_rx) = tokio::sync::mpsc::unbounded_channel();
        let ticks = Rc::new(tokio::sync::Mutex::new(tick_rx));
        let start = Instant::now();
        let t0 = wire::now_ns();
        let hard_stop = start + Duration::from_secs(seconds);
        let mut pubs = Vec::new();
        for _ in 0..args.publishers.max(1) {
            pubs.push(tokio::task::spawn_local(publisher(
                port,
                token.clone(),
                state.clone(),
                ticks.clone(),
                rate,
                hard_stop,
            )));
        }
        // Server memory once a second.
        let samples = Rc::new(RefCell::new(Vec::new()));
        let sampler = {
            let samples = samples.clone();
            tokio::task::spawn_local(async move {
                let mut every = tokio::time::interval(Duration::from_secs(1));
                loop {
                    every.tick().await;
                    samples
                        .borrow_mut()
                        .push(procinfo::rss_bytes(pid).unwrap_or(0));
                }
            })
        };
        let cpu_before = procinfo::cpu_time(pid).unwrap_or_default();
        let mut every = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        for tick in 0..rate * seconds {
            every.tick().await;
            if Instant::now() > hard_stop {
                break;
            }
            let _ = tick_tx.send(tick);
        }
        drop(tick_tx);
        for p in pubs {
            p.await??;
        }
        let cpu = procinfo::cpu_time(pid)
            .unwrap_or_default()
            .saturating_sub(cpu_before);
        let cpu_share = cpu.as_secs_f64() / start.elapsed().as_secs_f64().max(1e-9);
        // The last events reach everyone.
        tokio::time::sleep(Duration::from_secs(3)).await;
        sampler.abort();
        for p in probes {
            p.abort();
        }
        let (_, metrics) = setup.call(&get_request("/metrics")).await?;
        let dropped = String::from_utf8_lossy(&metrics)
            .lines()
            .find_map(|l| l.strip_prefix("tryvoga_stream_dropped_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let mut st = state.borrow_mut();
        Ok(Run {
            t0,
            sent: std::mem::take(&mut st.sent),
            marked_sent: std::mem::take(&mut st.marked_sent),
            errors: st.errors,
            probe_log: std::mem::take(&mut probe_log.borrow_mut()),
            samples: std::mem::take(&mut samples.borrow_mut()),
            cpu_share,
            dropped,
        })
    })
}

/// A peer (nats, mosquitto, raw): the harness's publisher at the same rate, one marked
/// message a second, the others carrying filler of the same size.
fn publish_peer(running: &mut targets::Running, rate: u64, seconds: u64) -> Result<Run> {
    let pid = running.pid();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let start = Instant::now();
            let mut samples = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                samples.push(procinfo::rss_bytes(pid).unwrap_or(0));
                let next = start + Duration::from_secs(samples.len() as u64);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            samples
        });
        let mut run = Run {
            t0: wire::now_ns(),
            ..Run::default()
        };
        let start = Instant::now();
        let cpu_before = procinfo::cpu_time(pid).unwrap_or_default();
        let result = (|| -> Result<()> {
            for tick in 0..rate * seconds {
                let due = start + Duration::from_nanos(tick * 1_000_000_000 / rate);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                let t = wire::now_ns();
                if tick % rate == 0 {
                    running.publish(&wire::marker(t), PEER_SIZE)?;
                    run.marked_sent.push(t);
                } else {
                    running.publish("filler", PEER_SIZE)?;
                }
                run.sent.push((t, 0, 0));
            }
            Ok(())
        })();
        let cpu = procinfo::cpu_time(pid)
            .unwrap_or_default()
            .saturating_sub(cpu_before);
        run.cpu_share = cpu.as_secs_f64() / start.elapsed().as_secs_f64().max(1e-9);
        std::thread::sleep(Duration::from_secs(3));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        run.samples = sampler.join().unwrap_or_default();
        result.map(|()| run)
    })
}

/// The peers' message size, as a tryvoga event on the wire.
const PEER_SIZE: usize = 480;

pub fn run(args: SustainedArgs) -> Result<()> {
    let rate = args.rate.max(1);
    let me = std::env::current_exe()?;
    let tryvoga = crate::commands::tryvoga_path(args.tryvoga.clone())?;
    let opts = StartOptions {
        tryvoga: &tryvoga,
        me: &me,
    };
    let mut running = targets::start(args.target, &opts)?;
    let pid = running.pid();
    std::thread::sleep(Duration::from_millis(300));
    let rss_idle = procinfo::settled_rss(pid).context("server RSS")?;
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
        workers.push(fanout::spawn_worker(&me, &running, n, 2 + i as u8)?);
    }
    let (mut ok, mut failed) = (0usize, 0usize);
    for w in &workers {
        let line = w
            .lines
            .recv_timeout(Duration::from_secs(600))
            .context("a subscriber process did not get ready in 10 minutes")?;
        let mut parts = line.split_whitespace().skip(1);
        ok += parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        failed += parts
            .next()
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(0);
    }
    if ok == 0 {
        bail!("no subscriber connected");
    }
    let rss_connected = procinfo::settled_rss(pid).context("server RSS")?;
    let seconds = args.seconds.max(3);
    let run = if matches!(args.target, Target::TryvogaSse | Target::TryvogaWs) {
        publish_tryvoga(&args, &running, rate, seconds)?
    } else {
        publish_peer(&mut running, rate, seconds)?
    };
    // Every subscriber's deliveries of the marked events.
    let mut deliveries: HashMap<u64, Vec<u32>> = HashMap::new();
    for mut w in workers {
        writeln!(w.stdin, "stop")?;
        let line = w
            .lines
            .recv_timeout(Duration::from_secs(300))
            .context("a subscriber process did not report")?;
        let report: serde_json::Value = serde_json::from_str(&line)?;
        for pair in report["latencies"].as_array().into_iter().flatten() {
            if let (Some(t), Some(lat)) = (pair[0].as_u64(), pair[1].as_u64()) {
                deliveries.entry(t).or_default().push(lat as u32);
            }
        }
        let _ = w.child.wait();
    }
    let second_of = |t: u64| t.saturating_sub(run.t0) / 1_000_000_000;
    let mut rows: Vec<Second> = (0..seconds)
        .map(|s| Second {
            second: s,
            ..Second::default()
        })
        .collect();
    let sent_at: HashMap<u64, u64> = run
        .sent
        .iter()
        .filter(|s| s.1 > 0)
        .map(|&(t, seq, _)| (seq, t))
        .collect();
    let mut probe_by_second: Vec<Vec<u32>> = vec![Vec::new(); seconds as usize];
    for &(seq, recv) in &run.probe_log {
        if let Some(&t) = sent_at.get(&seq)
            && let Some(v) = probe_by_second.get_mut(second_of(t) as usize)
        {
            v.push((recv.saturating_sub(t) / 1000) as u32);
        }
    }
    let mut ack_by_second: Vec<Vec<u32>> = vec![Vec::new(); seconds as usize];
    for &(t, _, ack) in &run.sent {
        if let Some(v) = ack_by_second.get_mut(second_of(t) as usize) {
            v.push(ack as u32);
        }
    }
    let (mut delivered, mut marked) = (0usize, 0usize);
    for &t in &run.marked_sent {
        let Some(row) = rows.get_mut(second_of(t) as usize) else {
            continue;
        };
        marked += 1;
        let lat = deliveries.remove(&t).unwrap_or_default();
        delivered += lat.len();
        row.deliveries += lat.len();
        (row.p50_ms, row.p99_ms, row.max_ms) = stats_ms(lat);
    }
    for (i, row) in rows.iter_mut().enumerate() {
        row.published = ack_by_second[i].len() as u64;
        row.rss_mb = run.samples.get(i).copied().unwrap_or(0) as f64 / 1048576.0;
        (row.probe_p50_ms, row.probe_p99_ms, row.probe_max_ms) =
            stats_ms(std::mem::take(&mut probe_by_second[i]));
        row.publish_p99_ms = stats_ms(std::mem::take(&mut ack_by_second[i])).1;
    }
    let n = rows.len() / 3;
    let (first, last) = (third(&rows[..n]), third(&rows[rows.len() - n..]));
    let published: u64 = rows.iter().map(|r| r.published).sum();
    // Latency that nobody experiences is not flat: every marked event of the last third must
    // have reached every subscriber.
    let last_third_delivered = rows[rows.len() - n..].iter().all(|r| r.deliveries >= ok);
    let report = SustainedReport {
        target: args.target.name(),
        version: running.version.clone(),
        subscribers: ok,
        failed,
        rate,
        seconds,
        published,
        rate_held: published as f64 >= 0.95 * (rate * seconds) as f64,
        publish_errors: run.errors,
        marked,
        missing_deliveries: (ok * marked).saturating_sub(delivered),
        dropped_by_server: run.dropped,
        rss_idle_mb: rss_idle as f64 / 1048576.0,
        rss_connected_mb: rss_connected as f64 / 1048576.0,
        server_cpu_percent: run.cpu_share * 100.0,
        memory_flat: last.rss_mb <= first.rss_mb * 1.10 + 4.0,
        latency_flat: last_third_delivered
            && last.p99_ms <= (first.p99_ms * 1.5).max(first.p99_ms + 20.0)
            && last.probe_p99_ms <= (first.probe_p99_ms * 1.5).max(first.probe_p99_ms + 20.0),
        first_third: first,
        last_third: last,
        per_second: rows,
    };
    drop(running);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    if report.publish_errors > 0 {
        bail!("{} publishes failed", report.publish_errors);
    }
    Ok(())
}

fn print_table(r: &SustainedReport) {
    println!(
        "{} ({}): {} subscribers ({} failed), {} events/s for {} s: {} published, {} marked",
        r.target, r.version, r.subscribers, r.failed, r.rate, r.seconds, r.published, r.marked
    );
    println!(
        "{:>4} {:>5} {:>8} {:>7} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9}",
        "sec",
        "pub",
        "RSS MB",
        "deliv",
        "p50 ms",
        "p99 ms",
        "max ms",
        "probe p50",
        "probe p99",
        "ack p99"
    );
    for s in &r.per_second {
        println!(
            "{:>4} {:>5} {:>8.1} {:>7} {:>8.1} {:>8.1} {:>8.1} {:>9.1} {:>9.1} {:>9.1}",
            s.second,
            s.published,
            s.rss_mb,
            s.deliveries,
            s.p50_ms,
            s.p99_ms,
            s.max_ms,
            s.probe_p50_ms,
            s.probe_p99_ms,
            s.publish_p99_ms
        );
    }
    for (name, t) in [
        ("first third", &r.first_third),
        ("last third", &r.last_third),
    ] {
        println!(
            "{name:<12} RSS {:.1} MB, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, probe p99 {:.1} ms",
            t.rss_mb, t.p50_ms, t.p99_ms, t.max_ms, t.probe_p99_ms
        );
    }
    println!(
        "RSS idle {:.1} MB, with subscribers {:.1} MB; server CPU {:.0}%; missing deliveries {}; dropped by server {}",
        r.rss_idle_mb,
        r.rss_connected_mb,
        r.server_cpu_percent,
        r.missing_deliveries,
        r.dropped_by_server
    );
    println!(
        "rate held: {} ({} of {}); memory flat: {}; latency flat: {}",
        r.rate_held,
        r.published,
        r.rate * r.seconds,
        r.memory_flat,
        r.latency_flat
    );
}
