//! `/api/v1/events` (the log, paged) and what stream subscriptions share: their query and
//! filter. The streams themselves (`/api/v1/stream`, `/api/v1/ws`) are served on raw sockets
//! by [`crate::frontdoor`] and [`crate::subscriber`].

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tryvoga_core::{AlertType, RegionId};
use tryvoga_store::queries;

use crate::app::SharedApp;
use crate::error::ApiError;
use crate::hub::Filter;

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
