//! Streams asked for on a connection that already carried other requests (browsers reuse
//! their connections) reach the router rather than the front door. They are served here,
//! through hyper, by the same protocol as the lean path ([`crate::protocol`]: the same query,
//! position, catch-up, ring, filter, notices and drop rules), at a higher cost per connection.
//! `/api/v1/stream` answers with an SSE body; `/api/v1/ws` upgrades the connection and then
//! follows as a lean WebSocket subscriber does.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::Edge;
use crate::error::ApiError;
use crate::protocol::{
    ClientReader, ClientSaid, Cursor, PAGE, StreamQuery, Then, WRITE_TIMEOUT, Wire,
    websocket_handshake, ws_frame,
};

/// The routes of the fall-back path, for the router the front door hands other requests to.
pub fn routes<S: Clone + Send + Sync + 'static>(edge: Arc<Edge>) -> Router<S> {
    Router::new()
        .route("/api/v1/stream", get(stream))
        .route("/api/v1/ws", get(websocket))
        .with_state(edge)
}

enum Phase {
    Hello,
    CatchUp,
    Live,
    Done,
}

struct Subscription {
    edge: Arc<Edge>,
    cursor: Cursor,
    phase: Phase,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.edge.hub.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Subscription {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            match self.phase {
                Phase::Done => return None,
                Phase::Hello => {
                    self.phase = Phase::CatchUp;
                    return Some(Wire::Sse.hello(self.cursor.position));
                }
                Phase::CatchUp => {
                    let after = self.cursor.position;
                    let page = match self.edge.source.history(after, PAGE).await {
                        Ok(p) => p,
                        Err(e) => {
                            self.phase = Phase::Done;
                            return Some(Wire::Sse.failed(after, &e.to_string()));
                        }
                    };
                    if page.len() < PAGE {
                        self.phase = Phase::Live;
                    }
                    let out = self.cursor.page(&page, Wire::Sse);
                    if !out.is_empty() {
                        return Some(out);
                    }
                }
                Phase::Live => {
                    let received = tokio::select! {
                        received = self.cursor.rx.recv() => received,
                        () = self.cursor.grant.withdrawn() => {
                            self.phase = Phase::Done;
                            return Some(Wire::Sse.revoked());
                        }
                    };
                    let (batch, then) = self.cursor.gather(received);
                    match then {
                        Then::Follow => {}
                        Then::CatchUp => self.phase = Phase::CatchUp,
                        Then::Lagged => {
                            self.edge.hub.dropped.fetch_add(1, Ordering::Relaxed);
                            self.phase = Phase::Done;
                            let mut out = concat(batch.frames().iter().map(|f| &f.sse[..]));
                            out.extend_from_slice(&Wire::Sse.dropped(self.cursor.position));
                            return Some(Bytes::from(out));
                        }
                        Then::Closed => self.phase = Phase::Done,
                    }
                    if !batch.is_empty() {
                        return Some(Bytes::from(concat(
                            batch.frames().iter().map(|f| &f.sse[..]),
                        )));
                    }
                }
            }
        }
    }
}

fn concat<'a>(parts: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

async fn stream(
    State(edge): State<Arc<Edge>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let grant = edge.gate.check(&headers).await?;
    let query = StreamQuery::parse(query.as_deref().unwrap_or(""))?;
    let filter = query.filter(edge.registry)?;
    // Subscribe before reading the position, so nothing committed in between is missed.
    let rx = edge.hub.subscribe();
    let last_event_id = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("not text"));
    let position = query.position(last_event_id, edge.source.head())?;
    edge.hub.subscribers.fetch_add(1, Ordering::Relaxed);
    let sub = Subscription {
        edge,
        cursor: Cursor {
            rx,
            filter,
            position,
            grant,
        },
        phase: Phase::Hello,
    };
    let body = futures_util::stream::unfold(sub, |mut sub| async move {
        sub.next_chunk()
            .await
            .map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), sub))
    });
    let mut response = Body::from_stream(body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    // A stream that ends (dropped, revoked) ends its connection too, as on the lean path: a
    // client that reconnects does so on a new connection, through the front door.
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    Ok(response)
}

/// `/api/v1/ws` on a reused connection: the handshake is answered through hyper, and the
/// upgraded connection then follows the same protocol as a lean WebSocket subscriber.
async fn websocket(
    State(edge): State<Arc<Edge>>,
    mut request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    let grant = edge.gate.check(headers).await?;
    let query = StreamQuery::parse(request.uri().query().unwrap_or(""))?;
    let filter = query.filter(edge.registry)?;
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let accept = websocket_handshake(
        text("upgrade"),
        text("sec-websocket-key"),
        text("sec-websocket-version"),
    )?;
    let rx = edge.hub.subscribe();
    let position = query.position(text("last-event-id"), edge.source.head())?;
    let upgrade = hyper::upgrade::on(&mut request);
    let cursor = Cursor {
        rx,
        filter,
        position,
        grant,
    };
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => websocket_session(edge, TokioIo::new(upgraded), cursor).await,
            Err(e) => tracing::debug!(error = %e, "a WebSocket upgrade did not complete"),
        }
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    Ok(response)
}

/// A WebSocket subscriber on a connection hyper upgraded: hello, catch-up from the log, then
/// the ring, answering pings and hanging up on a close, as the lean subscriber does.
async fn websocket_session<T>(edge: Arc<Edge>, io: T, mut cursor: Cursor)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    edge.hub.subscribers.fetch_add(1, Ordering::Relaxed);
    let (mut reader, mut writer) = tokio::io::split(io);
    let _ = follow(&edge, &mut reader, &mut writer, &mut cursor).await;
    edge.hub.subscribers.fetch_sub(1, Ordering::Relaxed);
}

async fn send<W: AsyncWrite + Unpin>(writer: &mut W, bytes: &[u8]) -> Result<(), ()> {
    if bytes.is_empty() {
        return Ok(());
    }
    match tokio::time::timeout(WRITE_TIMEOUT, writer.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

async fn follow<R, W>(
    edge: &Edge,
    reader: &mut R,
    writer: &mut W,
    cursor: &mut Cursor,
) -> Result<(), ()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let wire = Wire::WebSocket;
    send(writer, &wire.hello(cursor.position)).await?;
    let mut client = ClientReader::new(wire);
    let mut buf = [0u8; 256];
    loop {
        while cursor.position < edge.hub.last_seq() {
            let after = cursor.position;
            let page = match edge.source.history(after, PAGE).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = send(writer, &wire.failed(after, &e.to_string())).await;
                    return Err(());
                }
            };
            send(writer, &cursor.page(&page, wire)).await?;
            if page.len() < PAGE {
                break;
            }
        }
        loop {
            tokio::select! {
                () = cursor.grant.withdrawn() => {
                    let _ = send(writer, &wire.revoked()).await;
                    let _ = send(writer, &ws_frame(0x8, &[0x03, 0xf0])).await;
                    return Ok(());
                }
                received = cursor.rx.recv() => {
                    let (batch, then) = cursor.gather(received);
                    send(writer, &concat(batch.frames().iter().map(|f| &f.ws_frame[..]))).await?;
                    match then {
                        Then::Follow => {}
                        Then::CatchUp => break,
                        Then::Lagged => {
                            edge.hub.dropped.fetch_add(1, Ordering::Relaxed);
                            let _ = send(writer, &wire.dropped(cursor.position)).await;
                            return Ok(());
                        }
                        Then::Closed => return Ok(()),
                    }
                }
                read = reader.read(&mut buf) => {
                    let n = match read {
                        Ok(0) | Err(_) => return Ok(()),
                        Ok(n) => n,
                    };
                    match client.feed(&buf[..n]) {
                        ClientSaid::Nothing => {}
                        ClientSaid::Ping(payload) => send(writer, &ws_frame(0xA, &payload)).await?,
                        ClientSaid::Goodbye => {
                            let _ = send(writer, &ws_frame(0x8, &[0x03, 0xe8])).await;
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}
