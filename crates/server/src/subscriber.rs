//! One stream subscriber on a raw socket: catch up from the log, then follow the shared ring,
//! writing the frame bytes every subscriber shares. Nothing per subscriber is allocated on the
//! live path; the state kept while idle is the socket, a ring cursor and a few integers, which
//! is what lets one process hold tens of thousands of subscribers.

use std::io::IoSlice;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};
use tryvoga_store::queries;

use crate::app::SharedApp;
use crate::hub::{Filter, Frame, RING};

/// Events read from the log per query while catching up.
const PAGE: usize = 500;
/// A subscriber whose socket accepts nothing for this long is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Subscribers reading the log at the same time.
static CATCH_UP: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);
/// The most frames one write carries (well under the kernel's limit of 1,024 slices).
const BATCH: usize = 64;
/// How often a subscriber blocked on a full socket checks how far behind the ring it is.
const LAG_CHECK: Duration = Duration::from_millis(100);

/// How frames are put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Sse,
    WebSocket,
}

impl Wire {
    fn frame(self, frame: &Frame) -> &Bytes {
        match self {
            Wire::Sse => &frame.sse,
            Wire::WebSocket => &frame.ws_frame,
        }
    }

    fn hello(self, position: u64) -> Bytes {
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

pub struct Subscriber {
    pub app: SharedApp,
    pub stream: TcpStream,
    pub rx: broadcast::Receiver<Arc<Frame>>,
    pub filter: Filter,
    /// The last sequence number this subscriber has been given (or passed over).
    pub position: u64,
    pub wire: Wire,
}

enum Ended {
    Closed,
    Failed,
}

/// The frames one write carries. A subscriber that keeps up is sent one frame at a time, and
/// that case allocates nothing.
#[derive(Default)]
enum Batch {
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

    fn len(&self) -> usize {
        match self {
            Batch::Empty => 0,
            Batch::One(_) => 1,
            Batch::Many(frames) => frames.len(),
        }
    }
}

/// What a subscriber does once a batch of frames is written.
enum Then {
    /// Wait for the next frame.
    Follow,
    /// Read the log from its position: the ring skipped something.
    CatchUp,
    /// It fell a whole ring behind.
    Lagged,
    /// The hub is gone.
    Closed,
}

impl Subscriber {
    pub async fn run(mut self) {
        self.app.hub.subscribers.fetch_add(1, Ordering::Relaxed);
        let hello = self.wire.hello(self.position);
        let _ = self.follow(hello).await;
        self.app.hub.subscribers.fetch_sub(1, Ordering::Relaxed);
    }

    async fn follow(&mut self, hello: Bytes) -> Result<(), Ended> {
        self.write(&hello).await?;
        let mut client = ClientReader::new(self.wire);
        loop {
            self.catch_up().await?;
            loop {
                let received = tokio::select! {
                    received = self.rx.recv() => received,
                    read = client.next(&self.stream) => {
                        match read {
                            ClientSaid::Nothing => continue,
                            ClientSaid::Ping(payload) => {
                                self.write(&ws_frame(0xA, &payload)).await?;
                                continue;
                            }
                            ClientSaid::Goodbye => {
                                if self.wire == Wire::WebSocket {
                                    let _ = self.write(&ws_frame(0x8, &[0x03, 0xe8])).await;
                                }
                                return Err(Ended::Closed);
                            }
                        }
                    }
                };
                let (batch, then) = self.gather(received);
                self.write_frames(&batch).await?;
                drop(batch);
                match then {
                    Then::Follow => {}
                    Then::CatchUp => break,
                    Then::Lagged => {
                        self.app.hub.dropped.fetch_add(1, Ordering::Relaxed);
                        let json = format!(
                            "{{\"kind\":\"dropped\",\"reason\":\"too slow\",\"resume_after\":{}}}",
                            self.position
                        );
                        let _ = self.write(&self.wire.notice("dropped", &json)).await;
                        return Err(Ended::Closed);
                    }
                    Then::Closed => return Err(Ended::Closed),
                }
            }
        }
    }

    /// Takes `first` and every frame already waiting in the ring (up to [`BATCH`]): the ones
    /// this subscriber is to be sent, in order, and what to do after sending them. A subscriber
    /// that keeps up gets one frame per write; one that falls behind gets everything waiting in
    /// one write, so a burst costs it a few system calls rather than one per event.
    fn gather(&mut self, first: Result<Arc<Frame>, RecvError>) -> (Batch, Then) {
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

    /// Writes the frames' shared bytes with as few system calls as the socket allows.
    async fn write_frames(&mut self, batch: &Batch) -> Result<(), Ended> {
        let frames = match batch {
            Batch::Empty => return Ok(()),
            Batch::One(one) => return self.write(self.wire.frame(one)).await,
            Batch::Many(frames) => frames,
        };
        let mut written = match self.try_write_all_at_once(frames) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            Err(_) => return Err(Ended::Failed),
        };
        // The socket took part of it: the rest goes frame by frame, waiting as `write` does.
        for frame in frames {
            let bytes = self.wire.frame(frame);
            if written >= bytes.len() {
                written -= bytes.len();
                continue;
            }
            self.write(&bytes.slice(written..)).await?;
            written = 0;
        }
        Ok(())
    }

    /// One vectored write of every frame; the slices live on the stack of this call only, so
    /// they are never part of an idle subscriber's state.
    fn try_write_all_at_once(&self, frames: &[Arc<Frame>]) -> std::io::Result<usize> {
        let mut slices = [IoSlice::new(&[]); BATCH];
        let count = frames.len().min(BATCH);
        for (slice, frame) in slices.iter_mut().zip(frames) {
            *slice = IoSlice::new(self.wire.frame(frame));
        }
        self.stream.try_write_vectored(&slices[..count])
    }

    /// Sends what the log holds after `position`, a page at a time.
    async fn catch_up(&mut self) -> Result<(), Ended> {
        loop {
            if self.position >= self.app.hub.last_seq() {
                // Nothing to read: a subscriber joining live costs no query. Anything committed
                // from now on comes through the ring, and a gap sends it back here.
                return Ok(());
            }
            // Thousands reconnecting at once (after a restart) take turns at the log rather
            // than each holding a blocking thread and a database connection. The turn ends
            // with the read: held through the write, a few clients that never read would keep
            // every other subscriber from its catch-up for the write timeout.
            let after = self.position;
            let page = {
                let Ok(_turn) = CATCH_UP.acquire().await else {
                    return Err(Ended::Failed);
                };
                self.app
                    .read(move |s| s.read(|c| queries::events_after(c, after, PAGE)))
                    .await
            };
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    let json = format!(
                        "{{\"kind\":\"error\",\"resume_after\":{after},\"message\":{}}}",
                        serde_json::Value::String(e.message)
                    );
                    let _ = self.write(&self.wire.notice("error", &json)).await;
                    return Err(Ended::Failed);
                }
            };
            let mut out = Vec::new();
            for e in &page {
                let frame = Frame::from_stored(e);
                if self.filter.matches(&frame) {
                    out.extend_from_slice(self.wire.frame(&frame));
                }
                self.position = e.seq;
            }
            if !out.is_empty() {
                self.write(&Bytes::from(out)).await?;
            }
            if page.len() < PAGE {
                return Ok(());
            }
        }
    }

    async fn write(&mut self, bytes: &Bytes) -> Result<(), Ended> {
        // Most writes fit the socket buffer at once; only a full one needs waiting.
        let mut written = 0;
        let mut blocked_since = None;
        while written < bytes.len() {
            match self.stream.try_write(&bytes[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let since = *blocked_since.get_or_insert_with(tokio::time::Instant::now);
                    tokio::select! {
                        ready = self.stream.writable() => {
                            ready.map_err(|_| Ended::Failed)?;
                        }
                        () = tokio::time::sleep(LAG_CHECK) => {
                            // The client reads nothing while the ring moves on: let it go
                            // before the ring laps it, so that it resumes from the log.
                            if self.rx.len() >= RING * 3 / 4 || since.elapsed() > WRITE_TIMEOUT {
                                self.app.hub.dropped.fetch_add(1, Ordering::Relaxed);
                                return Err(Ended::Failed);
                            }
                        }
                    }
                }
                Err(_) => return Err(Ended::Failed),
            }
        }
        Ok(())
    }
}

enum ClientSaid {
    Nothing,
    Ping(Vec<u8>),
    Goodbye,
}

/// What the client sends on a stream: nothing for SSE (only its hanging up matters), and
/// control frames for WebSocket. Data frames from a WebSocket client are read and ignored.
struct ClientReader {
    wire: Wire,
    /// Bytes of an incomplete WebSocket frame header or control payload.
    pending: Vec<u8>,
    /// Payload bytes of an ignored data frame still to be skipped.
    skip: u64,
}

impl ClientReader {
    fn new(wire: Wire) -> ClientReader {
        ClientReader {
            wire,
            pending: Vec::new(),
            skip: 0,
        }
    }

    async fn next(&mut self, stream: &TcpStream) -> ClientSaid {
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
        match self.wire {
            Wire::Sse => ClientSaid::Nothing,
            Wire::WebSocket => self.websocket(&buf[..n]),
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
