//! What every scenario checks afterwards: the log read back through `GET /api/v1/events`
//! page by page, set against the commands that were acknowledged (each exactly once, at the
//! sequence its answer named, nothing in the log that nobody was answered for, no gap), the
//! SQLite file's own integrity check, and every event's signature by `tryvoga verify`.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;

use super::client::{Acked, Kind};
use super::node::Node;
use crate::commands::{Conn, get_request};

/// The log as the server serves it, and its head.
pub async fn read_log(port: u16) -> Result<(Vec<Value>, u64)> {
    let mut conn = Conn::open(port).await?;
    let mut events = Vec::new();
    let mut after = 0u64;
    let mut head = 0;
    loop {
        let (status, body) = conn
            .call(&get_request(&format!(
                "/api/v1/events?after={after}&limit=1000"
            )))
            .await?;
        if status != 200 {
            bail!("GET /api/v1/events?after={after}: HTTP {status}");
        }
        let page: Value = serde_json::from_slice(&body).context("the events page")?;
        head = page["last_seq"].as_u64().unwrap_or(head);
        let list = page["events"].as_array().cloned().unwrap_or_default();
        let Some(last) = list.last().and_then(|e| e["seq"].as_u64()) else {
            break;
        };
        after = last;
        events.extend(list);
    }
    Ok((events, head))
}

#[derive(Debug, Default, Serialize, Clone)]
pub struct LogCheck {
    pub events: u64,
    pub head: u64,
    /// Sequence numbers missing from 1..=head, or out of order.
    pub gaps: u64,
    /// Commands recorded more than once.
    pub duplicates: u64,
    /// Acknowledged commands not in the log.
    pub lost: u64,
    /// Acknowledged commands whose answer named another sequence than the log's.
    pub misplaced: u64,
    /// Events in the log that no acknowledged command accounts for.
    pub unacknowledged: u64,
}

impl LogCheck {
    pub fn clean(&self) -> bool {
        self.gaps == 0
            && self.duplicates == 0
            && self.lost == 0
            && self.misplaced == 0
            && self.unacknowledged == 0
            && self.events == self.head
    }

    pub fn summary(&self) -> String {
        format!(
            "log {} events (head {}): duplicates {}, gaps {}, lost {}, misplaced {}, unacknowledged {}",
            self.events,
            self.head,
            self.duplicates,
            self.gaps,
            self.lost,
            self.misplaced,
            self.unacknowledged
        )
    }
}

/// Sets the log against what was acknowledged. A command is known by its event kind and its
/// alert's note (unique to the start that raised the alert).
pub fn check_log(events: &[Value], head: u64, acked: &[Acked]) -> LogCheck {
    let mut c = LogCheck {
        events: events.len() as u64,
        head,
        ..LogCheck::default()
    };
    let mut expect = 1u64;
    let mut in_log: HashMap<(String, String), Vec<u64>> = HashMap::new();
    for e in events {
        let seq = e["seq"].as_u64().unwrap_or(0);
        if seq != expect {
            c.gaps += 1;
        }
        expect = seq + 1;
        let kind = e["kind"].as_str().unwrap_or("").to_string();
        let note = e["alert"]["note"].as_str().unwrap_or("").to_string();
        in_log.entry((kind, note)).or_default().push(seq);
    }
    if expect != head + 1 {
        c.gaps += 1;
    }
    c.duplicates = in_log
        .values()
        .map(|seqs| seqs.len() as u64 - 1)
        .sum::<u64>();
    let mut accounted = 0u64;
    let mut answered: HashMap<(Kind, &str), u64> = HashMap::new();
    for a in acked {
        *answered.entry((a.kind, a.note.as_str())).or_default() += 1;
        match in_log.get(&(a.kind.event().to_string(), a.note.clone())) {
            None => c.lost += 1,
            Some(seqs) => {
                if !seqs.contains(&a.seq) {
                    c.misplaced += 1;
                }
            }
        }
    }
    for (kind, note) in in_log.keys() {
        let k = match kind.as_str() {
            "alert.started" => Kind::Started,
            "alert.ended" => Kind::Ended,
            _ => continue,
        };
        if answered.contains_key(&(k, note.as_str())) {
            accounted += 1;
        }
    }
    c.unacknowledged = in_log.len() as u64 - accounted;
    // The same command answered twice would be one key acknowledged twice.
    c.duplicates += answered.values().map(|n| n - 1).sum::<u64>();
    c
}

/// `PRAGMA integrity_check` by the sqlite3 command on the (stopped) server's file.
pub fn integrity(db: &Path) -> Result<String> {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg("PRAGMA integrity_check;")
        .output()
        .context("running sqlite3 (Debian: apt-get install sqlite3)")?;
    if !out.status.success() {
        bail!(
            "sqlite3 {}: {}",
            db.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `tryvoga verify --db DB` over the events read back: how many signatures verified.
pub fn verify(exe: &Path, db: &Path, events: &[Value], scratch: &Path) -> Result<u64> {
    let file = scratch.join("events.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&serde_json::json!({ "events": events }))?,
    )?;
    let out = Command::new(exe)
        .arg("verify")
        .arg("--json")
        .arg("--db")
        .arg(db)
        .arg(&file)
        .env_remove("TRYVOGA_SIGNING_KEY")
        .output()
        .context("running tryvoga verify")?;
    let _ = std::fs::remove_file(&file);
    if !out.status.success() {
        bail!(
            "tryvoga verify failed: {}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let v: Value = serde_json::from_slice(&out.stdout).context("tryvoga verify --json")?;
    let verified = v["verified"].as_u64().unwrap_or(0);
    if verified != events.len() as u64 {
        bail!(
            "tryvoga verify checked {verified} of {} events",
            events.len()
        );
    }
    Ok(verified)
}

/// Everything after a scenario's run: the log against the acknowledgements (the server still
/// up), then, once it is stopped, integrity and signatures.
pub struct Verdict {
    pub log: LogCheck,
    pub integrity: String,
    pub signatures: u64,
}

/// Reads the log back from `node`, sets it against `acked`, stops the node, then checks the
/// file's integrity and every signature.
pub fn after_run(
    rt: &tokio::runtime::Runtime,
    exe: &Path,
    node: &mut Node,
    acked: &[Acked],
    scratch: &Path,
) -> Result<Verdict> {
    let (events, head) = rt.block_on(read_log(node.port))?;
    let log = check_log(&events, head, acked);
    node.stop();
    Ok(Verdict {
        log,
        integrity: integrity(&node.db)?,
        signatures: verify(exe, &node.db, &events, scratch)?,
    })
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.log.clean() && self.integrity == "ok"
    }

    pub fn summary(&self) -> String {
        format!(
            "{}; integrity_check {}; {} signatures verified",
            self.log.summary(),
            self.integrity,
            self.signatures
        )
    }

    pub fn failure(&self) -> String {
        format!(
            "the record is not what was acknowledged: {}",
            self.summary()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(seq: u64, kind: &str, note: &str) -> Value {
        json!({"seq": seq, "kind": kind, "alert": {"note": note}})
    }

    fn ack(kind: Kind, note: &str, seq: u64) -> Acked {
        Acked {
            kind,
            note: note.into(),
            seq,
            sent_ns: 0,
            acked_ns: 0,
        }
    }

    #[test]
    fn a_clean_log_passes() {
        let log = [
            ev(1, "alert.started", "a"),
            ev(2, "alert.ended", "a"),
            ev(3, "alert.started", "b"),
        ];
        let acked = [
            ack(Kind::Started, "a", 1),
            ack(Kind::Ended, "a", 2),
            ack(Kind::Started, "b", 3),
        ];
        let c = check_log(&log, 3, &acked);
        assert!(c.clean(), "{c:?}");
    }

    #[test]
    fn gaps_duplicates_losses_and_strays_are_counted() {
        let log = [
            ev(1, "alert.started", "a"),
            ev(3, "alert.started", "a"),
            ev(4, "alert.started", "z"),
        ];
        let acked = [
            ack(Kind::Started, "a", 1),
            ack(Kind::Started, "b", 2),
            ack(Kind::Ended, "a", 5),
        ];
        let c = check_log(&log, 4, &acked);
        assert_eq!(c.gaps, 1);
        assert_eq!(c.duplicates, 1);
        assert_eq!(c.lost, 2);
        assert_eq!(c.unacknowledged, 1);
        assert!(!c.clean());
    }
}
