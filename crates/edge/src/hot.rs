//! Hot reads: the few answers that every device polls (the active alerts, the IoT strings),
//! answered by the front door itself from bytes built once per state, without hyper.
//!
//! Why by hand: through hyper and the router these reads reached 0.65–0.83× of nginx serving
//! the same bytes from a file (BENCHMARKS.md, "HTTP reads vs nginx" and "issue 14: edge hot
//! reads vs nginx"); the answer itself was already cached per state, so what remained was
//! hyper's per-request work (header maps, the service stack, the router's matching). Here a
//! request head is parsed with `httparse` in place and answered with one write of a head
//! built once per state, a cached `Date` and the body.
//!
//! Only the plainest requests take this path: `GET` or `HEAD`, HTTP/1.1, a path the
//! [`HotReads`] knows with no query string, no body, no `If-Modified-Since`, no upgrade.
//! Anything else, and everything after it on the connection, goes to hyper with the bytes
//! already read, so the router answers it exactly as before. Which paths are hot, and whether
//! an answer may be given without asking who calls, is the [`HotReads`]'s decision (the cli
//! gives it only reads that are public on that edge).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// An answer the front door may give for a path, built once per state.
pub struct HotAnswer {
    /// `HTTP/1.1 200 OK` and every header but `date`, each line ending in CRLF.
    ok_head: Bytes,
    /// The same for a 304, when the answer has an ETag.
    not_modified_head: Option<Bytes>,
    etag: Option<String>,
    body: Bytes,
}

impl HotAnswer {
    /// An answer with `headers` (names in lower case, as hyper writes them; no
    /// `content-length` or `date`, which are added), `body`, and, when `etag` is given, a 304
    /// with `not_modified` headers for a matching `If-None-Match`.
    pub fn new(
        headers: &[(&str, &str)],
        body: Bytes,
        etag: Option<&str>,
        not_modified: &[(&str, &str)],
    ) -> HotAnswer {
        let mut ok = String::from("HTTP/1.1 200 OK\r\n");
        for (name, value) in headers {
            ok.push_str(&format!("{name}: {value}\r\n"));
        }
        ok.push_str(&format!("content-length: {}\r\n", body.len()));
        let not_modified_head = etag.map(|_| {
            let mut nm = String::from("HTTP/1.1 304 Not Modified\r\n");
            for (name, value) in not_modified {
                nm.push_str(&format!("{name}: {value}\r\n"));
            }
            Bytes::from(nm)
        });
        HotAnswer {
            ok_head: Bytes::from(ok),
            not_modified_head,
            etag: etag.map(str::to_string),
            body,
        }
    }

    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// What the front door asks for a hot path.
pub trait HotReads: Send + Sync + 'static {
    /// The answer to `GET path` (no query string) from the current state, the same as the
    /// router would give; `None` to let the router answer (a path that is not hot, a read
    /// that needs a caller's token here, a replica still catching up).
    fn answer(&self, path: &str) -> Option<Arc<HotAnswer>>;
}

/// `Date: ...` for now, formatted once a second per thread.
fn date_line(out: &mut Vec<u8>) {
    use std::cell::RefCell;
    thread_local! {
        static DATE: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let now = chrono::Utc::now();
    let secs = now.timestamp();
    DATE.with_borrow_mut(|(at, line)| {
        if *at != secs {
            *at = secs;
            *line = now
                .format("date: %a, %d %b %Y %H:%M:%S GMT\r\n")
                .to_string();
        }
        out.extend_from_slice(line.as_bytes());
    });
}

/// What became of the bytes at the start of the buffer.
pub(crate) enum Step {
    /// Answered into `out`: the request took `consumed` bytes; `close` if the client asked.
    Answered { consumed: usize, close: bool },
    /// The head is not complete yet.
    Incomplete,
    /// Not for this path: the router answers it (and what follows on the connection).
    Fallback,
}

/// Answers the request at the start of `buf` into `out`, if it is a plain hot read.
pub(crate) fn answer(buf: &[u8], hot: &dyn HotReads, out: &mut Vec<u8>) -> Step {
    let mut slots = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut slots);
    let consumed = match request.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Step::Incomplete,
        Err(_) => return Step::Fallback,
    };
    let head_only = match request.method {
        Some("GET") => false,
        Some("HEAD") => true,
        _ => return Step::Fallback,
    };
    if request.version != Some(1) {
        return Step::Fallback;
    }
    let Some(path) = request.path else {
        return Step::Fallback;
    };
    if path.contains('?') || path.contains('#') {
        return Step::Fallback;
    }
    let mut close = false;
    let mut if_none_match = None;
    for h in request.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            if h.value.trim_ascii() != b"0" {
                return Step::Fallback;
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("if-modified-since")
            || name.eq_ignore_ascii_case("expect")
            || name.eq_ignore_ascii_case("upgrade")
        {
            return Step::Fallback;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if !token.eq_ignore_ascii_case(b"keep-alive") {
                    return Step::Fallback;
                }
            }
        } else if name.eq_ignore_ascii_case("if-none-match") {
            match std::str::from_utf8(h.value) {
                Ok(v) => if_none_match = Some(v),
                Err(_) => return Step::Fallback,
            }
        }
    }
    let Some(answer) = hot.answer(path) else {
        return Step::Fallback;
    };
    // As the handlers do: any listed tag equal to ours, or `*`, is a match.
    let matched = match (&answer.etag, if_none_match) {
        (Some(etag), Some(inm)) => inm.split(',').any(|t| t.trim() == etag || t.trim() == "*"),
        _ => false,
    };
    match (&answer.not_modified_head, matched) {
        (Some(head), true) => {
            out.extend_from_slice(head);
            if close {
                out.extend_from_slice(b"connection: close\r\n");
            }
            date_line(out);
            out.extend_from_slice(b"\r\n");
        }
        _ => {
            out.extend_from_slice(&answer.ok_head);
            if close {
                out.extend_from_slice(b"connection: close\r\n");
            }
            date_line(out);
            out.extend_from_slice(b"\r\n");
            if !head_only {
                out.extend_from_slice(&answer.body);
            }
        }
    }
    Step::Answered { consumed, close }
}

/// A connection whose first bytes were already read by the front door: hyper reads them
/// first, then the socket.
pub(crate) struct Prefixed {
    pub prefix: Bytes,
    pub stream: TcpStream,
}

impl Prefixed {
    pub fn new(prefix: BytesMut, stream: TcpStream) -> Prefixed {
        Prefixed {
            prefix: prefix.freeze(),
            stream,
        }
    }
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
