//! The stream protocol, once, for both paths a subscriber can arrive by: the lean one
//! ([`crate::subscriber`], raw sockets on the fan-out threads) and the router's fall-back
//! ([`crate::fallback`], a stream asked for on a reused keep-alive connection). What a
//! subscription asks for (its query, `Last-Event-ID`, where it starts), how frames and notices
//! are put on the wire (SSE, WebSocket), how a subscriber moves along its ring ([`Cursor`]:
//! what to send, when to read the log instead, when it has fallen too far behind) and what
//! the client may send back ([`ClientReader`]) are decided here, so the two paths cannot drift.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};
use tryvoga_bus::StoredEvent;
use tryvoga_core::{AlertType, RegionId, Registry};

use crate::error::ApiError;
use crate::hub::{Filter, Frame};

/// A comment (SSE) or ping (WebSocket) this often keeps proxies and clients from timing out.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// Events read from the log per query while catching up.
pub const PAGE: usize = 500;
/// A subscriber whose socket accepts nothing for this long is given up.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// The most frames one write carries (well under the kernel's limit of 1,024 slices).
pub const BATCH: usize = 64;

/// How frames are put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Sse,
    WebSocket,
}

impl Wire {
    pub fn frame(self, frame: &Frame) -> &Bytes {
        match self {
            Wire::Sse => &frame.sse,
            Wire::WebSocket => &frame.ws_frame,
        }
    }

    /// The first thing a subscriber is sent, saying where it follows from.
    pub fn hello(self, position: u64) -> Bytes {
        match self {
            // `retry` makes EventSource reconnect after a second, not after its default.
            Wire::Sse => Bytes::from(format!("retry: 1000\n: tryvoga stream from {position}\n\n")),
            Wire::WebSocket => ws_text(&format!("{{\"kind\":\"hello\",\"after\":{position}}}")),
        }
    }

    fn notice(self, event: &str, json: &str) -> Bytes {
        match self {
            Wire::Sse => Bytes::from(format!("event: {event}\ndata: {json}\n\n")),
            Wire::WebSocket => ws_text(json),
        }
    }

    /// The last thing a subscriber that fell too far behind is sent: where to resume.
    pub fn dropped(self, position: u64) -> Bytes {
        let json =
            format!("{{\"kind\":\"dropped\",\"reason\":\"too slow\",\"resume_after\":{position}}}");
        self.notice("dropped", &json)
    }

    /// The last thing a subscriber whose token was revoked is sent.
    pub fn revoked(self) -> Bytes {
        self.notice(
            "revoked",
            "{\"kind\":\"revoked\",\"message\":\"the token this stream was opened with has been revoked\"}",
        )
    }

    /// The last thing a subscriber is sent when the log could not be read for it.
    pub fn failed(self, resume_after: u64, message: &str) -> Bytes {
        let message = serde_json::Value::String(message.to_string());
        let json =
            format!("{{\"kind\":\"error\",\"resume_after\":{resume_after},\"message\":{message}}}");
        self.notice("error", &json)
    }
}

/// A server-to-client WebSocket text frame (servers never mask).
pub fn ws_text(payload: &str) -> Bytes {
    ws_frame(0x1, payload.as_bytes())
}

pub fn ws_frame(opcode: u8, payload: &[u8]) -> Bytes {
    let mut f = Vec::with_capacity(payload.len() + 10);
    f.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n < 65536 => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    Bytes::from(f)
}

/// Checks a WebSocket handshake's headers; the `Sec-WebSocket-Accept` answer to its key.
pub fn websocket_handshake(
    upgrade: Option<&str>,
    key: Option<&str>,
    version: Option<&str>,
) -> Result<String, ApiError> {
    let (true, Some(key)) = (upgrade.unwrap_or("").eq_ignore_ascii_case("websocket"), key) else {
        return Err(ApiError::new(
            axum::http::StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            "this endpoint speaks WebSocket: send Upgrade: websocket and Sec-WebSocket-Key",
        ));
    };
    if version.map(str::trim) != Some("13") {
        return Err(ApiError::bad_request("only WebSocket version 13 is spoken"));
    }
    Ok(websocket_accept(key))
}

/// The `Sec-WebSocket-Accept` answer to a client's key (RFC 6455 §4.2.2).
pub fn websocket_accept(key: &str) -> String {
    use base64::Engine;
    use sha1::{Digest, Sha1};
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// What a stream subscription asks for in its query string.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    pub after: Option<u64>,
    pub regions: Option<String>,
    pub types: Option<String>,
}

impl StreamQuery {
    pub fn parse(query: &str) -> Result<StreamQuery, ApiError> {
        serde_urlencoded::from_str(query).map_err(|e| ApiError::bad_request(format!("query: {e}")))
    }

    pub fn filter(&self, registry: &Registry) -> Result<Filter, ApiError> {
        let regions = self
            .regions
            .as_deref()
            .map(|list| {
                list.split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|r| registry.resolve(r).map(|r| r.id))
                    .collect::<Result<Vec<RegionId>, _>>()
            })
            .transpose()?;
        let types = self
            .types
            .as_deref()
            .map(|list| {
                list.split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|t| t.parse::<AlertType>())
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        Ok(Filter::new(registry, regions, types))
    }

    /// Where to follow from. A browser reconnects to the same URL, `?after=` and all, and adds
    /// `Last-Event-ID`: the header is the newer position, so it wins, or every reconnect would
    /// replay the page's life. A position beyond the log (an id from a database that has since
    /// been replaced) starts from now; otherwise every event until the log caught up with that
    /// number would be passed over as already sent.
    pub fn position(&self, last_event_id: Option<&str>, last_seq: u64) -> Result<u64, ApiError> {
        let header = last_event_id
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| ApiError::bad_request("Last-Event-ID must be a sequence number"))
            })
            .transpose()?;
        Ok(header
            .or(self.after)
            .map_or(last_seq, |after| after.min(last_seq)))
    }
}

/// The frames one write carries. A subscriber that keeps up is sent one frame at a time, and
/// that case allocates nothing.
#[derive(Default, Debug)]
pub enum Batch {
    #[default]
    Empty,
    One(Arc<Frame>),
    Many(Vec<Arc<Frame>>),
}

impl Batch {
    fn push(&mut self, frame: Arc<Frame>) {
        match std::mem::take(self) {
            Batch::Empty => *self = Batch::One(frame),
            Batch::One(first) => {
                let mut frames = Vec::with_capacity(BATCH);
                frames.push(first);
                frames.push(frame);
                *self = Batch::Many(frames);
            }
            Batch::Many(mut frames) => {
                frames.push(frame);
                *self = Batch::Many(frames);
            }
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Batch::Empty => 0,
            Batch::One(_) => 1,
            Batch::Many(frames) => frames.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn frames(&self) -> &[Arc<Frame>] {
        match self {
            Batch::Empty => &[],
            Batch::One(one) => std::slice::from_ref(one),
            Batch::Many(frames) => frames,
        }
    }
}

/// What a subscriber does once a batch of frames is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Wait for the next frame.
    Follow,
    /// Read the log from its position: the ring skipped something.
    CatchUp,
    /// It fell a whole ring behind.
    Lagged,
    /// The hub is gone.
    Closed,
}

/// Where one subscriber stands: its ring, what it wants, and the last sequence number it has
/// been given (or passed over).
pub struct Cursor {
    pub rx: broadcast::Receiver<Arc<Frame>>,
    pub filter: Filter,
    pub position: u64,
    /// Withdrawn when the reader's token is revoked; the stream then ends with a notice.
    pub grant: crate::gate::Grant,
}

impl Cursor {
    /// Takes `first` and every frame already waiting in the ring (up to [`BATCH`]): the ones
    /// this subscriber is to be sent, in order, and what to do after sending them. A subscriber
    /// that keeps up gets one frame per write; one that falls behind gets everything waiting in
    /// one write, so a burst costs it a few system calls rather than one per event.
    pub fn gather(&mut self, first: Result<Arc<Frame>, RecvError>) -> (Batch, Then) {
        let mut batch = Batch::default();
        let mut received = first;
        loop {
            match received {
                Ok(frame) => {
                    if frame.seq == 0 {
                        batch.push(frame);
                    } else if frame.history && frame.first_seq <= self.position + 1 {
                        // Imported past alerts are in the log but never on the wire.
                        self.position = self.position.max(frame.seq);
                    } else if frame.seq <= self.position {
                        // Already sent while catching up.
                    } else if frame.seq > self.position + 1 {
                        // Something committed before this subscriber joined the ring is
                        // missing: read it from the log.
                        return (batch, Then::CatchUp);
                    } else {
                        self.position = frame.seq;
                        if self.filter.matches(&frame) {
                            batch.push(frame);
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => return (batch, Then::Lagged),
                Err(RecvError::Closed) => return (batch, Then::Closed),
            }
            if batch.len() >= BATCH {
                return (batch, Then::Follow);
            }
            received = match self.rx.try_recv() {
                Ok(frame) => Ok(frame),
                Err(TryRecvError::Empty) => return (batch, Then::Follow),
                Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
            };
        }
    }

    /// The bytes a page read from the log comes to for this subscriber; moves it past the page.
    pub fn page(&mut self, page: &[StoredEvent], wire: Wire) -> Bytes {
        let mut out = Vec::new();
        for e in page {
            let frame = Frame::from_stored(e);
            if self.filter.matches(&frame) {
                out.extend_from_slice(wire.frame(&frame));
            }
            self.position = e.seq;
        }
        Bytes::from(out)
    }
}

/// What the client said on a stream.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientSaid {
    Nothing,
    Ping(Vec<u8>),
    Goodbye,
}

/// What the client sends on a stream: nothing for SSE (only its hanging up matters), and
/// control frames for WebSocket. Data frames from a WebSocket client are read and ignored.
pub struct ClientReader {
    wire: Wire,
    /// Bytes of an incomplete WebSocket frame header or control payload.
    pending: Vec<u8>,
    /// Payload bytes of an ignored data frame still to be skipped.
    skip: u64,
}

impl ClientReader {
    pub fn new(wire: Wire) -> ClientReader {
        ClientReader {
            wire,
            pending: Vec::new(),
            skip: 0,
        }
    }

    pub async fn next(&mut self, stream: &TcpStream) -> ClientSaid {
        // One waker slot in the socket's registration, replaced on every poll: unlike
        // `readable()`, nothing is linked into a waiter list and unlinked again each time an
        // event wakes the subscriber.
        if std::future::poll_fn(|cx| stream.poll_read_ready(cx))
            .await
            .is_err()
        {
            return ClientSaid::Goodbye;
        }
        let mut buf = [0u8; 256];
        let n = match stream.try_read(&mut buf) {
            Ok(0) => return ClientSaid::Goodbye,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return ClientSaid::Nothing,
            Err(_) => return ClientSaid::Goodbye,
        };
        self.feed(&buf[..n])
    }

    /// Bytes kept of a frame not yet complete: at most a header and a control payload.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Reads bytes the client sent; pure, so that it can be tested and fuzzed without a socket.
    pub fn feed(&mut self, data: &[u8]) -> ClientSaid {
        match self.wire {
            Wire::Sse => ClientSaid::Nothing,
            Wire::WebSocket => self.websocket(data),
        }
    }

    fn websocket(&mut self, mut data: &[u8]) -> ClientSaid {
        let mut said = ClientSaid::Nothing;
        loop {
            if self.skip > 0 {
                let n = (self.skip as usize).min(data.len());
                self.skip -= n as u64;
                data = &data[n..];
            }
            self.pending.extend_from_slice(data);
            data = &[];
            if self.pending.is_empty() {
                return said;
            }
            let Some((opcode, header, length, mask)) = parse_header(&self.pending) else {
                // A header is at most 14 bytes: more without one is not WebSocket.
                return if self.pending.len() > 14 {
                    ClientSaid::Goodbye
                } else {
                    said
                };
            };
            let is_control = opcode & 0x8 != 0;
            // RFC 6455: clients must mask, and control frames carry at most 125 bytes.
            let Some(mask) = mask.filter(|_| !is_control || length <= 125) else {
                return ClientSaid::Goodbye;
            };
            let have = (self.pending.len() - header) as u64;
            if !is_control {
                // Data frames from subscribers carry nothing we act on: skip their payload.
                if have >= length {
                    self.pending.drain(..header + length as usize);
                    continue;
                }
                self.skip = length - have;
                self.pending.clear();
                return said;
            }
            if have < length {
                return said;
            }
            let total = header + length as usize;
            let payload: Vec<u8> = self.pending[header..total]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            self.pending.drain(..total);
            match opcode {
                0x8 => return ClientSaid::Goodbye,
                0x9 => said = ClientSaid::Ping(payload),
                _ => {}
            }
        }
    }
}

/// A WebSocket frame header: opcode, header length, payload length, masking key.
fn parse_header(b: &[u8]) -> Option<(u8, usize, u64, Option<[u8; 4]>)> {
    if b.len() < 2 {
        return None;
    }
    let opcode = b[0] & 0x0f;
    let masked = b[1] & 0x80 != 0;
    let (length, mut at) = match b[1] & 0x7f {
        126 => (u64::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?])), 4),
        127 => {
            let bytes: [u8; 8] = b.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(bytes), 10)
        }
        n => (u64::from(n), 2),
    };
    let mask = if masked {
        let m: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(m)
    } else {
        None
    };
    Some((opcode, at, length, mask))
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
