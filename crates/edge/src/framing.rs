//! Watches the bytes hyper reads from an HTTP/1.1 connection, request after request, for a
//! head that gives its body's length two ways (`Content-Length` beside `Transfer-Encoding`,
//! RFC 9112 §6.1). hyper follows `Transfer-Encoding` and drops `Content-Length` before the
//! router sees the request, so the refusal cannot be made from the parsed headers: it has to be
//! made from the bytes. A proxy in front of us that reads the other header would take the
//! bytes between the two ends for a request of its own choosing (request smuggling).
//!
//! The watcher follows the connection's framing itself (heads, `Content-Length` bodies, chunked
//! bodies and their trailers) so that it looks for headers only where a head is, never inside
//! a body. Anything it cannot follow (an upgraded connection's frames, a head hyper will refuse
//! anyway) ends the watching; nothing it does changes the bytes hyper gets.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A head longer than this is hyper's to refuse (its own limit is lower); the watcher stops.
const MAX_HEAD: usize = 64 * 1024;
/// A chunk-size line or trailer section longer than this is not HTTP the watcher follows.
const MAX_LINE: usize = 4 * 1024;

/// Which request of the connection (counting from 1) had a head with two framings, 0 while
/// none has: the service refuses that request when hyper hands it over, and closes the
/// connection. Requests sent before it in the same packet (pipelined) are answered as usual.
#[derive(Clone, Default)]
pub struct Ambiguous {
    at: Arc<AtomicU64>,
    handed_over: Arc<AtomicU64>,
}

impl Ambiguous {
    /// Counts one more request handed over by hyper (which hands them over one at a time, in
    /// the order their heads came) and says whether it is the one to refuse.
    pub fn next_request_is(&self) -> bool {
        let request = self.handed_over.fetch_add(1, Ordering::AcqRel) + 1;
        self.at.load(Ordering::Acquire) == request
    }
}

/// An I/O stream whose reads are watched; writes pass through.
pub struct Watched<T> {
    inner: T,
    tracker: Tracker,
    ambiguous: Ambiguous,
}

impl<T> Watched<T> {
    pub fn new(inner: T) -> (Watched<T>, Ambiguous) {
        let ambiguous = Ambiguous::default();
        let watched = Watched {
            inner,
            tracker: Tracker::default(),
            ambiguous: ambiguous.clone(),
        };
        (watched, ambiguous)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let this = &mut *self;
            if this.tracker.feed(&buf.filled()[before..]) {
                this.ambiguous
                    .at
                    .store(this.tracker.heads, Ordering::Release);
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Where in the connection's framing the next byte falls.
#[derive(Debug, Default, PartialEq)]
enum Place {
    /// In a request head; the part seen so far when it came in pieces.
    #[default]
    Head,
    /// In a body of known length: this many bytes still to come.
    Body(u64),
    /// In a chunked body, on a chunk-size line.
    ChunkSize,
    /// In a chunk's data and the CRLF after it: this many bytes still to come.
    ChunkData(u64),
    /// In the trailer section after the last chunk.
    Trailers,
    /// No longer followed (see the module's note).
    Off,
}

#[derive(Default)]
struct Tracker {
    place: Place,
    /// Request heads seen whole so far.
    heads: u64,
    /// The part of a head, chunk-size line or trailer section seen so far.
    pending: Vec<u8>,
}

impl Tracker {
    /// Follows `bytes`; true when a head in them gives its body's length two ways.
    fn feed(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            match self.place {
                Place::Off => return false,
                Place::Body(left) | Place::ChunkData(left) => {
                    let take = left.min(bytes.len() as u64);
                    bytes = &bytes[take as usize..];
                    let left = left - take;
                    self.place = match (&self.place, left) {
                        (Place::Body(_), 0) => Place::Head,
                        (Place::Body(_), _) => Place::Body(left),
                        (_, 0) => Place::ChunkSize,
                        _ => Place::ChunkData(left),
                    };
                }
                Place::Head => {
                    let (used, head) = match self.take_until(bytes, ends_head, MAX_HEAD) {
                        Some(found) => found,
                        None => return false,
                    };
                    bytes = &bytes[used..];
                    self.heads += 1;
                    match framing(&head) {
                        Framing::Ambiguous => {
                            self.place = Place::Off;
                            return true;
                        }
                        Framing::Length(0) | Framing::Nothing => self.place = Place::Head,
                        Framing::Length(n) => self.place = Place::Body(n),
                        Framing::Chunked => self.place = Place::ChunkSize,
                        Framing::Unfollowable => self.place = Place::Off,
                    }
                }
                Place::ChunkSize => {
                    let (used, line) = match self.take_until(bytes, ends_line, MAX_LINE) {
                        Some(found) => found,
                        None => return false,
                    };
                    bytes = &bytes[used..];
                    self.place = match chunk_size(&line) {
                        Some(0) => Place::Trailers,
                        // The data, then its CRLF.
                        Some(n) => Place::ChunkData(n.saturating_add(2)),
                        None => Place::Off,
                    };
                }
                Place::Trailers => {
                    let (used, _) = match self.take_until(bytes, ends_trailers, MAX_LINE) {
                        Some(found) => found,
                        None => return false,
                    };
                    bytes = &bytes[used..];
                    self.place = Place::Head;
                }
            }
        }
        false
    }

    /// The bytes up to where `ends` says a section is whole (counting what came before in
    /// `pending`), and how many of `bytes` that used; `None` when the section goes on past
    /// `bytes`, which are then kept (or, past `limit`, the watching stops).
    fn take_until(
        &mut self,
        bytes: &[u8],
        ends: fn(&[u8]) -> Option<usize>,
        limit: usize,
    ) -> Option<(usize, Vec<u8>)> {
        let start = self.pending.len();
        self.pending.extend_from_slice(bytes);
        match ends(&self.pending) {
            Some(end) => {
                let section: Vec<u8> = self.pending.drain(..end).collect();
                self.pending.clear();
                Some((end - start, section))
            }
            None => {
                if self.pending.len() > limit {
                    self.place = Place::Off;
                    self.pending = Vec::new();
                }
                None
            }
        }
    }
}

/// The length of a request head in `bytes` if it is whole: up to its blank line, CRLF or a
/// bare LF as hyper accepts. Blank lines before a request line (RFC 9112 §2.2) count as part
/// of it.
fn ends_head(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    while at < bytes.len() && matches!(bytes[at], b'\r' | b'\n') {
        at += 1;
    }
    let mut i = at;
    while let Some(nl) = bytes[i..].iter().position(|&b| b == b'\n') {
        let nl = i + nl;
        let next = &bytes[nl + 1..];
        if next.first() == Some(&b'\n') {
            return Some(nl + 2);
        }
        if next.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        if next.is_empty() || next == b"\r" {
            return None;
        }
        i = nl + 1;
    }
    None
}

fn ends_line(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n').map(|nl| nl + 1)
}

/// The trailer section: header lines, then an empty line (the empty line alone when there are
/// no trailers).
fn ends_trailers(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let line_end = i + bytes[i..].iter().position(|&b| b == b'\n')?;
        let line = &bytes[i..line_end];
        if line.is_empty() || line == b"\r" {
            return Some(line_end + 1);
        }
        i = line_end + 1;
    }
}

enum Framing {
    Nothing,
    Length(u64),
    Chunked,
    Ambiguous,
    Unfollowable,
}

fn framing(head: &[u8]) -> Framing {
    let mut slots = [httparse::EMPTY_HEADER; 100];
    let mut request = httparse::Request::new(&mut slots);
    let Ok(httparse::Status::Complete(_)) = request.parse(head) else {
        return Framing::Unfollowable;
    };
    let has = |name: &str| {
        request
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(name))
    };
    let (length, encoding) = (has("content-length"), has("transfer-encoding"));
    if length && encoding {
        return Framing::Ambiguous;
    }
    if request.method == Some("CONNECT") || has("upgrade") {
        // What follows may be another protocol's bytes, not requests.
        return Framing::Unfollowable;
    }
    if encoding {
        return Framing::Chunked;
    }
    if length {
        let value = request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        return value.map_or(Framing::Unfollowable, Framing::Length);
    }
    Framing::Nothing
}

fn chunk_size(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let size = text.split(';').next()?.trim();
    u64::from_str_radix(size, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(bytes: &[u8]) -> bool {
        Tracker::default().feed(bytes)
    }

    /// The same bytes, fed one at a time: the answer must not depend on how reads split them.
    fn flags_bytewise(bytes: &[u8]) -> bool {
        let mut tracker = Tracker::default();
        bytes.iter().any(|b| tracker.feed(std::slice::from_ref(b)))
    }

    const SMUGGLE: &[u8] = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\
        Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";

    #[test]
    fn both_framings_in_one_head_are_seen_however_the_reads_fall() {
        assert!(flags(SMUGGLE));
        assert!(flags_bytewise(SMUGGLE));
        let reversed = b"POST /a HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 3\n\n";
        assert!(flags(reversed));
    }

    #[test]
    fn the_second_request_on_a_connection_is_watched_too() {
        let mut both = b"POST /a HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd".to_vec();
        both.extend_from_slice(b"GET /h HTTP/1.1\r\n\r\n");
        both.extend_from_slice(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        both.extend_from_slice(b"4;ext=1\r\nwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n");
        assert!(!flags(&both));
        assert!(!flags_bytewise(&both));
        both.extend_from_slice(SMUGGLE);
        assert!(flags(&both));
        assert!(flags_bytewise(&both));
    }

    #[test]
    fn header_names_inside_a_body_are_not_a_head() {
        let body = b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut request =
            format!("POST /n HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        request.extend_from_slice(body);
        request.extend_from_slice(b"GET /h HTTP/1.1\r\n\r\n");
        assert!(!flags(&request));
        assert!(!flags_bytewise(&request));
        let mut chunked = b"POST /n HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        chunked.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        chunked.extend_from_slice(body);
        chunked.extend_from_slice(b"\r\n0\r\n\r\n");
        assert!(!flags(&chunked));
        assert!(!flags_bytewise(&chunked));
    }

    #[test]
    fn an_upgraded_connection_or_garbage_ends_the_watching() {
        let mut upgraded =
            b"GET /api/v1/ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                .to_vec();
        upgraded.extend_from_slice(b"\x81\x85Content-Length: 1\r\nTransfer-Encoding: x\r\n\r\n");
        assert!(!flags(&upgraded));
        assert!(!flags(&[0xff; 70_000]));
        assert!(!flags_bytewise(
            b"\x00\x01\r\n\r\nContent-Length: 1\r\nTransfer-Encoding: c\r\n\r\n"
        ));
    }
}
