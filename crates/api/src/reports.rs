//! Attack reports and threat notices read from official texts:
//! `POST /api/v1/reports`, `POST /api/v1/threats` (an admin or issuer token; a report concerns
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
use serde::{Deserialize, Serialize};
use tryvoga_charts::{Chart, NightBar};
use tryvoga_core::report::recorded::schema::{RecordedAttackReport, RecordedThreat};
use tryvoga_core::report::{AttackReport, Night, Recorded, Threat};
use tryvoga_core::{Command, EventBody, Role};
use tryvoga_store::StoredReport;
use utoipa::{IntoParams, ToSchema};

use crate::app::{SharedApp, body_bytes, parse_json};
use crate::error::ApiError;
use crate::query::{period, read_query, svg};

const RECORDERS: &[Role] = &[Role::Admin, Role::Issuer];
const MAX_LIST: usize = 10_000;

pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/reports", get(list).post(post_report))
        .route("/api/v1/reports/nights", get(nights))
        .route("/api/v1/threats", axum::routing::post(post_threat))
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

/// What `POST /api/v1/reports` and `POST /api/v1/threats` answer: the event that records it,
/// with the report or the threat.
#[derive(Serialize, ToSchema)]
pub struct RecordedAnswer<'a> {
    pub seq: u64,
    /// `report.attack` or `threat.reported`.
    pub kind: &'a str,
    /// The content key of the source text.
    pub id: &'a str,
    pub recorded_at: DateTime<Utc>,
    pub issuer: Option<&'a str>,
    /// True when the same text was recorded before: this is that first event.
    pub duplicate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RecordedAttackReport>)]
    pub report: Option<&'a Recorded<AttackReport>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RecordedThreat>)]
    pub threat: Option<&'a Recorded<Threat>>,
}

/// `GET /api/v1/reports`.
#[derive(Serialize, ToSchema)]
pub struct ReportList {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub reports: Vec<StoredReport>,
}

/// `GET /api/v1/reports/nights`.
#[derive(Serialize, ToSchema)]
pub struct NightList {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub nights: Vec<Night>,
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
    let (id, report, threat) = match &event.body {
        EventBody::ReportAttack { report } => (&report.id, Some(report.as_ref()), None),
        EventBody::ThreatReported { threat } => (&threat.id, None, Some(threat)),
        _ => {
            return Err(ApiError::internal(
                "a report command produced another event",
            ));
        }
    };
    let status = if accepted.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let body = RecordedAnswer {
        seq: event.seq,
        kind: event.kind(),
        id,
        recorded_at: event.at,
        issuer: event.issuer.as_deref(),
        duplicate: accepted.replayed,
        report,
        threat,
    };
    let mut response = (status, axum::Json(body)).into_response();
    if accepted.replayed {
        response
            .headers_mut()
            .insert("idempotent-replay", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Record an attack report read from an official text.
#[utoipa::path(
    post, path = "/api/v1/reports", tag = "reports",
    security(("bearer" = [])),
    request_body(content = AttackReport, content_type = "application/json", description = "As `tryvoga ingest text --json` prints it."),
    responses(
        (status = 201, description = "Recorded; durable in the log.", body = RecordedAnswer),
        (status = 200, description = "The same text was recorded before: the first event again (`Idempotent-Replay: true`).", body = RecordedAnswer),
        (status = 400, description = "Malformed JSON or an empty body.", body = crate::openapi::ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one.", body = crate::openapi::ErrorBody),
        (status = 403, description = "A reader token.", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is larger than 64 KiB.", body = crate::openapi::ErrorBody),
        (status = 422, description = "A field is missing or of the wrong type, or what it says cannot be recorded (the field named).", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be written; nothing was changed.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn post_report(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    record_one(app, headers, body, "report_attack", build_report).await
}

/// Record a threat notice read from an official text.
#[utoipa::path(
    post, path = "/api/v1/threats", tag = "reports",
    security(("bearer" = [])),
    request_body(content = Threat, content_type = "application/json", description = "As `tryvoga ingest text --json` prints it."),
    responses(
        (status = 201, description = "Recorded; durable in the log.", body = RecordedAnswer),
        (status = 200, description = "The same text was recorded before: the first event again (`Idempotent-Replay: true`).", body = RecordedAnswer),
        (status = 400, description = "Malformed JSON or an empty body.", body = crate::openapi::ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one.", body = crate::openapi::ErrorBody),
        (status = 403, description = "A reader token.", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is larger than 64 KiB.", body = crate::openapi::ErrorBody),
        (status = 422, description = "A field is missing or of the wrong type, or what it says cannot be recorded (the field named).", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be written; nothing was changed.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn post_threat(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    record_one(app, headers, body, "report_threat", build_threat).await
}

#[derive(Deserialize, Default, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// The period's start, an RFC 3339 time or a date `YYYY-MM-DD`; a year before `to` by
    /// default.
    #[param(example = "2026-01-01")]
    from: Option<String>,
    /// The period's end (excluded); now by default.
    #[param(example = "2026-12-31")]
    to: Option<String>,
    /// At most this many reports (1 to 10000, 1000 by default); reports only.
    #[param(minimum = 1, maximum = 10000)]
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
#[utoipa::path(
    get, path = "/api/v1/reports", tag = "reports", operation_id = "list_reports",
    security((), ("bearer" = [])),
    params(ReportQuery),
    responses(
        (status = 200, description = "Reports whose attack falls in the period, oldest first.", body = ReportList),
        (status = 400, description = "A malformed or unknown query parameter or a bad period, or a limit out of range.", body = crate::openapi::ErrorBody),
        (status = 401, description = "Reads are private and no live token was sent.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
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
    Ok(axum::Json(ReportList {
        from,
        to,
        reports: found,
    })
    .into_response())
}

/// Launched, destroyed and suppressed per night and weapon class.
#[utoipa::path(
    get, path = "/api/v1/reports/nights", tag = "reports", operation_id = "list_nights",
    security((), ("bearer" = [])),
    params(ReportQuery),
    responses(
        (status = 200, description = "Launched, destroyed and suppressed per night (18:00 to 09:00 Kyiv) and weapon class.", body = NightList),
        (status = 400, description = "A malformed or unknown query parameter or a bad period, or `limit` given.", body = crate::openapi::ErrorBody),
        (status = 401, description = "Reads are private and no live token was sent.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
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
    Ok(axum::Json(NightList {
        from,
        to,
        nights: found,
    })
    .into_response())
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

#[utoipa::path(
    get, path = "/api/v1/charts/nights.svg", tag = "charts",
    security((), ("bearer" = [])),
    params(ReportQuery),
    responses(
        (status = 200, description = "Launched against destroyed per night.", content_type = "image/svg+xml", body = String),
        (status = 400, description = "A malformed or unknown query parameter or a bad period.", body = crate::openapi::ErrorBody),
        (status = 401, description = "Reads are private and no live token was sent.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No night in the period has a report to draw.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn nights_svg(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = read_query(&app, &headers, q).await?;
    let (from, to, found) = nights_of(&app, &q).await?;
    svg(nights_chart(&found, from, to), ApiError::not_found).await
}
