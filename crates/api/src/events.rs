//! `GET /api/v1/events?after=&limit=`: the log itself, paged, its stored JSON passed through
//! untouched (so every event's signature verifies as received). The streams are the edge's.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tryvoga_bus::StoredEvent;

use crate::app::SharedApp;
use crate::error::ApiError;
use crate::query::query;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

/// `{"events":[...],"last_seq":N}`.
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
