//! Stream subscribers as a client that must miss nothing: an SSE reader that keeps the id of
//! the last event it dispatched and, whenever its connection ends (cut by us, by the server, or
//! by a crash), connects again with `Last-Event-ID`; and "stuck" subscribers that ask for the
//! stream and never read a byte.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::wire::now_ns;

/// A small deterministic generator (xorshift64*), so that runs can be repeated.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi.saturating_sub(lo) + 1)
    }
}

pub struct Follow {
    pub port: u16,
    /// Resume after this sequence number (0: from the start of the log).
    pub after: u64,
    /// Hang up after a random number of events in this range, then resume.
    pub cuts: Option<(u64, u64)>,
    pub seed: u64,
    /// Stop once an event at or past this is dispatched (0: not known yet).
    pub target: Arc<AtomicU64>,
    /// Counted up once the first connection is open.
    pub connected: Arc<AtomicUsize>,
    pub deadline: Instant,
}

/// What one subscriber dispatched.
#[derive(Default)]
pub struct Followed {
    pub ids: Vec<u64>,
    /// When each was dispatched (ns since the epoch).
    pub at_ns: Vec<u64>,
    /// Connections we hung up on purpose.
    pub cuts: u64,
    /// Connections that ended otherwise (server gone, dropped), and refused connects.
    pub reconnects: u64,
}

impl Followed {
    /// Missing and repeated ids against `after + 1 ..= to`; also ids out of order count as
    /// repeated.
    pub fn check(&self, after: u64, to: u64) -> (u64, u64) {
        let mut seen = std::collections::HashSet::new();
        let mut repeats = 0;
        let mut prev = after;
        for &id in &self.ids {
            if !seen.insert(id) || id <= prev {
                repeats += 1;
            }
            prev = prev.max(id);
        }
        let missing = (after + 1..=to).filter(|id| !seen.contains(id)).count() as u64;
        (missing, repeats)
    }
}

enum Ended {
    Target,
    Cut,
    Lost,
}

impl Follow {
    pub async fn run(self) -> Result<Followed> {
        let mut out = Followed::default();
        let mut rng = Rng::new(self.seed);
        let mut last = self.after;
        let mut first = true;
        loop {
            if Instant::now() > self.deadline {
                bail!(
                    "the stream reached {last} of {} by the deadline",
                    self.target.load(Ordering::Acquire)
                );
            }
            let budget = self.cuts.map(|(lo, hi)| rng.range(lo, hi));
            match self
                .connection(&mut out, &mut last, budget, &mut first)
                .await
            {
                Ok(Ended::Target) => return Ok(out),
                Ok(Ended::Cut) => out.cuts += 1,
                Ok(Ended::Lost) | Err(_) => {
                    out.reconnects += 1;
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            }
        }
    }

    fn reached(&self, last: u64) -> bool {
        let target = self.target.load(Ordering::Acquire);
        target > 0 && last >= target
    }

    /// One connection: open with `Last-Event-ID: last`, dispatch events until the target, the
    /// cut budget or the end of the connection.
    async fn connection(
        &self,
        out: &mut Followed,
        last: &mut u64,
        budget: Option<u64>,
        first: &mut bool,
    ) -> Result<Ended> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).await?;
        stream
            .write_all(
                format!(
                    "GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: {last}\r\n\r\n"
                )
                .as_bytes(),
            )
            .await?;
        if std::mem::take(first) {
            self.connected.fetch_add(1, Ordering::AcqRel);
        }
        let mut buf = vec![0u8; 16 * 1024];
        let mut pending: Vec<u8> = Vec::new();
        let mut head_done = false;
        let mut block_id: Option<u64> = None;
        let mut block_data = false;
        let mut taken = 0u64;
        loop {
            if self.reached(*last) {
                return Ok(Ended::Target);
            }
            let n = match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf))
                .await
            {
                Err(_) => {
                    if Instant::now() > self.deadline {
                        return Ok(Ended::Lost);
                    }
                    continue;
                }
                Ok(Ok(0)) | Ok(Err(_)) => return Ok(Ended::Lost),
                Ok(Ok(n)) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            if !head_done {
                let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&pending[..end]).to_string();
                if !head.starts_with("HTTP/1.1 200") {
                    bail!("the stream answered {}", head.lines().next().unwrap_or(""));
                }
                pending.drain(..end + 4);
                head_done = true;
            }
            let mut start = 0;
            while let Some(nl) = pending[start..].iter().position(|&b| b == b'\n') {
                let line = &pending[start..start + nl];
                start += nl + 1;
                if line.is_empty() {
                    // The end of a block: an event is dispatched, and its id becomes the
                    // position to resume from (as an EventSource does).
                    if block_data && let Some(id) = block_id {
                        out.ids.push(id);
                        out.at_ns.push(now_ns());
                        *last = id;
                        taken += 1;
                        if self.reached(id) {
                            return Ok(Ended::Target);
                        }
                        if budget.is_some_and(|b| taken >= b) {
                            return Ok(Ended::Cut);
                        }
                    }
                    block_id = None;
                    block_data = false;
                } else if let Some(v) = line.strip_prefix(b"id: ") {
                    block_id = std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.trim().parse().ok());
                } else if line.starts_with(b"data:") {
                    block_data = true;
                }
            }
            pending.drain(..start);
        }
    }
}

/// A subscriber that asks for the stream after `after` and never reads: its receive buffer is
/// made small, so that the server's socket to it fills at once.
pub fn stuck(port: u16, after: u64) -> Result<std::net::TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.set_recv_buffer_size(4096)?;
    socket.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    let mut stream: std::net::TcpStream = socket.into();
    stream.write_all(
        format!("GET /api/v1/stream?after={after} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes(),
    )?;
    Ok(stream)
}

/// Reads what a stuck subscriber was sent, until the server closes it or `within` passes:
/// whether it was closed, and the ids of the complete events it got.
pub fn drain(mut stream: std::net::TcpStream, within: Duration) -> Result<(bool, Vec<u64>)> {
    let until = Instant::now() + within;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let closed = loop {
        if Instant::now() > until {
            break false;
        }
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(e) => return Err(e).context("reading a stuck subscriber"),
        }
    };
    // Only events whose block ended (a cut frame is not an event).
    let text = String::from_utf8_lossy(&bytes);
    let mut ids = Vec::new();
    let mut id = None;
    for line in text.split_inclusive('\n') {
        if !line.ends_with('\n') {
            break;
        }
        let line = line.trim_end_matches('\n');
        if line.is_empty() {
            if let Some(i) = id.take() {
                ids.push(i);
            }
        } else if let Some(v) = line.strip_prefix("id: ") {
            id = v.trim().parse().ok();
        }
    }
    Ok((closed, ids))
}

/// `tryvoga_stream_subscribers` and `tryvoga_stream_dropped_total` from `/metrics`.
pub fn stream_metrics(port: u16) -> Result<(u64, u64)> {
    let text = ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
        .timeout(Duration::from_secs(10))
        .call()
        .context("GET /metrics")?
        .into_string()?;
    let value = |name: &str| -> Result<u64> {
        text.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(' ')?;
                (k == name).then(|| v.trim().parse::<f64>().ok())?
            })
            .map(|v| v as u64)
            .with_context(|| format!("/metrics has no {name}"))
    };
    Ok((
        value("tryvoga_stream_subscribers")?,
        value("tryvoga_stream_dropped_total")?,
    ))
}
