//! Operators' endpoints: `/healthz` and `/metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::SharedApp;

pub async fn healthz(State(app): State<SharedApp>) -> Response {
    axum::Json(json!({
        "status": "ok",
        "seq": app.source.head(),
        "uptime_seconds": app.started.elapsed().as_secs(),
        // Which node this is, and how many outputs run here (the leases it holds; their
        // names would tell anyone the webhooks' ids and the compatibility tokens' names).
        "node": app.outputs.options.lease.node,
        "outputs_held": app.outputs.held().len(),
    }))
    .into_response()
}

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
