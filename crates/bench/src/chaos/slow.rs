//! Slow consumers: the same burst twice on one server, first to readers alone, then to the
//! same number of readers beside subscribers that never read. The stuck ones are cut loose
//! (each having got a contiguous prefix), the readers get every event, and their delivery
//! time (command sent → event read) is measured in both rounds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::json;

use super::client::{Acked, Crew, Tally, finish, wait_acked};
use super::node::{Fresh, Node};
use super::resume::{Followers, head, tally_streams};
use super::stream::{drain, stream_metrics, stuck};
use super::{Ctx, Outcome, check};

#[derive(Debug, Serialize, Default)]
struct Round {
    readers: usize,
    stuck: usize,
    events: u64,
    /// Command sent → event read, over every reader and event.
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// The last reader's last event after the last acknowledgement.
    last_after_ack_ms: f64,
    missing: u64,
    repeated: u64,
    reader_reconnects: u64,
    stuck_cut_loose: u64,
    stuck_closed: usize,
    /// Events the stuck subscribers got before they were let go (min, max).
    stuck_got: (usize, usize),
    stuck_prefixes_contiguous: bool,
    publish_seconds: f64,
    #[serde(skip)]
    acked: Vec<Acked>,
}

/// Bytes of note in each event of this scenario.
const SLOW_PAD: usize = 950;

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
}

fn round(
    ctx: &Ctx,
    rt: &tokio::runtime::Runtime,
    node: &Node,
    token: &str,
    keys: &[(u32, &'static str)],
    stuck_count: usize,
) -> Result<Round> {
    let s = &ctx.sizes;
    let port = node.port;
    let deadline = Instant::now() + Duration::from_secs(120 + s.slow_burst as u64 / 20);
    let after = rt.block_on(head(port))?;
    let (base, dropped0) = stream_metrics(port)?;
    ctx.step(&format!(
        "round with {stuck_count} stuck: opening subscribers after {after}"
    ));
    let stuck_conns = (0..stuck_count)
        .map(|_| stuck(port, after))
        .collect::<Result<Vec<_>>>()?;
    let followers = Followers::start(rt, s.subscribers, port, after, None, deadline)?;
    let want = base + (stuck_count + s.subscribers) as u64;
    let until = Instant::now() + Duration::from_secs(10);
    while stream_metrics(port)?.0 < want {
        if Instant::now() > until {
            bail!("the server holds fewer than {want} subscribers after 10 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ctx.step("subscribers held; publishing");
    let tally = Arc::new(Tally::default());
    let t0 = Instant::now();
    let handles = Crew {
        tag: if stuck_count == 0 { "alone" } else { "beside" },
        issuers: s.stream_issuers,
        port,
        token,
        keys,
        // Big events: a stuck subscriber is cut loose once its socket is full (the kernel
        // lets the server queue up to 4 MiB to it) and the ring is three quarters ahead.
        pad: SLOW_PAD,
        timeout: Duration::from_secs(20),
        deadline,
    }
    .spawn(rt, &tally);
    wait_acked(&tally, s.slow_burst as u64, deadline)?;
    let acked = finish(rt, &tally, handles)?;
    ctx.step("published; waiting for the readers");
    let publish_seconds = t0.elapsed().as_secs_f64();
    let to = rt.block_on(head(port))?;
    let followed = followers.finish(rt, to)?;
    ctx.step("readers done; waiting for the stuck ones to be cut loose");
    let (missing, repeated) = tally_streams(&followed, after, to);
    let sent: HashMap<u64, u64> = acked.iter().map(|a| (a.seq, a.sent_ns)).collect();
    let mut lat_us: Vec<u64> = followed
        .iter()
        .flat_map(|f| f.ids.iter().zip(&f.at_ns))
        .filter_map(|(id, at)| sent.get(id).map(|s| at.saturating_sub(*s) / 1000))
        .collect();
    lat_us.sort_unstable();
    let last_read = followed
        .iter()
        .filter_map(|f| f.at_ns.last())
        .max()
        .copied()
        .unwrap_or(0);
    let last_ack = acked.iter().map(|a| a.acked_ns).max().unwrap_or(0);
    // The stuck ones: cut loose once the ring is three quarters ahead of them (or after the
    // write timeout); then what they were sent is read out.
    let until = Instant::now() + Duration::from_secs(45);
    let mut cut = 0;
    if stuck_count > 0 {
        loop {
            cut = stream_metrics(port)?.1 - dropped0;
            if cut >= stuck_count as u64 || Instant::now() > until {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    ctx.step(&format!("{cut} cut loose; reading out the stuck sockets"));
    let drained: Vec<(bool, Vec<u64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = stuck_conns
            .into_iter()
            .map(|conn| scope.spawn(move || drain(conn, Duration::from_secs(5))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Ok((false, Vec::new()))))
            .collect::<Result<Vec<_>>>()
    })?;
    let mut closed = 0;
    let mut got = (usize::MAX, 0);
    let mut contiguous = true;
    for (was_closed, ids) in drained {
        closed += usize::from(was_closed);
        got = (got.0.min(ids.len()), got.1.max(ids.len()));
        contiguous &= ids
            .iter()
            .enumerate()
            .all(|(i, &id)| id == after + 1 + i as u64);
    }
    if stuck_count == 0 {
        got = (0, 0);
    }
    Ok(Round {
        readers: s.subscribers,
        stuck: stuck_count,
        events: to - after,
        p50_ms: pct(&lat_us, 0.5),
        p99_ms: pct(&lat_us, 0.99),
        max_ms: pct(&lat_us, 1.0),
        last_after_ack_ms: last_read.saturating_sub(last_ack) as f64 / 1e6,
        missing,
        repeated,
        reader_reconnects: followed.iter().map(|f| f.reconnects).sum(),
        stuck_cut_loose: cut,
        stuck_closed: closed,
        stuck_got: got,
        stuck_prefixes_contiguous: contiguous,
        publish_seconds,
        acked,
    })
}

pub fn run(ctx: &Ctx) -> Result<Outcome> {
    let s = &ctx.sizes;
    let Fresh {
        mut node,
        dir,
        token,
        rt,
        keys,
    } = Fresh::start(&ctx.exe, "chaos-slow")?;
    let (keys_a, keys_b) = keys.split_at(keys.len() / 2);
    let started = Instant::now();
    let bar = ctx.bar(2, "slow consumers");
    let mut alone = round(ctx, &rt, &node, &token, keys_a, 0)?;
    bar.inc(1);
    let mut beside = round(ctx, &rt, &node, &token, keys_b, s.stuck)?;
    bar.finish_and_clear();
    let mut acked = std::mem::take(&mut alone.acked);
    acked.extend(std::mem::take(&mut beside.acked));
    let panics = node.panics();
    let verdict = check::after_run(&rt, &ctx.exe, &mut node, &acked, &dir.0)?;
    let bound = 5.0 * alone.p99_ms + 500.0;
    let line = format!(
        "{r} readers, {e} events of ~{kb:.1} KB each round: alone p50 {a50:.1} ms, p99 {a99:.1} ms, published in \
         {ap:.1} s; beside {st} stuck subscribers p50 {b50:.1} ms, p99 {b99:.1} ms (×{ratio:.2}), \
         published in {bp:.1} s; stuck cut loose {cut} \
         of {st}, closed {closed}, each got {g0}..{g1} events first, in order; readers missing \
         {m}, repeated {rep}; {verdict}; {secs:.1} s",
        r = s.subscribers,
        e = beside.events,
        kb = (SLOW_PAD as f64 + 500.0) / 1000.0,
        a50 = alone.p50_ms,
        a99 = alone.p99_ms,
        ap = alone.publish_seconds,
        bp = beside.publish_seconds,
        st = s.stuck,
        b50 = beside.p50_ms,
        b99 = beside.p99_ms,
        ratio = beside.p99_ms / alone.p99_ms.max(0.001),
        cut = beside.stuck_cut_loose,
        closed = beside.stuck_closed,
        g0 = beside.stuck_got.0,
        g1 = beside.stuck_got.1,
        m = alone.missing + beside.missing,
        rep = alone.repeated + beside.repeated,
        verdict = verdict.summary(),
        secs = started.elapsed().as_secs_f64()
    );
    let figures = json!({
        "alone": alone,
        "beside_stuck": beside,
        "log": verdict.log,
        "integrity": verdict.integrity,
        "signatures": verdict.signatures,
        "seconds": started.elapsed().as_secs_f64(),
    });
    let mut out = Outcome::new(line, figures);
    out.expect(verdict.ok(), || verdict.failure());
    out.expect(
        alone.missing + alone.repeated + beside.missing + beside.repeated == 0,
        || "a reader missed or repeated events".into(),
    );
    out.expect(beside.stuck_cut_loose >= s.stuck as u64, || {
        format!(
            "{} of {} stuck subscribers were cut loose",
            beside.stuck_cut_loose, s.stuck
        )
    });
    out.expect(beside.stuck_closed == s.stuck, || {
        format!(
            "{} of {} stuck subscribers' connections were closed",
            beside.stuck_closed, s.stuck
        )
    });
    out.expect(beside.stuck_prefixes_contiguous, || {
        "a stuck subscriber's events were not a contiguous prefix".into()
    });
    out.expect(beside.p99_ms <= bound, || {
        format!(
            "the readers' p99 beside stuck subscribers ({:.1} ms) is over 5 × alone + 500 ms ({bound:.1} ms)",
            beside.p99_ms
        )
    });
    out.expect(panics == 0, || {
        format!("the server's log tells of {panics} panics")
    });
    Ok(out)
}
