//! CAP 1.2 through the API (the messages themselves are `tryvoga_outputs::cap`):
//! - `GET /api/v1/alerts/{id}.cap` (also `/api/v1/alerts/{id}/cap`): the alert's latest
//!   message; `?seq=N` a given one of its messages;
//! - `GET /feeds/cap.atom`: the latest message of every live alert, and of alerts that ended
//!   in the last hour, each embedded whole in its entry's `<content type="application/cap+xml">`.

use std::io;

use axum::extract::{Path, Query, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use tryvoga_core::{AlertId, Event, Origin};
use tryvoga_outputs::cap::{self, CAP_TYPE, ENDED_IN_FEED_MS};
use utoipa::IntoParams;

use crate::app::SharedApp;
use crate::error::ApiError;

/// `/api/v1/alerts/{id}`: the alert as JSON, or as CAP when the id ends in `.cap`.
pub async fn alert_or_cap(State(app): State<SharedApp>, request: Request) -> Response {
    let path = request.uri().path();
    if let Some(id) = path
        .rsplit('/')
        .next()
        .and_then(|last| last.strip_suffix(".cap"))
    {
        let id = id.to_string();
        let query = request.uri().query().unwrap_or("").to_string();
        let headers = request.headers().clone();
        return match seq_query(&query) {
            Ok(seq) => respond(cap_for(&app, &headers, &id, seq).await),
            Err(e) => e.into_response(),
        };
    }
    crate::alerts::get_one.call(request, app).await
}

fn seq_query(query: &str) -> Result<Option<u64>, ApiError> {
    let mut seq = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "seq" => {
                seq = Some(
                    v.parse::<u64>()
                        .map_err(|_| ApiError::bad_request("seq must be a sequence number"))?,
                )
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter {other:?}; this takes seq"
                )));
            }
        }
    }
    Ok(seq)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CapQuery {
    /// One of the alert's messages, by the sequence number of its event; the latest by default.
    seq: Option<u64>,
}

/// `/api/v1/alerts/{id}/cap`.
#[utoipa::path(
    get, path = "/api/v1/alerts/{id}/cap", tag = "cap",
    security((), ("bearer" = [])),
    params(("id" = u64, Path, description = "The alert's id."), CapQuery),
    responses(
        (status = 200, description = "The alert's CAP 1.2 message, signed.", content_type = "application/cap+xml", body = String),
        (status = 400, description = "The id is not a whole number, or a malformed or unknown query parameter.", body = crate::openapi::ErrorBody),
        (status = 401, description = "Reads are private and no live token was sent.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No alert has that id, or it has no message at `seq`.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn message(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    query: Result<Query<CapQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let id = match crate::query::path_text(id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    match query {
        Ok(Query(q)) => respond(cap_for(&app, &headers, &id, q.seq).await),
        Err(e) => ApiError::bad_request(e.body_text()).into_response(),
    }
}

fn respond(result: Result<String, ApiError>) -> Response {
    match result {
        Ok(xml) => {
            let mut r = xml.into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CAP_TYPE));
            r
        }
        Err(e) => e.into_response(),
    }
}

fn xml_failed(e: io::Error) -> ApiError {
    ApiError::internal(format!("writing XML: {e}"))
}

async fn cap_for(
    app: &SharedApp,
    headers: &HeaderMap,
    id: &str,
    seq: Option<u64>,
) -> Result<String, ApiError> {
    app.check_read(headers).await?;
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("an alert id is a positive whole number"))?;
    let events = app.read(move |q| q.alert_events(AlertId(id))).await?;
    if events.is_empty() {
        return Err(ApiError::not_found(format!("no alert has id {id}")));
    }
    let upto = match seq {
        None => events.len(),
        Some(seq) => {
            events.iter().position(|e| e.seq == seq).ok_or_else(|| {
                ApiError::not_found(format!("alert {id} has no message at seq {seq}"))
            })? + 1
        }
    };
    let outputs = &app.outputs;
    cap::document(
        &outputs.key,
        app.registry,
        &outputs.options.cap_sender,
        &events[..upto],
    )
    .map_err(xml_failed)
}

/// `/feeds/cap.atom`.
#[utoipa::path(
    get, path = "/feeds/cap.atom", tag = "cap",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The latest message of every live alert and of those ended in the last hour.", content_type = "application/atom+xml", body = String),
        (status = 401, description = "Reads are private and no live token was sent.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn atom(State(app): State<SharedApp>, headers: HeaderMap) -> Response {
    match atom_feed(&app, &headers).await {
        Ok(xml) => {
            let mut r = xml.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/atom+xml"),
            );
            r
        }
        Err(e) => e.into_response(),
    }
}

/// How many recently ended alerts the feed keeps at most.
const ENDED_IN_FEED: usize = 500;

async fn atom_feed(app: &SharedApp, headers: &HeaderMap) -> Result<String, ApiError> {
    app.check_read(headers).await?;
    let base = base_url(headers);
    let active: Vec<AlertId> = app
        .store
        .state()
        .active()
        .filter(|a| a.origin != Origin::Import)
        .map(|a| a.id)
        .collect();
    let now = Utc::now();
    let since = now - chrono::Duration::milliseconds(ENDED_IN_FEED_MS);
    let entries = app
        .read(move |q| {
            let mut ids = active;
            ids.extend(q.ended_since(since, ENDED_IN_FEED)?);
            let mut out: Vec<(u64, Vec<Event>)> = Vec::new();
            for id in ids {
                let events = q.alert_events(id)?;
                if !events.is_empty() {
                    out.push((id.0, events));
                }
            }
            Ok(out)
        })
        .await?;
    let outputs = &app.outputs;
    cap::atom_feed(
        &outputs.key,
        app.registry,
        &outputs.options.cap_sender,
        &base,
        entries,
        now,
    )
    .map_err(xml_failed)
}

/// The address clients reached us at, for absolute links in the feed.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}
