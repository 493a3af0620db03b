//! `GET /api/v1/events?after=&limit=`: the log itself, paged, its stored JSON passed through
//! untouched (so every event's signature verifies as received). The streams are the edge's.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tryvoga_bus::StoredEvent;
use tryvoga_core::Event;
use utoipa::{IntoParams, ToSchema};

use crate::app::SharedApp;
use crate::error::ApiError;
use crate::query::query;

#[derive(Deserialize, Default, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Events after this sequence number (0 by default: from the start).
    after: Option<u64>,
    /// At most this many (1 to 1000, 100 by default).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// A page of the log. The handler writes each event's stored JSON between these brackets
/// as it is, so this type only describes the answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventsPage {
    /// In sequence order, each with its `sig`.
    events: Vec<Event>,
    /// The log's last sequence number.
    last_seq: u64,
}

/// `{"events":[...],"last_seq":N}`.
#[utoipa::path(
    get, path = "/api/v1/events", tag = "events",
    security((), ("bearer" = [])),
    params(EventsQuery),
    responses(
        (status = 200, description = "The events after `after`, as the log holds them.", body = EventsPage),
        (status = 400, description = "A malformed or unknown query parameter, or a limit out of range.", body = crate::openapi::ErrorBody),
        (status = 401, description = "Reads are private and no live token was sent.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn events(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    app.check_read(&headers).await?;
    let q = query(q)?;
    let (after, limit) = events_query(&q)?;
    let page = app.read(move |q| q.events_after(after, limit)).await?;
    Ok(events_answer(&page, app.source.head()))
}

/// Parses `?after=&limit=` of the log's page: `(after, limit)`.
pub fn events_query(q: &EventsQuery) -> Result<(u64, usize), ApiError> {
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    Ok((q.after.unwrap_or(0), limit))
}

/// A page of the log as `{"events":[...],"last_seq":N}`, each event's JSON as stored.
pub fn events_answer(page: &[StoredEvent], head: u64) -> Response {
    let mut body = String::from("{\"events\":[");
    for (i, e) in page.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&e.payload);
    }
    body.push_str("],\"last_seq\":");
    body.push_str(&head.to_string());
    body.push('}');
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
