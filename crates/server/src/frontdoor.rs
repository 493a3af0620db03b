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
use base64::Engine;
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use crate::api::stream::{StreamQuery, parse_filter};
use crate::app::SharedApp;
use crate::error::ApiError;
use crate::fanout::{Fanout, Handoff};
use crate::subscriber::Wire;

/// A comment (SSE) or ping (WebSocket) this often keeps proxies and clients from timing out.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
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
    app: SharedApp,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let fanout = std::sync::Arc::new(Fanout::start(&app.hub)?);
    let hub = app.hub.clone();
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
        let _ = stream.set_nodelay(true);
        // Weak: a keep-alive connection outliving `serve` must not keep the fan-out threads
        // (and every subscriber on them) alive.
        let (app, router, fanout) = (
            app.clone(),
            router.clone(),
            std::sync::Arc::downgrade(&fanout),
        );
        tokio::spawn(async move {
            match classify(&stream).await {
                Some(wire) => Box::pin(stream_request(stream, app, wire, fanout)).await,
                None => Box::pin(serve_http(stream, peer, router)).await,
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

async fn serve_http(stream: TcpStream, peer: SocketAddr, router: Router) {
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
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

/// The `Sec-WebSocket-Accept` answer to a client's key (RFC 6455 §4.2.2).
pub fn websocket_accept(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// A subscription as its handshake leaves it: the filter, the position to follow from, and a
/// receiver on one ring of the hub with that ring's index.
type Opened = (
    crate::hub::Filter,
    u64,
    usize,
    tokio::sync::broadcast::Receiver<std::sync::Arc<crate::hub::Frame>>,
);

/// Validates a stream request and answers its head; the subscription itself is returned so
/// that none of the parsing state stays alive while the subscriber idles.
async fn open(stream: &mut TcpStream, app: &SharedApp, wire: Wire) -> Result<Opened, ApiError> {
    let head = read_head(stream).await?;
    let request = StreamRequest::parse(&head)?;
    drop(head);
    app.check_read(&request.headers).await?;
    let query: StreamQuery = serde_urlencoded::from_str(&request.query)
        .map_err(|e| ApiError::bad_request(format!("query: {e}")))?;
    let filter = parse_filter(app, query.regions.as_deref(), query.types.as_deref())?;
    let last_event_id = request
        .header("last-event-id")
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::bad_request("Last-Event-ID must be a sequence number"))
        })
        .transpose()?;
    let answer = match wire {
        Wire::Sse => {
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
                      x-accel-buffering: no\r\nconnection: close\r\n\r\n"
                .to_string()
        }
        Wire::WebSocket => {
            let upgrade = request.header("upgrade").unwrap_or("");
            let key = request.header("sec-websocket-key");
            let (true, Some(key)) = (upgrade.eq_ignore_ascii_case("websocket"), key) else {
                return Err(ApiError::new(
                    StatusCode::UPGRADE_REQUIRED,
                    "upgrade_required",
                    "this endpoint speaks WebSocket: send Upgrade: websocket and Sec-WebSocket-Key",
                ));
            };
            if request.header("sec-websocket-version").map(str::trim) != Some("13") {
                return Err(ApiError::bad_request("only WebSocket version 13 is spoken"));
            }
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
                 sec-websocket-accept: {}\r\n\r\n",
                websocket_accept(key)
            )
        }
    };
    // Subscribe before reading the position, so nothing committed in between is missed.
    let (ring, rx) = app.hub.subscribe_next();
    // A browser reconnects to the same URL, `?after=` and all, and adds `Last-Event-ID`: the
    // header is the newer position, so it wins, or every reconnect would replay the page's life.
    let position = crate::hub::start_position(last_event_id.or(query.after), app.hub.last_seq());
    stream
        .write_all(answer.as_bytes())
        .await
        .map_err(|_| ApiError::bad_request("the connection failed"))?;
    Ok((filter, position, ring, rx))
}

/// Answers a stream request's handshake here, then moves the subscriber to its fan-out thread.
async fn stream_request(
    mut stream: TcpStream,
    app: SharedApp,
    wire: Wire,
    fanout: std::sync::Weak<Fanout>,
) {
    match open(&mut stream, &app, wire).await {
        Ok((filter, position, ring, rx)) => match (fanout.upgrade(), stream.into_std()) {
            // The server has stopped: dropping the socket closes the stream.
            (None, _) => {}
            (Some(fanout), Ok(stream)) => fanout.hand_over(
                ring,
                Handoff {
                    app,
                    stream,
                    rx,
                    filter,
                    position,
                    wire,
                },
            ),
            (Some(_), Err(e)) => {
                tracing::warn!(error = %e, "a subscriber's socket could not be moved");
            }
        },
        Err(e) => respond_error(&mut stream, &e).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_accept_matches_rfc_6455_example() {
        assert_eq!(
            websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
