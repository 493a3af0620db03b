//! The kill -9 loop: issuers keep sending commands with idempotent retries while the server
//! is killed with SIGKILL at random moments and started again on the same file and port.
//! Afterwards every acknowledged command is in the log exactly once, the log is gapless, and
//! the file passes SQLite's integrity check and every signature verifies.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use super::client::{Crew, Tally, finish};
use super::node::Fresh;
use super::stream::Rng;
use super::{Ctx, Outcome, check, ms};

pub fn run(ctx: &Ctx) -> Result<Outcome> {
    let s = &ctx.sizes;
    let Fresh {
        mut node,
        dir,
        token,
        rt,
        keys,
    } = Fresh::start(&ctx.exe, "chaos-kill9")?;
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60 + 4 * u64::from(s.kills));
    let crew = Crew {
        tag: "k",
        issuers: s.issuers,
        port: node.port,
        token: &token,
        keys: &keys,
        pad: 0,
        timeout: Duration::from_secs(20),
        deadline,
    };
    let handles = crew.spawn(&rt, &tally);
    let bar = ctx.bar(u64::from(s.kills), "kill -9");
    let mut rng = Rng::new(0x6b69_6c6c);
    let mut between = Vec::new();
    let mut acked_then = 0;
    for _ in 0..s.kills {
        std::thread::sleep(Duration::from_millis(
            rng.range(s.kill_min_ms, s.kill_max_ms),
        ));
        let acked_now = tally.acked.load(Ordering::Relaxed);
        between.push(acked_now - acked_then);
        acked_then = acked_now;
        node.kill9()?;
        std::thread::sleep(Duration::from_millis(rng.range(0, 50)));
        node.start()?;
        bar.inc(1);
    }
    // Let the issuers be answered after the last start.
    std::thread::sleep(Duration::from_millis(500));
    let acked = finish(&rt, &tally, handles)?;
    bar.finish_and_clear();
    let verdict = check::after_run(&rt, &ctx.exe, &mut node, &acked, &dir.0)?;
    let restarts: Vec<Duration> = node.start_times.iter().skip(1).copied().collect();
    let mut sorted = restarts.clone();
    sorted.sort();
    let restart_p50 = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    let restart_max = sorted.last().copied().unwrap_or_default();
    let min_between = between.iter().copied().min().unwrap_or(0);
    let replayed = tally.replayed.load(Ordering::Relaxed);
    let retries = tally.retries.load(Ordering::Relaxed);
    let unavailable = tally.unavailable.load(Ordering::Relaxed);
    let panics = node.panics();
    let line = format!(
        "{} kills, {} issuers, {} commands acknowledged ({} answered again from their key after \
         a lost answer; {} connects or sends retried), fewest between two kills {}; {}; restart p50 {} ms, max {} \
         ms; {:.1} s",
        s.kills,
        s.issuers,
        acked.len(),
        replayed,
        retries,
        min_between,
        verdict.summary(),
        ms(restart_p50),
        ms(restart_max),
        started.elapsed().as_secs_f64()
    );
    let figures = json!({
        "kills": s.kills,
        "issuers": s.issuers,
        "acked": acked.len(),
        "replayed": replayed,
        "resends": retries,
        "answered_503": unavailable,
        "fewest_acked_between_kills": min_between,
        "log": verdict.log,
        "integrity": verdict.integrity,
        "signatures": verdict.signatures,
        "restart_p50_ms": ms(restart_p50),
        "restart_max_ms": ms(restart_max),
        "seconds": started.elapsed().as_secs_f64(),
    });
    let mut out = Outcome::new(line, figures);
    out.expect(verdict.ok(), || verdict.failure());
    out.expect(min_between > 0, || {
        "between two kills no command was acknowledged: the kills did not happen under load".into()
    });
    out.expect(panics == 0, || {
        format!("the server's log tells of {panics} panics")
    });
    Ok(out)
}
