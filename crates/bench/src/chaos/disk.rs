//! A full disk: the database on a small tmpfs, filled by another file until nothing more can
//! be written while issuers keep sending big commands. Commands are answered 503 (no other
//! 5xx, no panic), reads and streams are still served, and once the file is removed the
//! issuers' retries (same keys) succeed; nothing acknowledged is lost or recorded twice,
//! before or after a restart on the same file.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use super::client::{Crew, Tally, finish, region_keys, wait_acked};
use super::node::{Mount, Node};
use super::{Ctx, Outcome, check, ms};
use crate::targets::tempdir::Dir;

/// Writes `path` until the file system refuses; the bytes it took.
fn fill(path: &Path) -> Result<u64> {
    let mut f = std::fs::File::create(path)?;
    let mut written = 0u64;
    for size in [1 << 20, 4096] {
        let chunk = vec![0x5au8; size];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => return Err(e).context("filling the disk"),
            }
        }
    }
    Ok(written)
}

/// The reads a subscriber or a page makes, while the disk is full: their statuses.
fn reads(port: u16) -> Vec<(String, u16)> {
    [
        "/healthz",
        "/api/v1/alerts/active",
        "/api/v1/events?after=0&limit=10",
        "/api/v1/alerts?limit=10",
        "/api/v1/regions/14",
    ]
    .iter()
    .map(|path| {
        let status = match ureq::get(&format!("http://127.0.0.1:{port}{path}"))
            .timeout(Duration::from_secs(10))
            .call()
        {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(s, _)) => s,
            Err(_) => 0,
        };
        (path.to_string(), status)
    })
    .collect()
}

/// Whether a new stream from the start of the log delivers event 1 within five seconds.
fn stream_serves(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /api/v1/stream?after=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let until = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while Instant::now() < until {
        match s.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if memchr::memmem::find(&got, b"\nid: 1\n").is_some() {
            return true;
        }
    }
    false
}

pub fn run(ctx: &Ctx) -> Result<Outcome> {
    let s = &ctx.sizes;
    let dir = Dir::new("chaos-disk")?;
    let mount = Mount::tmpfs(&dir.0.join("disk"), s.tmpfs_mb)?;
    let db = mount.at.join("tryvoga.db");
    let mut node = Node::new(&ctx.exe, db.clone(), dir.0.join("serve.log"), &[])?;
    node.start()?;
    let token = node
        .admin
        .clone()
        .context("the first start printed no admin token")?;
    let rt = super::runtime()?;
    let keys = rt.block_on(region_keys(node.port))?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(180);
    let bar = ctx.bar(4, "full disk: warm, fill, hold, free");
    let tally = Arc::new(Tally::default());
    let handles = Crew {
        tag: "d",
        issuers: s.disk_issuers,
        port: node.port,
        token: &token,
        keys: &keys,
        // Notes hold at most 1,000 characters.
        pad: 950,
        timeout: Duration::from_secs(20),
        deadline,
    }
    .spawn(&rt, &tally);
    wait_acked(&tally, 200, deadline)?;
    bar.inc(1);

    let filler = mount.at.join("filler");
    let filled = fill(&filler)?;
    let full_at = Instant::now();
    let mut out_fail = Vec::new();
    while tally.unavailable.load(Ordering::Relaxed) < 20 {
        if full_at.elapsed() > Duration::from_secs(60) {
            out_fail.push("the disk was full for 60 s and no command was answered 503".to_string());
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let first_503_ms = ms(full_at.elapsed());
    let acked_at_503 = tally.acked.load(Ordering::Relaxed);
    bar.inc(1);
    // Full for a while: the issuers keep being answered 503 and keep retrying.
    std::thread::sleep(Duration::from_secs(2));
    let read_statuses = reads(node.port);
    let stream_ok = stream_serves(node.port);
    let acked_while_full = tally.acked.load(Ordering::Relaxed) - acked_at_503;
    let unavailable_full = tally.unavailable.load(Ordering::Relaxed);
    bar.inc(1);

    std::fs::remove_file(&filler)?;
    let freed_at = Instant::now();
    let acked_at_free = tally.acked.load(Ordering::Relaxed);
    let mut first_success_ms = None;
    while freed_at.elapsed() < Duration::from_secs(30) {
        let now = tally.acked.load(Ordering::Relaxed);
        if first_success_ms.is_none() && now > acked_at_free {
            first_success_ms = Some(ms(freed_at.elapsed()));
        }
        if now >= acked_at_free + 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let acked_after_free = tally.acked.load(Ordering::Relaxed) - acked_at_free;
    let acked = finish(&rt, &tally, handles)?;
    bar.finish_and_clear();
    let alive = node.alive();
    let panics = node.panics();
    let server_errors = tally.server_errors.load(Ordering::Relaxed);
    let refused = tally.refused.load(Ordering::Relaxed);
    let verdict = check::after_run(&rt, &ctx.exe, &mut node, &acked, &dir.0)?;
    // And once more after a restart on the same file.
    node.start()?;
    let (events, head) = rt.block_on(check::read_log(node.port))?;
    let again = check::check_log(&events, head, &acked);
    node.stop();
    drop(node);
    drop(mount);

    let reads_ok = read_statuses.iter().all(|(_, s)| *s == 200);
    let line = format!(
        "tmpfs {mb} MiB, {filled} bytes of filler: first 503 {first_503_ms:.0} ms after the disk \
         filled, {unavailable_full} answers 503 while full, other 5xx {server_errors}, 4xx \
         {refused}, acknowledged while full {acked_while_full}; reads while full {reads}, a new \
         stream {stream}; space freed: first success after {first:.0} ms, {acked_after_free} \
         acknowledged after; {total} acknowledged in all; {verdict}; after a restart: {again}; \
         {secs:.1} s",
        mb = s.tmpfs_mb,
        reads = read_statuses
            .iter()
            .map(|(p, s)| format!("{p} {s}"))
            .collect::<Vec<_>>()
            .join(", "),
        stream = if stream_ok { "served" } else { "NOT served" },
        first = first_success_ms.unwrap_or(f64::NAN),
        total = acked.len(),
        verdict = verdict.summary(),
        again = again.summary(),
        secs = started.elapsed().as_secs_f64()
    );
    let figures = json!({
        "tmpfs_mb": s.tmpfs_mb,
        "filler_bytes": filled,
        "first_503_after_full_ms": first_503_ms,
        "answered_503_while_full": unavailable_full,
        "other_5xx": server_errors,
        "refused_4xx": refused,
        "acked_while_full": acked_while_full,
        "reads_while_full": read_statuses,
        "stream_while_full": stream_ok,
        "first_success_after_free_ms": first_success_ms,
        "acked_after_free": acked_after_free,
        "acked": acked.len(),
        "log": verdict.log,
        "log_after_restart": again,
        "integrity": verdict.integrity,
        "signatures": verdict.signatures,
        "seconds": started.elapsed().as_secs_f64(),
    });
    let mut out = Outcome::new(line, figures);
    for f in out_fail {
        out.expect(false, || f);
    }
    out.expect(verdict.ok(), || verdict.failure());
    out.expect(again.clean(), || {
        format!("after a restart: {}", again.summary())
    });
    out.expect(server_errors == 0, || {
        format!("{server_errors} answers were a 5xx other than 503")
    });
    out.expect(refused == 0, || format!("{refused} answers were a 4xx"));
    out.expect(reads_ok, || format!("reads while full: {read_statuses:?}"));
    out.expect(stream_ok, || {
        "a new stream was not served while the disk was full".into()
    });
    out.expect(first_success_ms.is_some(), || {
        "no command succeeded within 30 s of the space being freed".into()
    });
    out.expect(alive, || "the server exited".into());
    out.expect(panics == 0, || {
        format!("the server's log tells of {panics} panics")
    });
    Ok(out)
}
