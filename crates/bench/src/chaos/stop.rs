//! SIGSTOP and SIGCONT: the server frozen for some seconds in the middle of a stream of
//! commands. Issuers give up waiting after a few seconds and send again with the same key,
//! so the frozen server finds the same command queued several times; once it runs again
//! every acknowledged command is in the log once and every subscriber gets every event.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use super::client::{Crew, Tally, finish};
use super::node::Fresh;
use super::resume::{Followers, head, tally_streams};
use super::{Ctx, Outcome, check};
use crate::wire::now_ns;

pub fn run(ctx: &Ctx) -> Result<Outcome> {
    let s = &ctx.sizes;
    let Fresh {
        mut node,
        dir,
        token,
        rt,
        keys,
    } = Fresh::start(&ctx.exe, "chaos-stop")?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(90 + 2 * s.stop_secs);
    let bar = ctx.bar(s.stop_secs + 5, "SIGSTOP");
    let followers = Followers::start(&rt, s.subscribers, node.port, 0, None, deadline)?;
    let tally = Arc::new(Tally::default());
    let handles = Crew {
        tag: "s",
        issuers: s.stream_issuers,
        port: node.port,
        token: &token,
        keys: &keys,
        pad: 0,
        timeout: Duration::from_secs(3),
        deadline,
    }
    .spawn(&rt, &tally);
    std::thread::sleep(Duration::from_secs(2));
    bar.inc(2);
    node.signal(libc::SIGSTOP)?;
    let stopped_ns = now_ns();
    // Answers the server wrote just before it stopped may still be read; after a moment,
    // nothing more can come.
    std::thread::sleep(Duration::from_millis(200));
    let acked_before = tally.acked.load(Ordering::Relaxed);
    let resends_before = tally.retries.load(Ordering::Relaxed);
    for _ in 0..s.stop_secs {
        std::thread::sleep(Duration::from_secs(1));
        bar.inc(1);
    }
    let acked_during = tally.acked.load(Ordering::Relaxed) - acked_before;
    let resends_during = tally.retries.load(Ordering::Relaxed) - resends_before;
    node.signal(libc::SIGCONT)?;
    let cont_ns = now_ns();
    std::thread::sleep(Duration::from_secs(3));
    bar.inc(3);
    let acked = finish(&rt, &tally, handles)?;
    let to = rt.block_on(head(node.port))?;
    let followed = followers.finish(&rt, to)?;
    let caught_up_ns = now_ns();
    bar.finish_and_clear();
    let (missing, repeated) = tally_streams(&followed, 0, to);
    let first_ack_after = acked
        .iter()
        .filter(|a| a.acked_ns >= cont_ns)
        .map(|a| a.acked_ns - cont_ns)
        .min()
        .map(|ns| ns as f64 / 1e6);
    let longest = acked
        .iter()
        .map(|a| a.acked_ns.saturating_sub(a.sent_ns))
        .max()
        .unwrap_or(0) as f64
        / 1e6;
    // Commands sent before the stop and answered after it.
    let spanning = acked
        .iter()
        .filter(|a| a.sent_ns < stopped_ns && a.acked_ns >= cont_ns)
        .count();
    let replayed = tally.replayed.load(Ordering::Relaxed);
    let alive = node.alive();
    let panics = node.panics();
    let verdict = check::after_run(&rt, &ctx.exe, &mut node, &acked, &dir.0)?;
    let line = format!(
        "stopped {stop} s with {i} issuers and {n} subscribers: acknowledged during the stop \
         {acked_during}, resends while stopped {resends_during}, {replayed} answers replayed from their key, {spanning} commands sent \
         before and answered after, the first answer {first:.0} ms after SIGCONT, longest \
         command {longest:.0} ms; subscribers missing {missing}, repeated {repeated} of {to} \
         events; {verdict}; {secs:.1} s",
        stop = s.stop_secs,
        i = s.stream_issuers,
        n = s.subscribers,
        first = first_ack_after.unwrap_or(f64::NAN),
        verdict = verdict.summary(),
        secs = started.elapsed().as_secs_f64()
    );
    let figures = json!({
        "stop_seconds": s.stop_secs,
        "issuers": s.stream_issuers,
        "subscribers": s.subscribers,
        "acked": acked.len(),
        "acked_during_stop": acked_during,
        "resends_during_stop": resends_during,
        "replayed": replayed,
        "sent_before_answered_after": spanning,
        "first_ack_after_cont_ms": first_ack_after,
        "longest_command_ms": longest,
        "caught_up_after_cont_ms": (caught_up_ns.saturating_sub(cont_ns)) as f64 / 1e6,
        "events": to,
        "missing": missing,
        "repeated": repeated,
        "log": verdict.log,
        "integrity": verdict.integrity,
        "signatures": verdict.signatures,
        "seconds": started.elapsed().as_secs_f64(),
    });
    let mut out = Outcome::new(line, figures);
    out.expect(verdict.ok(), || verdict.failure());
    out.expect(missing + repeated == 0, || {
        "a subscriber missed or repeated events".into()
    });
    out.expect(acked_during == 0, || {
        format!("{acked_during} commands were answered while the server was stopped")
    });
    out.expect(first_ack_after.is_some(), || {
        "no command was answered after SIGCONT".into()
    });
    out.expect(alive, || "the server exited".into());
    out.expect(panics == 0, || {
        format!("the server's log tells of {panics} panics")
    });
    Ok(out)
}
