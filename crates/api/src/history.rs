//! The record for analysts: `GET /api/v1/alerts` (history, paged by cursor, JSON or CSV,
//! optionally with the region's descendants), `GET /api/v1/regions/{region}/stats`, and the
//! charts the web pages show, as SVG.

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tryvoga_charts::Chart;
use tryvoga_core::{Alert, AlertType, Region};
use tryvoga_history::figures;
use tryvoga_store::{Cursor, HistoryQuery};
use utoipa::{IntoParams, ToSchema};

use crate::app::SharedApp;
use crate::error::ApiError;
use crate::query::{one_type, parse_time, path_text, percent, period, read_query, types};

/// Stats, charts: `GET /api/v1/alerts` itself is routed beside the alert commands.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/regions/{region}/stats", get(stats))
        .route(
            "/api/v1/regions/{region}/charts/monthly.svg",
            get(monthly_svg),
        )
        .route("/api/v1/charts/heatmap.svg", get(heatmap_svg))
        .route("/api/v1/charts/oblasts.svg", get(oblasts_svg))
}

/// A page is at most this many alerts as JSON; CSV, meant for export, takes bigger pages.
const MAX_JSON_PAGE: usize = 1000;
const MAX_CSV_PAGE: usize = 50_000;

#[derive(Deserialize, Default, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Alerts on this region (an id, code or name).
    region: Option<String>,
    /// One type or several, comma-separated.
    #[serde(rename = "type")]
    alert_type: Option<String>,
    /// Alerts that started at or after this RFC 3339 time or date `YYYY-MM-DD`.
    from: Option<String>,
    /// Alerts that started before this RFC 3339 time or date.
    to: Option<String>,
    /// 1 to 1000 as JSON (100 by default), up to 50000 as CSV.
    #[param(minimum = 1, maximum = 50000)]
    limit: Option<usize>,
    /// The `next_cursor` of the page before, unchanged.
    cursor: Option<String>,
    /// `descendants`: the region's raions and hromadas too.
    include: Option<String>,
    /// `json` (the default) or `csv`; wins over the Accept header.
    format: Option<String>,
}

/// A page of `GET /api/v1/alerts`, newest start first.
#[derive(Serialize, ToSchema)]
pub struct HistoryPage {
    pub alerts: Vec<Alert>,
    /// Pass back as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

fn wants_csv(format: Option<&str>, headers: &HeaderMap) -> Result<bool, ApiError> {
    match format.map(|f| f.trim().to_ascii_lowercase()) {
        Some(f) if f == "csv" => Ok(true),
        Some(f) if f == "json" => Ok(false),
        Some(f) => Err(ApiError::bad_request(format!(
            "format must be json or csv, not {f:?}"
        ))),
        None => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.to_ascii_lowercase().contains("text/csv"))),
    }
}

/// Past and present alerts, newest start first, a page at a time: `next_cursor` (JSON) or the
/// `Link: <...>; rel="next"` header (CSV) fetches the next page.
#[utoipa::path(
    get, path = "/api/v1/alerts", tag = "history", operation_id = "list_alerts",
    security((), ("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of alerts: JSON, or CSV with `format=csv` or `Accept: text/csv` (the next page in the `Link` header).",
            content(
                (HistoryPage = "application/json"),
                (String = "text/csv"),
            )),
        (status = 400, description = "A malformed or unknown query parameter, a limit out of range, a bad cursor, period or format, or an ambiguous region (with `candidates`).", body = crate::openapi::ErrorBody),
        (status = 401, description = "Reads are private and no live token was sent.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such region (with `candidates`).", body = crate::openapi::ErrorBody),
        (status = 422, description = "An unknown alert type.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn list(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = read_query(&app, &headers, q).await?;
    let csv = wants_csv(q.format.as_deref(), &headers)?;
    let max = if csv { MAX_CSV_PAGE } else { MAX_JSON_PAGE };
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > max {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {max}"
        )));
    }
    let descendants = match q.include.as_deref().map(str::trim) {
        None | Some("") => false,
        Some("descendants") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "include takes descendants, not {other:?}"
            )));
        }
    };
    let regions = match q.region.as_deref() {
        Some(r) => {
            let id = app.registry.resolve(r)?.id;
            let mut ids = vec![id];
            if descendants {
                ids.extend(app.registry.descendants(id));
            }
            Some(ids)
        }
        None if descendants => {
            return Err(ApiError::bad_request("include=descendants needs a region"));
        }
        None => None,
    };
    let after = q
        .cursor
        .as_deref()
        .map(|c| {
            Cursor::decode(c).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "cursor {c:?} is not one this API gave; pass next_cursor back unchanged"
                ))
            })
        })
        .transpose()?;
    let from = q
        .from
        .as_deref()
        .map(|v| parse_time("from", v))
        .transpose()?;
    let to = q.to.as_deref().map(|v| parse_time("to", v)).transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(ApiError::bad_request("from must be before to"));
    }
    let hq = HistoryQuery {
        regions,
        types: types(q.alert_type.as_deref())?,
        status: None,
        from,
        to,
        after,
        limit,
    };
    let (alerts, next) = app.read(move |q| q.history(&hq)).await?;
    let next = next.map(|c| c.encode());
    if !csv {
        return Ok(axum::Json(HistoryPage {
            alerts,
            next_cursor: next,
        })
        .into_response());
    }
    let mut response = (
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        to_csv(&alerts),
    )
        .into_response();
    if let Some(next) = next {
        let link = format!("<{}>; rel=\"next\"", next_link(&q, &next));
        if let Ok(v) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, v);
        }
        if let Ok(v) = HeaderValue::from_str(&next) {
            response.headers_mut().insert("x-next-cursor", v);
        }
    }
    Ok(response)
}

/// The same query with the next cursor, for the CSV `Link` header.
fn next_link(q: &ListQuery, cursor: &str) -> String {
    let mut parts = vec![format!("cursor={cursor}"), "format=csv".to_string()];
    let mut add = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            parts.push(format!("{k}={}", percent(v)));
        }
    };
    add("region", &q.region);
    add("type", &q.alert_type);
    add("from", &q.from);
    add("to", &q.to);
    add("include", &q.include);
    if let Some(l) = q.limit {
        parts.push(format!("limit={l}"));
    }
    format!("/api/v1/alerts?{}", parts.join("&"))
}

const CSV_HEADER: [&str; 18] = [
    "id",
    "region_id",
    "region_level",
    "region_name_en",
    "region_name_uk",
    "oblast_id",
    "type",
    "level",
    "status",
    "started_at",
    "ended_at",
    "duration_seconds",
    "cancelled",
    "cancel_reason",
    "origin",
    "issuer",
    "note",
    "seq",
];

fn to_csv(alerts: &[Alert]) -> Vec<u8> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::with_capacity(256 + alerts.len() * 160));
    // Writing into a Vec fails only if memory does; the rows are the same length by type.
    let _ = out.write_record(CSV_HEADER);
    for a in alerts {
        let duration = a
            .ended_at
            .map(|e| (e - a.started_at).num_seconds().to_string())
            .unwrap_or_default();
        let origin = serde_json::to_value(a.origin)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let fields: [String; 18] = [
            a.id.to_string(),
            a.region.id.to_string(),
            a.region.level.as_str().to_string(),
            a.region.name_en.clone(),
            a.region.name_uk.clone(),
            a.region.oblast_id.to_string(),
            a.alert_type.to_string(),
            a.level.map(|l| l.to_string()).unwrap_or_default(),
            a.status.to_string(),
            a.started_at.to_rfc3339(),
            a.ended_at.map(|e| e.to_rfc3339()).unwrap_or_default(),
            duration,
            a.cancelled.to_string(),
            a.cancel_reason.clone().unwrap_or_default(),
            origin,
            a.issuer.clone().unwrap_or_default(),
            a.note.clone().unwrap_or_default(),
            a.seq.to_string(),
        ];
        let _ = out.write_record(fields.iter().map(|f| spreadsheet_safe(f).into_owned()));
    }
    out.into_inner().unwrap_or_default()
}

/// A cell a spreadsheet will show as text, never run as a formula (OWASP, "CSV Injection"):
/// a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading
/// apostrophe. Notes and cancel reasons are written by issuers, so an export opened by an
/// analyst must not turn `=HYPERLINK(…)` into a live link. No cell of ours that is a number
/// starts with one of these (ids, sequences and durations are never negative).
pub(crate) fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod csv_tests {
    use super::spreadsheet_safe;

    #[test]
    fn formula_cells_are_made_text() {
        for cell in [
            "=HYPERLINK(\"http://x.example\",\"click\")",
            "+1+2",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
        ] {
            let safe = spreadsheet_safe(cell);
            assert!(safe.starts_with('\''), "{cell:?} became {safe:?}");
            assert_eq!(&safe[1..], cell);
        }
        for cell in [
            "Kyiv oblast",
            "Київська область",
            "42",
            "2026-12-04T06:00:00+00:00",
            "",
        ] {
            assert_eq!(spreadsheet_safe(cell), cell);
        }
    }
}

#[derive(Deserialize, Default, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// The period's start, an RFC 3339 time or a date `YYYY-MM-DD`; a year before `to` by
    /// default.
    #[param(example = "2026-01-01")]
    from: Option<String>,
    /// The period's end (excluded); now by default.
    #[param(example = "2026-12-31")]
    to: Option<String>,
    /// One alert type; all by default.
    #[serde(rename = "type")]
    #[param(value_type = Option<AlertType>)]
    alert_type: Option<String>,
    /// The heat map's region (the whole country by default); refused elsewhere.
    region: Option<String>,
}

/// A period `[from, to)` and the one alert type asked for (all when `None`).
type Asked = (DateTime<Utc>, DateTime<Utc>, Option<AlertType>);

impl PeriodQuery {
    fn asked(&self) -> Result<Asked, ApiError> {
        let (from, to) = period(self.from.as_deref(), self.to.as_deref())?;
        Ok((from, to, one_type(self.alert_type.as_deref())?))
    }
}

fn region(app: &SharedApp, text: &str) -> Result<&'static Region, ApiError> {
    let registry = app.registry;
    Ok(registry.resolve(text)?)
}

/// A region's figures over the period and type the query asks for.
async fn region_stats(
    app: &SharedApp,
    region_text: &str,
    q: &PeriodQuery,
) -> Result<figures::RegionStats, ApiError> {
    let region = region(app, region_text)?;
    let (from, to, alert_type) = q.asked()?;
    let registry = app.registry;
    app.read(move |q| figures::region_stats(q, registry, region, alert_type, from, to, Utc::now()))
        .await
}

/// Count, durations, time under alert, by month, hour and weekday (Kyiv time).
#[utoipa::path(
    get, path = "/api/v1/regions/{region}/stats", tag = "history",
    security((), ("bearer" = [])),
    params(("region" = String, Path, description = "An id, KATOTTG or ISO code, or a name.", example = "14"), PeriodQuery),
    responses(
        (status = 200, description = "The region's figures over the period.", body = tryvoga_history::figures::RegionStats),
        (status = 400, description = "A malformed or unknown query parameter, `region` in the query, a bad period, or an ambiguous region (with `candidates`).", body = crate::openapi::ErrorBody),
        (status = 401, description = "Reads are private and no live token was sent.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such region (with `candidates`).", body = crate::openapi::ErrorBody),
        (status = 422, description = "An unknown alert type.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn stats(
    State(app): State<SharedApp>,
    region_text: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    q: Result<Query<PeriodQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = read_query(&app, &headers, q).await?;
    let region_text = path_text(region_text)?;
    if q.region.is_some() {
        return Err(ApiError::bad_request(
            "the region is in the path, not the query",
        ));
    }
    let figures = region_stats(&app, &region_text, &q).await?;
    Ok(axum::Json(figures).into_response())
}

async fn draw(chart: Chart) -> Result<Response, ApiError> {
    crate::query::svg(chart, ApiError::bad_request).await
}

/// Hours under alert per month for a region.
#[utoipa::path(
    get, path = "/api/v1/regions/{region}/charts/monthly.svg", tag = "charts",
    security((), ("bearer" = [])),
    params(("region" = String, Path, description = "An id, KATOTTG or ISO code, or a name.", example = "14"), PeriodQuery),
    responses(
        (status = 200, description = "Hours under alert per month.", content_type = "image/svg+xml", body = String),
        (status = 400, description = "A malformed or unknown query parameter, a bad period or region, or nothing to draw.", body = crate::openapi::ErrorBody),
        (status = 401, description = "Reads are private and no live token was sent.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such region (with `candidates`).", body = crate::openapi::ErrorBody),
        (status = 422, description = "An unknown alert type.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn monthly_svg(
    State(app): State<SharedApp>,
    region_text: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    q: Result<Query<PeriodQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = read_query(&app, &headers, q).await?;
    let region_text = path_text(region_text)?;
    let figures = region_stats(&app, &region_text, &q).await?;
    draw(figures::monthly_chart(&figures)).await
}

/// Alert starts by weekday and hour (Kyiv time), for `region=` or the whole country.
#[utoipa::path(
    get, path = "/api/v1/charts/heatmap.svg", tag = "charts",
    security((), ("bearer" = [])),
    params(PeriodQuery),
    responses(
        (status = 200, description = "Alert starts by weekday and hour, Kyiv time.", content_type = "image/svg+xml", body = String),
        (status = 400, description = "A malformed or unknown query parameter, a bad period or region, or nothing to draw.", body = crate::openapi::ErrorBody),
        (status = 401, description = "Reads are private and no live token was sent.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such region (with `candidates`).", body = crate::openapi::ErrorBody),
        (status = 422, description = "An unknown alert type.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn heatmap_svg(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    q: Result<Query<PeriodQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = read_query(&app, &headers, q).await?;
    let region = q
        .region
        .as_deref()
        .filter(|r| !r.trim().is_empty())
        .map(|r| region(&app, r))
        .transpose()?;
    let (from, to, alert_type) = q.asked()?;
    let registry = app.registry;
    let counts = app
        .read(move |q| {
            figures::starts_heatmap(q, registry, region, alert_type, from, to, Utc::now())
        })
        .await?;
    draw(figures::heatmap_chart(region, counts, from, to)).await
}

/// Oblasts ranked by hours under alert.
#[utoipa::path(
    get, path = "/api/v1/charts/oblasts.svg", tag = "charts",
    security((), ("bearer" = [])),
    params(PeriodQuery),
    responses(
        (status = 200, description = "Oblasts ranked by hours under alert.", content_type = "image/svg+xml", body = String),
        (status = 400, description = "A malformed or unknown query parameter, a bad period or region, `region` given, or nothing to draw.", body = crate::openapi::ErrorBody),
        (status = 401, description = "Reads are private and no live token was sent.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such region (with `candidates`).", body = crate::openapi::ErrorBody),
        (status = 422, description = "An unknown alert type.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn oblasts_svg(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    q: Result<Query<PeriodQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = read_query(&app, &headers, q).await?;
    if q.region.is_some() {
        return Err(ApiError::bad_request("the oblast ranking takes no region"));
    }
    let (from, to, alert_type) = q.asked()?;
    let registry = app.registry;
    let ranking = app
        .read(move |q| figures::oblast_ranking(q, registry, alert_type, from, to, Utc::now()))
        .await?;
    draw(figures::ranking_chart(&ranking, from, to)).await
}
