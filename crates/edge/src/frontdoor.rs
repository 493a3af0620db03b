//! The front door: accepts every connection and looks at its request line before anything
//! else reads it. Stream subscriptions go to the lean writers in [`crate::subscriber`], which
//! keep a few hundred bytes per idle subscriber; every other request is served by the HTTP
//! router through hyper as usual. Every connection has a deadline for its request head (the
//! whole head, not each read), so that a client cannot hold a socket by withholding it.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use std::sync::Arc;

use bytes::{Buf, BytesMut};

use crate::Edge;
use crate::error::ApiError;
use crate::fanout::{Fanout, Handoff};
use crate::hot::{self, HotReads};
use crate::protocol::{Cursor, HEARTBEAT, StreamQuery, Wire, websocket_handshake};
/// The longest request head a stream request may have.
const MAX_HEAD: usize = 16 * 1024;
/// A client that has not sent its request head by then is let go.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an API connection may take to send a request head, the first or the next on a
/// kept-alive connection.
const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

const STREAM_PATHS: &[(&[u8], Wire)] = &[
    (b"GET /api/v1/stream", Wire::Sse),
    (b"GET /api/v1/ws", Wire::WebSocket),
];

/// Serves `router` and the lean streams on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    edge: Arc<Edge>,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, edge, router, None, shutdown).await
}

/// [`serve`], with the hot reads `hot` answers taken by the front door itself
/// ([`crate::hot`]).
pub async fn serve_with(
    listener: TcpListener,
    edge: Arc<Edge>,
    router: Router,
    hot: Option<Arc<dyn HotReads>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let fanout = Arc::new(Fanout::start(&edge.hub)?);
    let hub = edge.hub.clone();
    let heartbeat = tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        loop {
            tick.tick().await;
            hub.heartbeat();
        }
    });
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors or a connection reset before accept: wait a moment
                // rather than spin; the listener itself is fine.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = edge.conn_limit.admit(peer.ip()) else {
            // Refused before anything is read, so a crowd from one address costs a write each.
            let _ = stream.try_write(crate::limits::REFUSAL);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Weak: a keep-alive connection outliving `serve` must not keep the fan-out threads
        // (and every subscriber on them) alive.
        let (edge, router, fanout) = (edge.clone(), router.clone(), Arc::downgrade(&fanout));
        let hot = hot.clone();
        tokio::spawn(async move {
            // Held by this task, or by the subscriber it becomes.
            let slot = Some(slot);
            match (classify(&stream).await, hot) {
                (Some(wire), _) => Box::pin(stream_request(stream, edge, wire, fanout, slot)).await,
                (None, Some(hot)) => Box::pin(serve_hot(stream, peer, router, hot)).await,
                (None, None) => Box::pin(serve_http(stream, peer, router)).await,
            }
        });
    }
    heartbeat.abort();
    Ok(())
}

/// Which lean stream the request line asks for, if any, read without consuming it.
async fn classify(stream: &TcpStream) -> Option<Wire> {
    let mut probe = [0u8; 24];
    for _ in 0..100 {
        let n = tokio::time::timeout(HEAD_TIMEOUT, stream.peek(&mut probe))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        let seen = &probe[..n];
        let mut still_possible = false;
        for &(prefix, wire) in STREAM_PATHS {
            if seen.len() > prefix.len() {
                if seen.starts_with(prefix) && matches!(seen[prefix.len()], b' ' | b'?') {
                    return Some(wire);
                }
            } else if prefix.starts_with(seen) {
                still_possible = true;
            }
        }
        if !still_possible {
            return None;
        }
        // Only part of the request line has arrived; it is rarely split, so poll briefly.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// Answers hot reads on a connection for as long as its requests are hot ones; the first that
/// is not, with everything after it, goes to hyper along with the bytes already read.
async fn serve_hot(
    mut stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    hot: Arc<dyn HotReads>,
) {
    let mut buf = BytesMut::with_capacity(4096);
    let mut out = Vec::with_capacity(16 * 1024);
    // The whole head within the idle timeout, as hyper's `header_read_timeout`.
    let mut deadline = tokio::time::Instant::now() + HTTP_IDLE_TIMEOUT;
    loop {
        while !buf.is_empty() {
            match hot::answer(&buf, &*hot, &mut out) {
                hot::Step::Answered { consumed, close } => {
                    if stream.write_all(&out).await.is_err() {
                        return;
                    }
                    out.clear();
                    buf.advance(consumed);
                    if close {
                        let _ = stream.shutdown().await;
                        return;
                    }
                    deadline = tokio::time::Instant::now() + HTTP_IDLE_TIMEOUT;
                }
                hot::Step::Incomplete if buf.len() <= MAX_HEAD => break,
                hot::Step::Incomplete | hot::Step::Fallback => {
                    let io = hot::Prefixed::new(buf, stream);
                    return serve_http_on(io, peer, router).await;
                }
            }
        }
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            // Closed, failed, or idle past the deadline.
            _ => return,
        }
    }
}

async fn serve_http(stream: TcpStream, peer: SocketAddr, router: Router) {
    serve_http_on(stream, peer, router).await
}

async fn serve_http_on<IO>(stream: IO, peer: SocketAddr, router: Router)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (stream, ambiguous) = crate::framing::Watched::new(stream);
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            let router = router.clone();
            let refuse = ambiguous.next_request_is();
            async move {
                if refuse {
                    let refusal = ambiguous_refusal();
                    // The body's end is unknowable, so the connection cannot be trusted for a
                    // next request either: answered, then closed.
                    let mut response = refusal.into_response();
                    response.headers_mut().insert(
                        axum::http::header::CONNECTION,
                        HeaderValue::from_static("close"),
                    );
                    return Ok(response);
                }
                request.extensions_mut().insert(ConnectInfo(peer));
                router.oneshot(request).await
            }
        });
    // Without a timer hyper keeps no time at all: a connection that never finishes a request
    // head, or idles between requests, would hold its socket forever.
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HTTP_IDLE_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}

/// A request that says how long its body is in two ways (RFC 9112 §6.1): `Content-Length`
/// beside `Transfer-Encoding`. A proxy in front of us may read one and we the other, and the
/// bytes between the two ends would be taken as a request nobody sent (request smuggling), so
/// it is refused outright rather than read by the one rule hyper follows.
/// On the API path hyper has already dropped `Content-Length` by the time a request is seen,
/// so there `crate::framing` watches the bytes instead.
fn ambiguous_framing(headers: &HeaderMap) -> Option<ApiError> {
    let has = |name| headers.contains_key(name);
    (has(axum::http::header::CONTENT_LENGTH) && has(axum::http::header::TRANSFER_ENCODING))
        .then(ambiguous_refusal)
}

fn ambiguous_refusal() -> ApiError {
    ApiError::bad_request(
        "the request has both Content-Length and Transfer-Encoding (RFC 9112 section 6.1)",
    )
}

/// What a stream request asked for, parsed out of its head.
struct StreamRequest {
    query: String,
    headers: HeaderMap,
}

impl StreamRequest {
    fn parse(head: &[u8]) -> Result<StreamRequest, ApiError> {
        let mut slots = [httparse::EMPTY_HEADER; 48];
        let mut request = httparse::Request::new(&mut slots);
        match request.parse(head) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => {
                return Err(ApiError::bad_request(
                    "the request head is not valid HTTP/1.1",
                ));
            }
        }
        let path = request.path.unwrap_or("/");
        let query = path
            .split_once('?')
            .map(|(_, q)| q.to_string())
            .unwrap_or_default();
        let mut headers = HeaderMap::new();
        for h in request.headers.iter() {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(h.name.as_bytes()),
                HeaderValue::from_bytes(h.value),
            ) {
                headers.append(name, value);
            }
        }
        if let Some(refusal) = ambiguous_framing(&headers) {
            return Err(refusal);
        }
        // A subscription has no body; one announced would be read as the client's frames.
        let announces_body = headers.contains_key(axum::http::header::TRANSFER_ENCODING)
            || headers
                .get(axum::http::header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0");
        if announces_body {
            return Err(ApiError::bad_request("a stream request has no body"));
        }
        Ok(StreamRequest { query, headers })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Reads a request head: up to the blank line (CRLF or, as httparse and hyper allow, a bare
/// LF), within `HEAD_TIMEOUT` for the whole head, so that a client trickling bytes cannot hold
/// a connection open for longer than a silent one.
async fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, ApiError> {
    let deadline = tokio::time::Instant::now() + HEAD_TIMEOUT;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .map_err(|_| ApiError::bad_request("the request head did not arrive in time"))?
            .map_err(|_| ApiError::bad_request("the connection failed"))?;
        if n == 0 {
            return Err(ApiError::bad_request("the connection closed mid-request"));
        }
        // Only the new bytes, and the two before them, can complete the blank line.
        let scan_from = head.len().saturating_sub(2);
        head.extend_from_slice(&chunk[..n]);
        if ends_head(&head[scan_from..]) {
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "head_too_large",
                format!("the request head is larger than {MAX_HEAD} bytes"),
            ));
        }
    }
}

/// Whether `bytes` hold the blank line that ends a head: `\n\r\n` (in `\r\n\r\n`) or `\n\n`.
fn ends_head(bytes: &[u8]) -> bool {
    bytes
        .windows(2)
        .enumerate()
        .any(|(i, w)| w == b"\n\n" || (w == b"\n\r" && bytes.get(i + 2) == Some(&b'\n')))
}

async fn respond_error(stream: &mut TcpStream, e: &ApiError) {
    let body = e.body().to_string();
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        e.status.as_u16(),
        e.status.canonical_reason().unwrap_or(""),
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Validates a stream request and answers its head; the subscription itself is returned so
/// that none of the parsing state stays alive while the subscriber idles.
async fn open(
    stream: &mut TcpStream,
    edge: &Edge,
    wire: Wire,
) -> Result<(usize, Cursor), ApiError> {
    let head = read_head(stream).await?;
    let request = StreamRequest::parse(&head)?;
    drop(head);
    let grant = edge.gate.check(&request.headers).await?;
    let query = StreamQuery::parse(&request.query)?;
    let filter = query.filter(edge.registry)?;
    let answer = match wire {
        Wire::Sse => {
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
                      x-accel-buffering: no\r\nconnection: close\r\n\r\n"
                .to_string()
        }
        Wire::WebSocket => {
            let accept = websocket_handshake(
                request.header("upgrade"),
                request.header("sec-websocket-key"),
                request.header("sec-websocket-version"),
            )?;
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
                 sec-websocket-accept: {accept}\r\n\r\n"
            )
        }
    };
    // Subscribe before reading the position, so nothing committed in between is missed.
    let (ring, rx) = edge.hub.subscribe_next();
    let position = query.position(request.header("last-event-id"), edge.source.head())?;
    stream
        .write_all(answer.as_bytes())
        .await
        .map_err(|_| ApiError::bad_request("the connection failed"))?;
    Ok((
        ring,
        Cursor {
            rx,
            filter,
            position,
            grant,
        },
    ))
}

/// Answers a stream request's handshake here, then moves the subscriber to its fan-out thread.
async fn stream_request(
    mut stream: TcpStream,
    edge: Arc<Edge>,
    wire: Wire,
    fanout: std::sync::Weak<Fanout>,
    slot: Option<crate::limits::ConnSlot>,
) {
    match open(&mut stream, &edge, wire).await {
        Ok((ring, cursor)) => match (fanout.upgrade(), stream.into_std()) {
            // The server has stopped: dropping the socket closes the stream.
            (None, _) => {}
            (Some(fanout), Ok(stream)) => fanout.hand_over(
                ring,
                Handoff {
                    edge,
                    stream,
                    cursor,
                    wire,
                    slot,
                },
            ),
            (Some(_), Err(e)) => {
                tracing::warn!(error = %e, "a subscriber's socket could not be moved");
            }
        },
        Err(e) => respond_error(&mut stream, &e).await,
    }
}
