//! The native API as a stateless edge (`tryvoga edge`) serves it: the reads that a state
//! answers, from the edge's replica of the log, with the same answers as a serve node gives
//! (the handlers of [`crate::alerts`], [`crate::regions`] and [`crate::events`] build them
//! from the same functions); the log's pages from the stream; and the edge's own `/healthz`
//! and `/metrics`, which say how far behind the stream it is. Edges hold no tokens and no
//! record: every read here is public, and everything else is a serve node's.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use tryvoga_bus::EventSource;
use tryvoga_core::Registry;
use tryvoga_edge::Hub;
use tryvoga_edge::replica::Replica;
use tryvoga_store::AnswerCache;

use crate::alerts::{ActiveQuery, active_answer};
use crate::error::ApiError;
use crate::events::{EventsQuery, events_answer, events_query};
use crate::query::query;
use crate::regions::{ListQuery, list_answer, region_answer};

/// What an edge's API reads from.
pub struct EdgeReads {
    pub registry: &'static Registry,
    pub replica: Arc<Replica>,
    /// The stream, for the log's pages and its last sequence.
    pub source: Arc<dyn EventSource>,
    /// Whether the edge is following the stream right now.
    pub connected: Arc<dyn Fn() -> bool + Send + Sync>,
    pub hub: Arc<Hub>,
    pub started: Instant,
    /// Answers built once per state: the active alerts.
    pub read_cache: AnswerCache,
}

pub type SharedEdge = Arc<EdgeReads>;

impl EdgeReads {
    /// How many events of the stream the replica has still to apply.
    pub fn lag(&self) -> u64 {
        self.source.head().saturating_sub(self.replica.applied())
    }

    /// The replica's state, once it has caught up with the log it found on start; before
    /// that a 503, rather than an answer from a state that is not the log's.
    fn ready(&self) -> Result<(), ApiError> {
        if self.replica.ready() {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "catching_up",
            format!(
                "this edge is still reading the log ({} of {}); try again in a moment",
                self.replica.applied(),
                self.source.head()
            ),
        ))
    }
}

/// The routes an edge serves of the native API.
pub fn routes(reads: SharedEdge) -> Router {
    Router::new()
        .route("/api/v1/alerts/active", get(active))
        .route("/api/v1/regions", get(regions))
        .route("/api/v1/regions/{region}", get(region))
        .route("/api/v1/events", get(events))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(reads)
}

async fn active(
    State(reads): State<SharedEdge>,
    headers: HeaderMap,
    q: Result<Query<ActiveQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    reads.ready()?;
    let view = reads.replica.view();
    let mut response = active_answer(
        &view.state,
        view.last_event_ms,
        &reads.read_cache,
        &headers,
        &q,
    )?;
    // Which edge answered, for operators looking at a pool of them.
    if let Ok(v) = HeaderValue::from_str(&std::process::id().to_string()) {
        response.headers_mut().insert("x-tryvoga-edge", v);
    }
    Ok(response)
}

async fn regions(
    State(reads): State<SharedEdge>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    Ok(axum::Json(list_answer(reads.registry, &q)?).into_response())
}

async fn region(
    State(reads): State<SharedEdge>,
    region: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Response, ApiError> {
    let region = crate::query::path_text(region)?;
    let region = reads.registry.resolve(&region)?;
    reads.ready()?;
    let view = reads.replica.view();
    Ok(axum::Json(region_answer(reads.registry, &view.state, region)).into_response())
}

async fn events(
    State(reads): State<SharedEdge>,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let (after, limit) = events_query(&query(q)?)?;
    let page = reads.source.history(after, limit).await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("the stream could not be read: {e}"),
        )
    })?;
    Ok(events_answer(&page, reads.source.head()))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HealthQuery {
    /// Answer 503 when the replica is more than this many events behind the stream.
    max_lag: Option<u64>,
}

/// `{"status", "seq", "stream_seq", "lag", "connected", ...}`: 503 while the replica has not
/// caught up with the log it found on start, or is further behind than `?max_lag=`. An edge
/// cut off from the stream still answers 200 ("disconnected"): what it serves is the last
/// state anyone published, as no serve node can publish without the stream either.
async fn healthz(
    State(reads): State<SharedEdge>,
    q: Result<Query<HealthQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let (applied, head, lag) = (reads.replica.applied(), reads.source.head(), reads.lag());
    let connected = (reads.connected)();
    let behind = !reads.replica.ready() || q.max_lag.is_some_and(|max| lag > max);
    let status = match (behind, connected) {
        (true, _) => "catching_up",
        (false, false) => "disconnected",
        (false, true) => "ok",
    };
    let code = if behind {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let body = json!({
        "status": status,
        "role": "edge",
        "seq": applied,
        "stream_seq": head,
        "lag": lag,
        "connected": connected,
        "subscribers": reads.hub.subscribers.load(Ordering::Relaxed),
        "uptime_seconds": reads.started.elapsed().as_secs(),
    });
    Ok((code, axum::Json(body)).into_response())
}

async fn metrics(State(reads): State<SharedEdge>) -> Response {
    let hub = &reads.hub;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    let view = reads.replica.view();
    metric(
        "tryvoga_last_seq",
        "gauge",
        "Sequence number of the last event the replica applied.",
        view.applied,
    );
    metric(
        "tryvoga_stream_last_seq",
        "gauge",
        "The stream's last sequence number as last heard.",
        reads.source.head(),
    );
    metric(
        "tryvoga_edge_lag",
        "gauge",
        "Events of the stream the replica has still to apply.",
        reads.lag(),
    );
    metric(
        "tryvoga_active_alerts",
        "gauge",
        "Alerts under way, drills included.",
        view.state.active().count() as u64,
    );
    metric(
        "tryvoga_events_published_total",
        "counter",
        "Events handed to the fan-out since start.",
        hub.published.load(Ordering::Relaxed),
    );
    metric(
        "tryvoga_stream_subscribers",
        "gauge",
        "Open stream subscriptions.",
        hub.subscribers.load(Ordering::Relaxed),
    );
    metric(
        "tryvoga_stream_dropped_total",
        "counter",
        "Subscribers dropped for falling behind.",
        hub.dropped.load(Ordering::Relaxed),
    );
    metric(
        "tryvoga_uptime_seconds",
        "gauge",
        "Seconds since the edge started.",
        reads.started.elapsed().as_secs(),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
