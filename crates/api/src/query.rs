//! What the read endpoints share in their queries: the query string itself (a malformed one is
//! a 400 naming the parameter), periods `[from, to)` and the times in them, alert types, and
//! charts drawn as SVG. History, statistics and reports parse their queries here, once.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use tryvoga_charts::{Chart, ChartError, Format};
use tryvoga_core::AlertType;

use crate::app::SharedApp;
use crate::error::ApiError;

/// The parsed query, or a 400 saying what is wrong with it.
pub fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// A path segment as text, or a 400 in the JSON error shape (axum's own answer to a segment
/// that does not decode as UTF-8 is plain text).
pub fn path_text(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(text)| text)
        .map_err(|e| ApiError::bad_request(format!("the path: {}", e.body_text())))
}

/// The parsed query of a read, once the reader may read.
pub async fn read_query<T>(
    app: &SharedApp,
    headers: &HeaderMap,
    q: Result<Query<T>, QueryRejection>,
) -> Result<T, ApiError> {
    app.check_read(headers).await?;
    query(q)
}

/// The period `[from, to)` a query asks for: `to` defaults to now and `from` to a year before
/// `to`.
pub fn period(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let to = to
        .map(|v| parse_time("to", v))
        .transpose()?
        .unwrap_or_else(Utc::now);
    let from = from
        .map(|v| parse_time("from", v))
        .transpose()?
        .unwrap_or(to - chrono::Duration::days(365));
    if from >= to {
        return Err(ApiError::bad_request("from must be before to"));
    }
    Ok((from, to))
}

pub fn parse_time(field: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    Err(ApiError::bad_request(format!(
        "{field} must be an RFC 3339 time or a date YYYY-MM-DD, not {value:?}"
    )))
}

/// One type or several, comma-separated.
pub fn types(text: Option<&str>) -> Result<Option<Vec<AlertType>>, ApiError> {
    text.map(|list| {
        list.split(',')
            .filter(|t| !t.trim().is_empty())
            .map(|t| {
                t.parse::<AlertType>()
                    .map_err(|e| ApiError::invalid(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .transpose()
}

/// At most one type; an empty value is none.
pub fn one_type(text: Option<&str>) -> Result<Option<AlertType>, ApiError> {
    text.filter(|t| !t.trim().is_empty())
        .map(|t| {
            t.parse::<AlertType>()
                .map_err(|e| ApiError::invalid(e.to_string()))
        })
        .transpose()
}

/// A chart drawn as SVG on a blocking thread. `empty` is the status a chart with nothing to
/// draw is answered with.
pub async fn svg(chart: Chart, empty: fn(String) -> ApiError) -> Result<Response, ApiError> {
    let drawn = tokio::task::spawn_blocking(move || tryvoga_charts::render(&chart, Format::Svg))
        .await
        .map_err(|e| ApiError::internal(format!("chart task failed: {e}")))?;
    let bytes = drawn.map_err(|e| match e {
        ChartError::Empty(m) => empty(m),
        other => ApiError::internal(other.to_string()),
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, Format::Svg.content_type()),
            (header::CACHE_CONTROL, "max-age=60"),
        ],
        bytes,
    )
        .into_response())
}

/// Percent-encodes a value for a URL query or path segment (RFC 3986 unreserved characters
/// stay as they are).
pub fn percent(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
