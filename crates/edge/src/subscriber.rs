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

use crate::Edge;
use crate::hub::{Frame, RING};
use crate::protocol::{
    BATCH, Batch, ClientReader, ClientSaid, Cursor, PAGE, Then, WRITE_TIMEOUT, Wire, ws_frame,
};

/// Subscribers reading the log at the same time.
static CATCH_UP: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);
/// How often a subscriber blocked on a full socket checks how far behind the ring it is.
const LAG_CHECK: Duration = Duration::from_millis(100);

pub struct Subscriber {
    pub edge: Arc<Edge>,
    pub stream: TcpStream,
    pub cursor: Cursor,
    pub wire: Wire,
    /// Given back when the subscriber ends.
    pub _slot: Option<crate::limits::ConnSlot>,
}

enum Ended {
    Closed,
    Failed,
}

impl Subscriber {
    pub async fn run(mut self) {
        self.edge.hub.subscribers.fetch_add(1, Ordering::Relaxed);
        let hello = self.wire.hello(self.cursor.position);
        let _ = self.follow(hello).await;
        self.edge.hub.subscribers.fetch_sub(1, Ordering::Relaxed);
    }

    async fn follow(&mut self, hello: Bytes) -> Result<(), Ended> {
        self.write(&hello).await?;
        let mut client = ClientReader::new(self.wire);
        loop {
            self.catch_up().await?;
            loop {
                let received = tokio::select! {
                    received = self.cursor.rx.recv() => received,
                    () = self.cursor.grant.withdrawn() => {
                        let _ = self.write(&self.wire.revoked()).await;
                        if self.wire == Wire::WebSocket {
                            // 1008, policy violation: the client's right to read has ended.
                            let _ = self.write(&ws_frame(0x8, &[0x03, 0xf0])).await;
                        }
                        return Err(Ended::Closed);
                    }
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
                let (batch, then) = self.cursor.gather(received);
                self.write_frames(&batch).await?;
                drop(batch);
                match then {
                    Then::Follow => {}
                    Then::CatchUp => break,
                    Then::Lagged => {
                        self.edge.hub.dropped.fetch_add(1, Ordering::Relaxed);
                        let _ = self.write(&self.wire.dropped(self.cursor.position)).await;
                        return Err(Ended::Closed);
                    }
                    Then::Closed => return Err(Ended::Closed),
                }
            }
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

    /// Sends what the log holds after its position, a page at a time.
    async fn catch_up(&mut self) -> Result<(), Ended> {
        loop {
            if self.cursor.position >= self.edge.hub.last_seq() {
                // Nothing to read: a subscriber joining live costs no query. Anything committed
                // from now on comes through the ring, and a gap sends it back here.
                return Ok(());
            }
            // Thousands reconnecting at once (after a restart) take turns at the log rather
            // than each holding a blocking thread and a database connection. The turn ends
            // with the read: held through the write, a few clients that never read would keep
            // every other subscriber from its catch-up for the write timeout.
            let after = self.cursor.position;
            let page = {
                let Ok(_turn) = CATCH_UP.acquire().await else {
                    return Err(Ended::Failed);
                };
                self.edge.source.history(after, PAGE).await
            };
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    let _ = self.write(&self.wire.failed(after, &e.to_string())).await;
                    return Err(Ended::Failed);
                }
            };
            let out = self.cursor.page(&page, self.wire);
            if !out.is_empty() {
                self.write(&out).await?;
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
                            if self.cursor.rx.len() >= RING * 3 / 4 || since.elapsed() > WRITE_TIMEOUT {
                                self.edge.hub.dropped.fetch_add(1, Ordering::Relaxed);
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
