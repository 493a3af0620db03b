//! Issuers: each raises and ends alerts on (region, type) pairs of its own, every command
//! with an `Idempotency-Key` of its own, and sends a command again with the same key until it
//! gets an answer: after a refused connection, a connection cut, a timeout or a 503. So a
//! command whose answer was lost in a crash is answered the second time with the first
//! answer (`Idempotent-Replay: true`), and never recorded twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::commands::{Conn, TYPES, json_u64, region_ids};
use crate::wire::now_ns;

/// What every issuer of a scenario adds to, and the flag that stops them.
#[derive(Default)]
pub struct Tally {
    /// Set to stop: each issuer finishes the command it is sending, then returns.
    pub stop: AtomicBool,
    pub acked: AtomicU64,
    /// Answers that carried `Idempotent-Replay: true`: the command had been recorded, and its
    /// first answer was lost.
    pub replayed: AtomicU64,
    /// Sends after a refused or cut connection or a timeout.
    pub retries: AtomicU64,
    /// 503 answers (the record could not be written; nothing was changed).
    pub unavailable: AtomicU64,
    /// Other 5xx answers: there must be none.
    pub server_errors: AtomicU64,
    /// 4xx answers: with keys of their own, there must be none.
    pub refused: AtomicU64,
    /// The first thing that went wrong, for the error message.
    pub first_error: std::sync::Mutex<Option<String>>,
}

impl Tally {
    fn wrong(&self, out: &mut Issued, what: String) {
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert_with(|| what.clone());
        }
        out.errors.push(what);
    }
}

/// The kind of an acknowledged command, as the log names its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Started,
    Ended,
}

impl Kind {
    pub fn event(self) -> &'static str {
        match self {
            Kind::Started => "alert.started",
            Kind::Ended => "alert.ended",
        }
    }
}

/// One acknowledged command.
#[derive(Debug, Clone)]
pub struct Acked {
    pub kind: Kind,
    /// The alert's note, unique to the start that raised it.
    pub note: String,
    /// The sequence number the answer names (the alert's `seq`).
    pub seq: u64,
    /// When it was first sent and when its answer came (ns since the epoch).
    pub sent_ns: u64,
    pub acked_ns: u64,
}

pub struct Issuer {
    /// Tells this crew's keys and notes from another's on the same record.
    pub tag: &'static str,
    pub id: usize,
    pub port: u16,
    pub token: String,
    pub keys: Vec<(u32, &'static str)>,
    /// Extra bytes of note, to make events bigger.
    pub pad: usize,
    /// How long to wait for one answer before sending again.
    pub timeout: Duration,
    /// No command is sent after this; one that is still unanswered then is an error.
    pub deadline: Instant,
    pub tally: Arc<Tally>,
}

pub struct Issued {
    pub acked: Vec<Acked>,
    pub errors: Vec<String>,
}

fn request(path: &str, token: &str, key: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Idempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Every (region, type) pair of the raions and hromadas, for issuers to share out.
pub async fn region_keys(port: u16) -> Result<Vec<(u32, &'static str)>> {
    let mut conn = Conn::open(port).await?;
    let mut regions = region_ids(&mut conn, "raion").await?;
    regions.extend(region_ids(&mut conn, "hromada").await?);
    if regions.is_empty() {
        bail!("the server listed no regions");
    }
    Ok(TYPES
        .iter()
        .flat_map(|t| regions.iter().map(move |&r| (r, *t)))
        .collect())
}

/// Shares `keys` out among `n` issuers, none sharing a pair.
pub fn share(keys: &[(u32, &'static str)], n: usize) -> Vec<Vec<(u32, &'static str)>> {
    (0..n)
        .map(|i| keys.iter().skip(i).step_by(n.max(1)).copied().collect())
        .collect()
}

impl Issuer {
    pub async fn run(self) -> Issued {
        let mut out = Issued {
            acked: Vec::new(),
            errors: Vec::new(),
        };
        let mut conn: Option<Conn> = None;
        let mut n = 0u64;
        let pad = "x".repeat(self.pad);
        for &(region, kind) in self.keys.iter().cycle() {
            if self.tally.stop.load(Ordering::Acquire) {
                break;
            }
            n += 1;
            let note = format!("chaos-{}{}-{n}{pad}", self.tag, self.id);
            let body = format!("{{\"region\":{region},\"type\":\"{kind}\",\"note\":\"{note}\"}}");
            let req = request(
                "/api/v1/alerts",
                &self.token,
                &format!("{}{}-{n}-s", self.tag, self.id),
                &body,
            );
            let sent_ns = now_ns();
            let alert = match self.send(&mut conn, &req).await {
                Ok((201, body)) => {
                    let seq = json_u64(&body, "seq").unwrap_or(0);
                    out.acked.push(Acked {
                        kind: Kind::Started,
                        note: note.clone(),
                        seq,
                        sent_ns,
                        acked_ns: now_ns(),
                    });
                    let id = json_u64(&body, "id");
                    if id.is_none() {
                        self.tally.wrong(
                            &mut out,
                            format!(
                                "start {region}/{kind}: no alert id in {}",
                                String::from_utf8_lossy(&body)
                            ),
                        );
                    }
                    id
                }
                Ok((status, body)) => {
                    self.tally.wrong(
                        &mut out,
                        format!(
                            "start {region}/{kind}: HTTP {status}: {}",
                            String::from_utf8_lossy(&body)
                        ),
                    );
                    None
                }
                Err(e) => {
                    self.tally
                        .wrong(&mut out, format!("start {region}/{kind}: {e:#}"));
                    break;
                }
            };
            let Some(alert) = alert else { continue };
            if self.tally.stop.load(Ordering::Acquire) {
                break;
            }
            let req = request(
                &format!("/api/v1/alerts/{alert}/end"),
                &self.token,
                &format!("{}{}-{n}-e", self.tag, self.id),
                "{}",
            );
            let sent_ns = now_ns();
            match self.send(&mut conn, &req).await {
                Ok((200, body)) => out.acked.push(Acked {
                    kind: Kind::Ended,
                    note,
                    seq: json_u64(&body, "seq").unwrap_or(0),
                    sent_ns,
                    acked_ns: now_ns(),
                }),
                Ok((status, body)) => self.tally.wrong(
                    &mut out,
                    format!(
                        "end of {alert}: HTTP {status}: {}",
                        String::from_utf8_lossy(&body)
                    ),
                ),
                Err(e) => {
                    self.tally.wrong(&mut out, format!("end of {alert}: {e:#}"));
                    break;
                }
            }
        }
        out
    }

    /// Sends `req` until it is answered with anything but a 503; returns the answer.
    async fn send(&self, conn: &mut Option<Conn>, req: &[u8]) -> Result<(u16, Vec<u8>)> {
        let tally = &self.tally;
        let mut first = true;
        loop {
            if !first && Instant::now() > self.deadline {
                bail!("still unanswered at the scenario's deadline");
            }
            first = false;
            let c = match conn {
                Some(c) => c,
                None => match Conn::open(self.port).await {
                    Ok(c) => conn.insert(c),
                    Err(_) => {
                        tally.retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(25)).await;
                        continue;
                    }
                },
            };
            match tokio::time::timeout(self.timeout, c.call_with_head(req)).await {
                Ok(Ok((status, head, body))) => {
                    match status {
                        503 => {
                            tally.unavailable.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                        500..=599 => {
                            tally.server_errors.fetch_add(1, Ordering::Relaxed);
                        }
                        400..=499 => {
                            tally.refused.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            tally.acked.fetch_add(1, Ordering::Relaxed);
                            if head
                                .to_ascii_lowercase()
                                .contains("\r\nidempotent-replay: true")
                            {
                                tally.replayed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    return Ok((status, body));
                }
                // Cut, reset or too slow: the same request again on a new connection.
                _ => {
                    *conn = None;
                    tally.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            }
        }
    }
}

/// A crew of issuers sharing the (region, type) pairs of `keys`.
#[derive(Clone, Copy)]
pub struct Crew<'a> {
    /// Tells this crew's keys and notes from another's on the same record.
    pub tag: &'static str,
    pub issuers: usize,
    pub port: u16,
    pub token: &'a str,
    pub keys: &'a [(u32, &'static str)],
    pub pad: usize,
    pub timeout: Duration,
    pub deadline: Instant,
}

impl Crew<'_> {
    /// Starts the issuers on `rt`; each keeps going until `tally.stop`.
    pub fn spawn(
        &self,
        rt: &tokio::runtime::Runtime,
        tally: &Arc<Tally>,
    ) -> Vec<tokio::task::JoinHandle<Issued>> {
        share(self.keys, self.issuers)
            .into_iter()
            .enumerate()
            .map(|(id, keys)| {
                rt.spawn(
                    Issuer {
                        tag: self.tag,
                        id,
                        port: self.port,
                        token: self.token.to_string(),
                        keys,
                        pad: self.pad,
                        timeout: self.timeout,
                        deadline: self.deadline,
                        tally: Arc::clone(tally),
                    }
                    .run(),
                )
            })
            .collect()
    }
}

/// Stops the issuers and gathers what they were answered; any error fails the scenario.
pub fn finish(
    rt: &tokio::runtime::Runtime,
    tally: &Tally,
    handles: Vec<tokio::task::JoinHandle<Issued>>,
) -> Result<Vec<Acked>> {
    tally.stop.store(true, Ordering::Release);
    let mut acked = Vec::new();
    let mut errors = Vec::new();
    rt.block_on(async {
        for h in handles {
            let issued = h.await.context("an issuer task failed")?;
            acked.extend(issued.acked);
            errors.extend(issued.errors);
        }
        Ok::<_, anyhow::Error>(())
    })?;
    if !errors.is_empty() {
        let shown: Vec<&String> = errors.iter().take(5).collect();
        bail!("{} commands went wrong, first: {shown:?}", errors.len());
    }
    Ok(acked)
}

/// Waits until `tally.acked` reaches `count`, or fails at `deadline`.
pub fn wait_acked(tally: &Tally, count: u64, deadline: Instant) -> Result<()> {
    while tally.acked.load(Ordering::Relaxed) < count {
        let wrong =
            tally.refused.load(Ordering::Relaxed) + tally.server_errors.load(Ordering::Relaxed);
        if wrong > 0 {
            let first = tally
                .first_error
                .lock()
                .ok()
                .and_then(|f| f.clone())
                .unwrap_or_default();
            bail!(
                "{wrong} commands were refused or failed (4xx or a 5xx other than 503), first: {first}"
            );
        }
        if Instant::now() > deadline {
            bail!(
                "only {} of {count} commands acknowledged by the deadline",
                tally.acked.load(Ordering::Relaxed)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
