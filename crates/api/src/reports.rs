//! Attack reports and threat notices read from official texts:
//! `POST /api/v1/reports`, `POST /api/v1/threats` with a reading's body (routed by
//! `situation`, which takes typed threats at the same path) (an admin or issuer token; a report concerns
//! the whole country, so an issuer's region scope does not limit it), `GET /api/v1/reports`,
//! `GET /api/v1/reports/nights` (totals per night) and `GET /api/v1/charts/nights.svg`.
//!
//! The body is the report or threat as `tryvoga ingest text --json` prints it, parsed into the
//! core's type and decided by the core like any command: the core checks it
//! (`tryvoga_core::report::check`) and keys it by its source text; the same text posted again,
//! by any token, is answered with the event recorded the first time (`200`,
//! `Idempotent-Replay: true`).

use axum::Router;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use tryvoga_charts::{Chart, NightBar};
use tryvoga_core::report::Night;
use tryvoga_core::{Command, EventBody, Role};

use crate::app::{SharedApp, body_bytes, parse_json};
use crate::error::ApiError;
use crate::query::{period, read_query, svg};

const RECORDERS: &[Role] = &[Role::Admin, Role::Issuer];
const MAX_LIST: usize = 10_000;

pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/reports", get(list).post(post_report))
        .route("/api/v1/reports/nights", get(nights))
        .route("/api/v1/charts/nights.svg", get(nights_svg))
}

/// Parses a body into the command that records it.
type Build = fn(&[u8]) -> Result<Command, ApiError>;

fn build_report(bytes: &[u8]) -> Result<Command, ApiError> {
    Ok(Command::ReportAttack {
        report: parse_json(bytes)?,
    })
}

fn build_threat(bytes: &[u8]) -> Result<Command, ApiError> {
    Ok(Command::ReportThreat {
        threat: parse_json(bytes)?,
    })
}

async fn record_one(
    app: SharedApp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    action: &str,
    build: Build,
) -> Result<Response, ApiError> {
    let actor = app.audited_actor(&headers, action, RECORDERS).await?;
    let command = match body_bytes(body).and_then(|b| build(&b)) {
        Ok(c) => c,
        Err(e) => {
            app.refuse(Some(&actor), action, None, &e).await;
            return Err(e);
        }
    };
    let accepted = app.command(actor, command, None).await?;
    let event = &accepted.event;
    let (field, id, value) = match &event.body {
        EventBody::ReportAttack { report } => ("report", &report.id, serde_json::to_value(report)),
        EventBody::ThreatReported { threat } => match &**threat {
            tryvoga_core::threat::Reported::Reading(r) => {
                ("threat", &r.id, serde_json::to_value(r))
            }
            tryvoga_core::threat::Reported::Notice(_) => {
                return Err(ApiError::internal(
                    "a reading was recorded as a typed threat",
                ));
            }
        },
        _ => {
            return Err(ApiError::internal(
                "a report command produced another event",
            ));
        }
    };
    let value = value
        .map_err(|e| ApiError::internal(format!("a recorded event did not serialise: {e}")))?;
    let status = if accepted.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let body = json!({
        "seq": event.seq,
        "kind": event.kind(),
        "id": id,
        "recorded_at": event.at,
        "issuer": event.issuer,
        "duplicate": accepted.replayed,
        field: value,
    });
    let mut response = (status, axum::Json(body)).into_response();
    if accepted.replayed {
        response
            .headers_mut()
            .insert("idempotent-replay", HeaderValue::from_static("true"));
    }
    Ok(response)
}

pub async fn post_report(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    record_one(app, headers, body, "report_attack", build_report).await
}

pub async fn post_threat(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    record_one(app, headers, body, "report_threat", build_threat).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
}

impl ReportQuery {
    fn period(&self) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
        period(self.from.as_deref(), self.to.as_deref())
    }
}

/// Totals per night of the period a query asks for.
async fn nights_of(
    app: &SharedApp,
    q: &ReportQuery,
) -> Result<(DateTime<Utc>, DateTime<Utc>, Vec<Night>), ApiError> {
    let (from, to) = q.period()?;
    let found = app.read(move |q| q.nights(from, to)).await?;
    Ok((from, to, found))
}

/// Reports whose attack (the report's period, else when it was recorded) falls in the period,
/// oldest first.
pub async fn list(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = read_query(&app, &headers, q).await?;
    let (from, to) = q.period()?;
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > MAX_LIST {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIST}"
        )));
    }
    let found = app.read(move |q| q.reports(from, to, limit)).await?;
    Ok(axum::Json(json!({ "from": from, "to": to, "reports": found })).into_response())
}

/// Launched, destroyed and suppressed per night and weapon class.
pub async fn nights(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = read_query(&app, &headers, q).await?;
    if q.limit.is_some() {
        return Err(ApiError::bad_request("nights take from and to, not limit"));
    }
    let (from, to, found) = nights_of(&app, &q).await?;
    Ok(axum::Json(json!({ "from": from, "to": to, "nights": found })).into_response())
}

/// The chart of launched against destroyed per night, for the command line and the server.
pub fn nights_chart(nights: &[Night], from: DateTime<Utc>, to: DateTime<Utc>) -> Chart {
    let day = |t: DateTime<Utc>| t.format("%Y-%m-%d").to_string();
    Chart::Nights {
        title: format!(
            "Weapons launched and destroyed per night, {} to {}",
            day(from),
            day(to)
        ),
        nights: nights
            .iter()
            .map(|n| NightBar {
                label: n.night.to_string(),
                launched: n.total.launched.unwrap_or(0) as f64,
                destroyed: n.total.destroyed.unwrap_or(0) as f64,
            })
            .collect(),
    }
}

pub async fn nights_svg(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = read_query(&app, &headers, q).await?;
    let (from, to, found) = nights_of(&app, &q).await?;
    svg(nights_chart(&found, from, to), ApiError::not_found).await
}
