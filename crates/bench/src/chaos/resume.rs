//! Resume: SSE subscribers that hang up mid-burst at random moments and connect again with
//! `Last-Event-ID` dispatch every event exactly once; then the same while the server is
//! killed with SIGKILL mid-burst and started again (the subscribers are cut by the crash,
//! find nobody listening, and resume once it is back).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::client::{Acked, Crew, Tally, finish, wait_acked};
use super::node::Fresh;
use super::stream::{Follow, Followed};
use super::{Ctx, Outcome, check, ms};
use crate::commands::{Conn, get_request};

/// The head of the log: `last_seq` of `/api/v1/events`.
pub async fn head(port: u16) -> Result<u64> {
    let mut conn = Conn::open(port).await?;
    let (status, body) = conn
        .call(&get_request("/api/v1/events?after=0&limit=1"))
        .await?;
    if status != 200 {
        bail!("GET /api/v1/events: HTTP {status}");
    }
    let v: serde_json::Value = serde_json::from_slice(&body).context("the events page")?;
    v["last_seq"]
        .as_u64()
        .context("no last_seq in /api/v1/events")
}

/// Subscribers following from `after`, until `target` is set and reached.
pub struct Followers {
    pub target: Arc<AtomicU64>,
    handles: Vec<tokio::task::JoinHandle<Result<Followed>>>,
}

impl Followers {
    pub fn start(
        rt: &tokio::runtime::Runtime,
        n: usize,
        port: u16,
        after: u64,
        cuts: Option<(u64, u64)>,
        deadline: Instant,
    ) -> Result<Followers> {
        let target = Arc::new(AtomicU64::new(0));
        let connected = Arc::new(AtomicUsize::new(0));
        let handles = (0..n)
            .map(|i| {
                rt.spawn(
                    Follow {
                        port,
                        after,
                        cuts,
                        seed: 1000 + i as u64,
                        target: Arc::clone(&target),
                        connected: Arc::clone(&connected),
                        deadline,
                    }
                    .run(),
                )
            })
            .collect();
        let until = Instant::now() + Duration::from_secs(20);
        while connected.load(Ordering::Acquire) < n {
            if Instant::now() > until {
                bail!("the subscribers did not connect within 20 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Connected is not yet subscribed: give the server a moment to take them in.
        std::thread::sleep(Duration::from_millis(300));
        Ok(Followers { target, handles })
    }

    /// Sets the target and waits for every subscriber to reach it.
    pub fn finish(self, rt: &tokio::runtime::Runtime, target: u64) -> Result<Vec<Followed>> {
        self.target.store(target, Ordering::Release);
        rt.block_on(async {
            let mut all = Vec::new();
            for h in self.handles {
                all.push(h.await.context("a subscriber task failed")??);
            }
            Ok(all)
        })
    }
}

/// Missing and repeated events over all subscribers.
pub fn tally_streams(all: &[Followed], after: u64, to: u64) -> (u64, u64) {
    all.iter().fold((0, 0), |(m, r), f| {
        let (fm, fr) = f.check(after, to);
        (m + fm, r + fr)
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
    } = Fresh::start(&ctx.exe, "chaos-resume")?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120 + s.burst as u64 / 20);
    let bar = ctx.bar(2, "resume: cuts, then a crash");
    let crew = Crew {
        tag: "",
        issuers: s.stream_issuers,
        port: node.port,
        token: &token,
        keys: &keys,
        pad: 0,
        timeout: Duration::from_secs(20),
        deadline,
    };
    let (a_keys, b_keys) = keys.split_at(keys.len() / 2);

    // A: cut at random moments (every 5 to 150 events), resumed each time.
    let followers = Followers::start(&rt, s.subscribers, node.port, 0, Some((5, 150)), deadline)?;
    let tally = Arc::new(Tally::default());
    let handles = Crew {
        tag: "a",
        keys: a_keys,
        ..crew
    }
    .spawn(&rt, &tally);
    wait_acked(&tally, s.burst as u64, deadline)?;
    let mut acked: Vec<Acked> = finish(&rt, &tally, handles)?;
    let head_a = rt.block_on(head(node.port))?;
    let a = followers.finish(&rt, head_a)?;
    let (missing_a, repeats_a) = tally_streams(&a, 0, head_a);
    let cuts_a: u64 = a.iter().map(|f| f.cuts).sum();
    bar.inc(1);

    // B: a crash mid-burst; the subscribers resume from where they were once it is back.
    let followers = Followers::start(&rt, s.subscribers, node.port, head_a, None, deadline)?;
    let tally = Arc::new(Tally::default());
    let handles = Crew {
        tag: "b",
        keys: b_keys,
        ..crew
    }
    .spawn(&rt, &tally);
    wait_acked(&tally, s.burst as u64 / 2, deadline)?;
    node.kill9()?;
    std::thread::sleep(Duration::from_millis(200));
    node.start()?;
    let back_ns = crate::wire::now_ns();
    wait_acked(&tally, s.burst as u64, deadline)?;
    acked.extend(finish(&rt, &tally, handles)?);
    let head_b = rt.block_on(head(node.port))?;
    let b = followers.finish(&rt, head_b)?;
    let (missing_b, repeats_b) = tally_streams(&b, head_a, head_b);
    let reconnects_b: u64 = b.iter().map(|f| f.reconnects).sum();
    // From the restart to each subscriber's first event after it.
    let resumed_ms = b
        .iter()
        .filter_map(|f| f.at_ns.iter().find(|&&t| t >= back_ns))
        .map(|&t| (t - back_ns) as f64 / 1e6)
        .fold(0.0f64, f64::max);
    bar.finish_and_clear();
    let panics = node.panics();
    let verdict = check::after_run(&rt, &ctx.exe, &mut node, &acked, &dir.0)?;
    let line = format!(
        "{n} subscribers; cut {cuts_a} times in a burst of {head_a} events: missing {missing_a}, \
         repeated {repeats_a}; killed -9 mid-burst and restarted ({restart} ms): {reconnects_b} \
         reconnects, events {from}..={head_b} missing {missing_b}, repeated {repeats_b}, every \
         subscriber's first event after the restart within {resumed_ms:.0} ms; {verdict}; {secs:.1} s",
        n = s.subscribers,
        restart = node.start_times.last().map(|d| ms(*d)).unwrap_or(0.0),
        from = head_a + 1,
        verdict = verdict.summary(),
        secs = started.elapsed().as_secs_f64()
    );
    let figures = json!({
        "subscribers": s.subscribers,
        "cuts": cuts_a,
        "events_cut_phase": head_a,
        "missing_cut_phase": missing_a,
        "repeated_cut_phase": repeats_a,
        "events_crash_phase": head_b - head_a,
        "reconnects_crash_phase": reconnects_b,
        "missing_crash_phase": missing_b,
        "repeated_crash_phase": repeats_b,
        "resumed_after_restart_ms": resumed_ms,
        "log": verdict.log,
        "integrity": verdict.integrity,
        "signatures": verdict.signatures,
        "seconds": started.elapsed().as_secs_f64(),
    });
    let mut out = Outcome::new(line, figures);
    out.expect(verdict.ok(), || verdict.failure());
    out.expect(missing_a + repeats_a + missing_b + repeats_b == 0, || {
        "a subscriber missed or repeated events".into()
    });
    out.expect(cuts_a > 0, || "no subscriber was cut".into());
    out.expect(
        head_a >= s.burst as u64 && head_b - head_a >= s.burst as u64,
        || {
            format!(
                "the bursts were short: {head_a} and {} events",
                head_b - head_a
            )
        },
    );
    out.expect(panics == 0, || {
        format!("the server's log tells of {panics} panics")
    });
    Ok(out)
}
