//! Every acknowledgement follows its fsync, shown from the system calls: the server runs under
//! `strace -f -yy` (each fd decoded to its path or TCP endpoints), a few commands are sent, one
//! at a time and then many at once (one group commit), each with a note of its own; then, from
//! the trace, for every reply: the first write of the WAL (`…-wal`) carrying the command's
//! note, the first fdatasync/fsync of the WAL by the same thread after it (the commit's), and
//! the reply's bytes on the client's socket must come in that order, the sync finished before
//! the reply's write began. A copy of the trace with one sync moved after its reply must be
//! refused, so that the check is seen to fail when the order is wrong.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::node::Node;
use super::{Ctx, Outcome};
use crate::commands::Conn;
use crate::targets::tempdir::Dir;

/// One system call as strace wrote it (an unfinished call joined with its resumption).
#[derive(Debug, Clone)]
pub struct Call {
    pub tid: u32,
    pub name: String,
    /// The first argument's decoded fd: a path, or `TCP:[a->b]`.
    pub fd: String,
    /// Everything strace printed for it.
    pub text: String,
    /// Line numbers of its entry and of its completion.
    pub start: usize,
    pub end: usize,
    pub start_s: f64,
    pub end_s: f64,
    pub ret: Option<i64>,
}

/// The decorated fd at the start of `args` (`5</a/b-wal>, …`), and the rest.
fn fd_of(args: &str) -> String {
    let Some(lt) = args.find('<') else {
        return String::new();
    };
    if !args[..lt].chars().all(|c| c.is_ascii_digit()) {
        return String::new();
    }
    let inner = &args[lt + 1..];
    // The closing '>' is the one followed by ',' ')' ' ' or the end: a TCP endpoint holds "->".
    let bytes = inner.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'>'
            && matches!(
                bytes.get(i + 1),
                None | Some(b',') | Some(b')') | Some(b' ')
            )
        {
            return inner[..i].to_string();
        }
    }
    inner.to_string()
}

fn ret_of(text: &str) -> Option<i64> {
    let (_, r) = text.rsplit_once(") = ")?;
    r.split_whitespace().next()?.parse().ok()
}

/// Parses an `strace -f -ttt` trace.
pub fn parse(trace: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut pending: HashMap<u32, Call> = HashMap::new();
    for (i, line) in trace.lines().enumerate() {
        let mut parts = line.splitn(3, ' ');
        let (Some(tid), Some(t), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(tid), Ok(t)) = (tid.parse::<u32>(), t.parse::<f64>()) else {
            continue;
        };
        if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some(mut call) = pending.remove(&tid) else {
                continue;
            };
            call.end = i;
            call.end_s = t;
            call.text.push_str(resumed);
            call.ret = ret_of(&call.text);
            calls.push(call);
            continue;
        }
        let Some(open) = rest.find('(') else { continue };
        let name = &rest[..open];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let mut call = Call {
            tid,
            name: name.to_string(),
            fd: fd_of(&rest[open + 1..]),
            text: rest.to_string(),
            start: i,
            end: i,
            start_s: t,
            end_s: t,
            ret: None,
        };
        if rest.ends_with("<unfinished ...>") {
            pending.insert(tid, call);
        } else {
            call.ret = ret_of(rest);
            calls.push(call);
        }
    }
    calls.sort_by_key(|c| c.start);
    calls
}

fn is_socket_write(c: &Call) -> bool {
    matches!(c.name.as_str(), "write" | "writev" | "sendto" | "sendmsg")
        && (c.fd.starts_with("TCP") || c.fd.starts_with("socket:"))
}

fn is_wal_write(c: &Call) -> bool {
    matches!(c.name.as_str(), "write" | "pwrite64" | "writev" | "pwritev") && c.fd.ends_with("-wal")
}

fn is_wal_sync(c: &Call) -> bool {
    matches!(c.name.as_str(), "fdatasync" | "fsync") && c.fd.ends_with("-wal")
}

/// For one command: where its WAL write, the sync and the reply are in the trace.
#[derive(Debug, Clone)]
pub struct Proof {
    pub note: String,
    pub wal: Call,
    pub sync: Call,
    pub reply: Call,
}

/// Checks the order for every note; the first that is out of order is the error.
pub fn check(calls: &[Call], notes: &[String]) -> Result<Vec<Proof>> {
    let mut proofs = Vec::new();
    for note in notes {
        let Some(body) = calls
            .iter()
            .find(|c| is_socket_write(c) && c.text.contains(note.as_str()))
        else {
            bail!("{note}: no reply carrying it was written to a socket");
        };
        // The reply begins with its status line: the same call, or an earlier write on the
        // same socket (a head written apart from its body).
        let reply = if body.text.contains("HTTP/1.1 ") {
            body.clone()
        } else {
            calls
                .iter()
                .rfind(|c| {
                    is_socket_write(c)
                        && c.fd == body.fd
                        && c.start < body.start
                        && c.text.contains("HTTP/1.1 ")
                })
                .with_context(|| format!("{note}: no status line before the reply's body"))?
                .clone()
        };
        if !reply.text.contains("HTTP/1.1 201") {
            bail!("{note}: the reply is not a 201");
        }
        let Some(wal) = calls
            .iter()
            .find(|c| is_wal_write(c) && c.text.contains(note.as_str()))
        else {
            bail!("{note}: no write of the WAL carries it");
        };
        if wal.end >= reply.start {
            bail!(
                "{note}: the reply (line {}) was written before the command reached the WAL (line {})",
                reply.start + 1,
                wal.end + 1
            );
        }
        let Some(sync) = calls
            .iter()
            .find(|c| is_wal_sync(c) && c.tid == wal.tid && c.start > wal.end)
        else {
            bail!("{note}: the WAL was never synced after the command's write");
        };
        if sync.end >= reply.start {
            bail!(
                "{note}: the reply (line {}) began before the WAL's {} (lines {}–{}) had finished",
                reply.start + 1,
                sync.name,
                sync.start + 1,
                sync.end + 1
            );
        }
        if sync.ret != Some(0) {
            bail!("{note}: the WAL's {} failed", sync.name);
        }
        proofs.push(Proof {
            note: note.clone(),
            wal: wal.clone(),
            sync: sync.clone(),
            reply,
        });
    }
    Ok(proofs)
}

/// The trace with one proof's sync moved to just after its reply began: what an early
/// acknowledgement would look like.
pub fn misordered(trace: &str, p: &Proof) -> String {
    let lines: Vec<&str> = trace.lines().collect();
    let mut moved = vec![lines[p.sync.start]];
    if p.sync.end != p.sync.start {
        moved.push(lines[p.sync.end]);
    }
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        if i == p.sync.start || i == p.sync.end {
            continue;
        }
        out.push(*l);
        if i == p.reply.start {
            out.extend(moved.iter().copied());
        }
    }
    out.join("\n")
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// `width` characters either side of `needle` in `text`.
fn around(text: &str, needle: &str, width: usize) -> String {
    let Some(at) = text.find(needle) else {
        return String::new();
    };
    let before: String = text[..at]
        .chars()
        .rev()
        .take(width)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let after: String = text[at + needle.len()..].chars().take(width).collect();
    format!("{before}{needle}{after}")
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(cmd))
            .find(|p| p.is_file())
    })
}

async fn probe(port: u16, token: &str, notes: &[String]) -> Result<()> {
    let mut conn = Conn::open(port).await?;
    for (i, note) in notes.iter().enumerate() {
        let body = format!(
            "{{\"region\":{},\"type\":\"air_raid\",\"note\":\"{note}\"}}",
            PROBE_REGIONS[i]
        );
        let (status, answer) = conn
            .call(&crate::commands::post_request(
                "/api/v1/alerts",
                token,
                &body,
            ))
            .await?;
        if status != 201 {
            bail!(
                "a probe was answered {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
    }
    Ok(())
}

/// Oblasts, one alert each.
const PROBE_REGIONS: [u32; 24] = [
    3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
];

pub fn run(ctx: &Ctx) -> Result<Outcome> {
    let strace =
        which("strace").context("strace is not installed (Debian: apt-get install strace)")?;
    let dir = Dir::new("chaos-fsync")?;
    let trace_path = dir.0.join("trace.txt");
    let wrapper: Vec<OsString> = vec![
        strace.into_os_string(),
        "-f".into(),
        "-qq".into(),
        "-ttt".into(),
        "-yy".into(),
        "-s".into(),
        "8192".into(),
        "-e".into(),
        "trace=fdatasync,fsync,write,pwrite64,pwritev,writev,sendto,sendmsg".into(),
        "-o".into(),
        trace_path.clone().into_os_string(),
        "--".into(),
    ];
    let started = Instant::now();
    let mut node = Node::new(
        &ctx.exe,
        dir.0.join("tryvoga.db"),
        dir.0.join("serve.log"),
        &[],
    )?
    .wrapped(wrapper);
    node.start()?;
    let token = node
        .admin
        .clone()
        .context("the first start printed no admin token")?;
    let nonce = crate::wire::now_ns() % 1_000_000_007;
    let notes: Vec<String> = (0..PROBE_REGIONS.len())
        .map(|i| format!("fsyncprobe{i}n{nonce}"))
        .collect();
    let (one_by_one, together) = notes.split_at(6);
    let rt = super::runtime()?;
    rt.block_on(async {
        probe(node.port, &token, one_by_one).await?;
        // The rest at once, on connections of their own: answered after one group commit.
        let mut tasks = Vec::new();
        for (j, note) in together.iter().enumerate() {
            let (port, token, note) = (node.port, token.clone(), note.clone());
            let i = one_by_one.len() + j;
            tasks.push(tokio::spawn(async move {
                let mut conn = Conn::open(port).await?;
                let body = format!(
                    "{{\"region\":{},\"type\":\"air_raid\",\"note\":\"{note}\"}}",
                    PROBE_REGIONS[i]
                );
                let (status, _) = conn
                    .call(&crate::commands::post_request(
                        "/api/v1/alerts",
                        &token,
                        &body,
                    ))
                    .await?;
                if status != 201 {
                    bail!("a probe was answered {status}");
                }
                Ok::<_, anyhow::Error>(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    // A moment for the last writes to reach the trace, then the server is ended; strace ends
    // with it.
    std::thread::sleep(Duration::from_millis(300));
    node.stop();
    let trace = std::fs::read_to_string(&trace_path).context("reading the trace")?;
    let calls = parse(&trace);
    let syncs = calls.iter().filter(|c| is_wal_sync(c)).count();
    let proofs = check(&calls, &notes)?;
    // The check must refuse an acknowledgement that comes before its sync.
    let last = proofs.last().context("no proofs")?;
    let bad = misordered(&trace, last);
    let refused = match check(&parse(&bad), &notes) {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    };
    let distinct: HashSet<usize> = proofs.iter().map(|p| p.sync.start).collect();
    let gaps_us: Vec<f64> = proofs
        .iter()
        .map(|p| (p.reply.start_s - p.sync.end_s) * 1e6)
        .collect();
    let min_gap = gaps_us.iter().copied().fold(f64::INFINITY, f64::min);
    let max_gap = gaps_us.iter().copied().fold(0.0f64, f64::max);
    // The excerpt: one command of the group commit.
    let show = &proofs[proofs.len() - 1];
    let line_of = |c: &Call| short(trace.lines().nth(c.start).unwrap_or(""), 110);
    let end_of = |c: &Call| short(trace.lines().nth(c.end).unwrap_or(""), 110);
    let mut detail = format!(
        "  excerpt for {note} (of the group commit), fds decoded by strace:\n    WAL write:  {}\n                … {} …\n    WAL sync:   {}\n",
        line_of(&show.wal),
        around(&show.wal.text, &show.note, 30),
        line_of(&show.sync),
        note = show.note,
    );
    if show.sync.end != show.sync.start {
        detail.push_str(&format!("                {}\n", end_of(&show.sync)));
    }
    detail.push_str(&format!(
        "    reply:      {}\n                … {} …\n",
        line_of(&show.reply),
        around(&show.reply.text, &show.note, 30)
    ));
    let line = format!(
        "{n} commands ({a} one at a time, {b} at once) traced with strace -f -yy: each reply \
         written after the {sync} of the WAL that followed its write ({distinct} syncs for \
         {n} replies; {syncs} WAL syncs in the trace); sync end → reply {min_gap:.0}–{max_gap:.0} \
         µs; the same trace with one sync moved after its reply: {bad}; {secs:.1} s",
        n = proofs.len(),
        a = one_by_one.len(),
        b = together.len(),
        distinct = distinct.len(),
        sync = show.sync.name,
        bad = if refused.is_some() {
            "refused"
        } else {
            "ACCEPTED"
        },
        secs = started.elapsed().as_secs_f64()
    );
    let figures = json!({
        "commands": proofs.len(),
        "one_at_a_time": one_by_one.len(),
        "at_once": together.len(),
        "syncs_for_replies": distinct.len(),
        "wal_syncs_in_trace": syncs,
        "sync_end_to_reply_us_min": min_gap,
        "sync_end_to_reply_us_max": max_gap,
        "misordered_trace_refused_with": refused,
        "seconds": started.elapsed().as_secs_f64(),
    });
    let mut out = Outcome::new(line, figures);
    out.detail = Some(detail);
    out.expect(refused.is_some(), || {
        "the check accepted a trace whose reply came before its sync".into()
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
100 1.000001 pwrite64(7</d/t.db-wal>, \"\\0\\0\\0\\2\", 24, 4152) = 24
100 1.000002 pwrite64(7</d/t.db-wal>, \"...note-a...\", 4096, 4176) = 4096
100 1.000003 fdatasync(7</d/t.db-wal> <unfinished ...>
200 1.000004 write(9<TCP:[127.0.0.1:8080->127.0.0.1:5000]>, \"HTTP/1.1 201 Created\\r\\n\"..., 40) = 40
100 1.000005 <... fdatasync resumed>) = 0
201 1.000006 writev(10<TCP:[127.0.0.1:8080->127.0.0.1:5001]>, [{iov_base=\"HTTP/1.1 201 Created\\r\\n\", iov_len=22}, {iov_base=\"{\\\"note\\\":\\\"note-a\\\"}\", iov_len=16}], 2) = 38
";

    #[test]
    fn fds_are_decoded_past_the_arrow_of_a_tcp_endpoint() {
        assert_eq!(
            fd_of("9<TCP:[127.0.0.1:8080->127.0.0.1:5000]>, \"x\", 1"),
            "TCP:[127.0.0.1:8080->127.0.0.1:5000]"
        );
        assert_eq!(fd_of("7</d/t.db-wal>) = 0"), "/d/t.db-wal");
        assert_eq!(fd_of("7</d/t.db-wal> <unfinished ...>"), "/d/t.db-wal");
        assert_eq!(fd_of("1, \"x\""), "");
    }

    #[test]
    fn unfinished_calls_are_joined_with_their_resumption() {
        let calls = parse(GOOD);
        let sync = calls.iter().find(|c| c.name == "fdatasync").expect("sync");
        assert_eq!((sync.start, sync.end, sync.ret), (2, 4, Some(0)));
        assert_eq!(sync.fd, "/d/t.db-wal");
    }

    #[test]
    fn a_reply_after_the_sync_passes() {
        let proofs = check(&parse(GOOD), &["note-a".to_string()]).expect("in order");
        assert_eq!(proofs[0].reply.tid, 201);
    }

    #[test]
    fn a_reply_before_the_sync_finished_fails() {
        // Move the reply above the sync's completion.
        let mut lines: Vec<&str> = GOOD.lines().collect();
        let reply = lines.remove(5);
        lines.insert(4, reply);
        let err =
            check(&parse(&lines.join("\n")), &["note-a".to_string()]).expect_err("out of order");
        assert!(
            err.to_string().contains("before the WAL's fdatasync"),
            "{err}"
        );
    }

    #[test]
    fn a_reply_with_no_sync_after_the_write_fails() {
        let bad: String = GOOD
            .lines()
            .filter(|l| !l.contains("fdatasync"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(check(&parse(&bad), &["note-a".to_string()]).is_err());
    }

    #[test]
    fn the_misordered_copy_of_a_good_trace_is_refused() {
        let notes = ["note-a".to_string()];
        let proofs = check(&parse(GOOD), &notes).expect("in order");
        let bad = misordered(GOOD, &proofs[0]);
        assert!(check(&parse(&bad), &notes).is_err(), "{bad}");
    }
}
