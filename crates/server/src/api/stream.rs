//! `/api/v1/events` (the log, paged) and what stream subscriptions share: their query and
//! filter. The streams themselves (`/api/v1/stream`, `/api/v1/ws`) are served on raw sockets
//! by [`crate::frontdoor`] and [`crate::subscriber`].

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use tryvoga_core::{AlertType, RegionId};
use tryvoga_store::queries;

use crate::app::SharedApp;
use crate::error::ApiError;
use crate::frontdoor::HEARTBEAT;
use crate::hub::{Filter, Frame};

/// Events read from the log per query while catching up.
const PAGE: usize = 500;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    pub after: Option<u64>,
    pub regions: Option<String>,
    pub types: Option<String>,
}

pub fn parse_filter(
    app: &SharedApp,
    regions: Option<&str>,
    types: Option<&str>,
) -> Result<Filter, ApiError> {
    let regions = regions
        .map(|list| {
            list.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|r| app.registry.resolve(r).map(|r| r.id))
                .collect::<Result<Vec<RegionId>, _>>()
        })
        .transpose()?;
    let types = types
        .map(|list| {
            list.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|t| t.parse::<AlertType>())
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(Filter::new(app.registry, regions, types))
}

/// Streams asked for on a connection that already carried other requests (browsers reuse their
/// connections) reach the router rather than the front door; they are served here, through
/// hyper, with the same catch-up, ring, filter and drop rules as the lean path, at a higher
/// cost per connection.
fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be a sequence number"))
        })
        .transpose()
}

enum Phase {
    Hello,
    CatchUp,
    Live,
    Done,
}

struct Subscription {
    app: SharedApp,
    filter: Filter,
    rx: broadcast::Receiver<Arc<Frame>>,
    /// The last sequence number this subscriber has been given (or skipped by its filter).
    position: u64,
    phase: Phase,
    heartbeat: tokio::time::Interval,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.app.hub.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Subscription {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            match self.phase {
                Phase::Done => return None,
                Phase::Hello => {
                    self.phase = Phase::CatchUp;
                    // `retry` makes EventSource reconnect after a second, not after its default.
                    return Some(Bytes::from(format!(
                        "retry: 1000\n: tryvoga stream from {}\n\n",
                        self.position
                    )));
                }
                Phase::CatchUp => {
                    let after = self.position;
                    let page = self
                        .app
                        .read(move |s| s.read(|c| queries::events_after(c, after, PAGE)))
                        .await;
                    let page = match page {
                        Ok(p) => p,
                        Err(e) => {
                            self.phase = Phase::Done;
                            return Some(Bytes::from(format!(
                                "event: error\ndata: {{\"resume_after\":{after},\"message\":{:?}}}\n\n",
                                e.message
                            )));
                        }
                    };
                    if page.len() < PAGE {
                        self.phase = Phase::Live;
                    }
                    let mut out = Vec::new();
                    for e in &page {
                        let frame = Frame::from_stored(e);
                        if self.filter.matches(&frame) {
                            out.extend_from_slice(&frame.sse);
                        }
                        self.position = e.seq;
                    }
                    if !out.is_empty() {
                        return Some(Bytes::from(out));
                    }
                }
                Phase::Live => {
                    tokio::select! {
                        received = self.rx.recv() => match received {
                            Ok(frame) => {
                                if frame.seq <= self.position {
                                    continue;
                                }
                                if frame.seq > self.position + 1 {
                                    // Something committed before we subscribed is missing:
                                    // take it from the log.
                                    self.phase = Phase::CatchUp;
                                    continue;
                                }
                                self.position = frame.seq;
                                if self.filter.matches(&frame) {
                                    return Some(frame.sse.clone());
                                }
                            }
                            Err(RecvError::Lagged(_)) => {
                                self.app.hub.dropped.fetch_add(1, Ordering::Relaxed);
                                self.phase = Phase::Done;
                                return Some(Bytes::from(format!(
                                    "event: dropped\ndata: {{\"reason\":\"too slow\",\"resume_after\":{}}}\n\n",
                                    self.position
                                )));
                            }
                            Err(RecvError::Closed) => {
                                self.phase = Phase::Done;
                                return None;
                            }
                        },
                        _ = self.heartbeat.tick() => {
                            return Some(Bytes::from_static(b": keepalive\n\n"));
                        }
                    }
                }
            }
        }
    }
}

pub async fn stream(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    app.check_read(&headers).await?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let filter = parse_filter(&app, q.regions.as_deref(), q.types.as_deref())?;
    // Subscribe before reading the position, so nothing committed in between is missed.
    let rx = app.hub.subscribe();
    // The header wins: a browser reconnects to the same URL and adds it (see the front door).
    let asked = last_event_id(&headers)?.or(q.after);
    let position = crate::hub::start_position(asked, app.hub.last_seq());
    app.hub.subscribers.fetch_add(1, Ordering::Relaxed);
    let mut heartbeat = interval_at(Instant::now() + HEARTBEAT, HEARTBEAT);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let sub = Subscription {
        app,
        filter,
        rx,
        position,
        phase: Phase::Hello,
        heartbeat,
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
    Ok(response)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

/// The log itself: `{"events":[...],"last_seq":N}`, the stored JSON passed through untouched.
pub async fn events(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    app.check_read(&headers).await?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let after = q.after.unwrap_or(0);
    let page = app
        .read(move |s| s.read(|c| queries::events_after(c, after, limit)))
        .await?;
    let mut body = String::from("{\"events\":[");
    for (i, e) in page.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&e.payload);
    }
    body.push_str("],\"last_seq\":");
    body.push_str(&app.hub.last_seq().to_string());
    body.push('}');
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
