//! Operators' endpoints: `/healthz` and `/metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::SharedApp;

/// `GET /healthz` of a serve node.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
    /// The log's last sequence number.
    pub seq: u64,
    pub uptime_seconds: u64,
    /// Which node this is.
    pub node: String,
    /// How many outputs run here (the leases it holds; their names would tell anyone the
    /// webhooks' ids and the compatibility tokens' names).
    pub outputs_held: usize,
}

/// Whether the node is up.
#[utoipa::path(
    get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "Up.", body = Health))
)]
pub async fn healthz(State(app): State<SharedApp>) -> Response {
    axum::Json(Health {
        status: "ok",
        seq: app.source.head(),
        uptime_seconds: app.started.elapsed().as_secs(),
        node: app.outputs.options.lease.node.clone(),
        outputs_held: app.outputs.held().len(),
    })
    .into_response()
}

/// Counters and gauges.
#[utoipa::path(
    get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "The Prometheus text format.", content_type = "text/plain; version=0.0.4", body = String))
)]
pub async fn metrics(State(app): State<SharedApp>) -> Response {
    let state = app.store.state();
    let hub = &app.edge.hub;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    metric(
        "tryvoga_last_seq",
        "gauge",
        "Sequence number of the last committed event.",
        state.last_seq(),
    );
    metric(
        "tryvoga_active_alerts",
        "gauge",
        "Alerts under way, drills included.",
        state.active().count() as u64,
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
        "Seconds since the server started.",
        app.started.elapsed().as_secs(),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
