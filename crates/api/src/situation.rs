//! Threats, pre-alerts, power restrictions and times to shelter over HTTP:
//!
//! - `POST /api/v1/threats` (admin or issuer; a notice read from a text, in the shape `tryvoga
//!   ingest text --json` prints, is still recorded by its content key as before, see
//!   `reports`), `POST /api/v1/threats/{id}/clear`;
//! - `POST /api/v1/prealerts` (admin or issuer), `POST /api/v1/prealerts/{id}/end`;
//! - `POST /api/v1/power` (admin or grid), `PATCH /api/v1/power/{id}`,
//!   `POST /api/v1/power/{id}/end`;
//! - `GET` of each: what is on now (`?region=` through the hierarchy), and
//!   `GET …/history?region=&before=&limit=` (their events, newest first);
//! - `PUT /api/v1/regions/{region}/time-to-shelter` `{"seconds": 90}` (`null` removes it;
//!   admin).
//!
//! Handlers parse and map; the core decides scope, expiry and what an end may touch. Every
//! refusal is audited under the token's name, as for alerts.

use axum::Router;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tryvoga_core::prealert::EndReason;
use tryvoga_core::threat::{ClearReason, Reported};
use tryvoga_core::{
    Actor, Command, Event, EventBody, FromPlace, PowerId, PowerKind, PrealertId, RegionId, Role,
    ThreatId, ThreatKind,
};

use crate::alerts::region_from_json;
use crate::app::{SharedApp, body_bytes, parse_json};
use crate::error::ApiError;
use crate::query::read_query;

const ISSUERS: &[Role] = &[Role::Admin, Role::Issuer];
const GRID: &[Role] = &[Role::Admin, Role::Grid];
const ADMINS: &[Role] = &[Role::Admin];
const MAX_HISTORY: usize = 1_000;

const THREAT_KINDS: &[&str] = &["threat.reported", "threat.cleared"];
const PREALERT_KINDS: &[&str] = &["prealert.started", "prealert.ended"];
const POWER_KINDS: &[&str] = &["power.started", "power.updated", "power.ended"];

pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/threats", post(raise_threat).get(threats))
        .route("/api/v1/threats/history", get(threat_history))
        .route("/api/v1/threats/{id}/clear", post(clear_threat))
        .route("/api/v1/prealerts", post(start_prealert).get(prealerts))
        .route("/api/v1/prealerts/history", get(prealert_history))
        .route("/api/v1/prealerts/{id}/end", post(end_prealert))
        .route("/api/v1/power", post(start_power).get(power))
        .route("/api/v1/power/history", get(power_history))
        .route("/api/v1/power/{id}", axum::routing::patch(update_power))
        .route("/api/v1/power/{id}/end", post(end_power))
        .route(
            "/api/v1/regions/{region}/time-to-shelter",
            put(set_time_to_shelter),
        )
}

fn word<T: std::str::FromStr<Err = tryvoga_core::UnknownWord>>(s: &str) -> Result<T, ApiError> {
    s.parse()
        .map_err(|e: tryvoga_core::UnknownWord| ApiError::invalid(e.to_string()))
}

fn regions_from_json(app: &SharedApp, values: &[Value]) -> Result<Vec<RegionId>, ApiError> {
    values.iter().map(|v| region_from_json(app, v)).collect()
}

fn path_id(id: Result<Path<u64>, PathRejection>, what: &str) -> Result<u64, ApiError> {
    id.map(|Path(id)| id)
        .map_err(|_| ApiError::bad_request(format!("a {what} id is a positive whole number")))
}

/// An empty body or `{}`: what an end or clear takes.
fn empty_body(bytes: &[u8]) -> Result<(), ApiError> {
    if !bytes.iter().all(u8::is_ascii_whitespace) {
        let _: serde_json::Map<String, Value> = parse_json(bytes)?;
    }
    Ok(())
}

/// Parses a body into a command under a token holding one of `need`, auditing every refusal
/// made here under the token's name; then runs it through the core and the log.
async fn run(
    app: &SharedApp,
    headers: &HeaderMap,
    action: &str,
    need: &[Role],
    body: Result<Bytes, BytesRejection>,
    build: impl FnOnce(&SharedApp, &Bytes) -> Result<Command, ApiError>,
) -> Result<Event, ApiError> {
    let actor: Actor = app.audited_actor(headers, action, need).await?;
    let bytes = match body_bytes(body) {
        Ok(b) => b,
        Err(e) => {
            app.refuse(Some(&actor), action, None, &e).await;
            return Err(e);
        }
    };
    let command = match build(app, &bytes) {
        Ok(c) => c,
        Err(e) => {
            app.refuse(Some(&actor), action, Some(&bytes), &e).await;
            return Err(e);
        }
    };
    Ok(app.command(actor, command, None).await?.event)
}

/// The object an event is about (`threat`, `prealert`, `power`), with the event's `seq` and
/// `kind`.
fn answer(event: &Event, status: StatusCode, location: Option<String>) -> Response {
    let (field, value) = match &event.body {
        EventBody::ThreatReported { threat } => ("threat", json!(threat)),
        EventBody::ThreatCleared { threat } => ("threat", json!(threat)),
        EventBody::PrealertStarted { prealert } | EventBody::PrealertEnded { prealert } => {
            ("prealert", json!(prealert))
        }
        EventBody::PowerStarted { power }
        | EventBody::PowerUpdated { power }
        | EventBody::PowerEnded { power } => ("power", json!(power)),
        EventBody::RegionUpdated {
            region,
            time_to_shelter,
        } => (
            "region",
            json!({ "region": region, "time_to_shelter": time_to_shelter }),
        ),
        other => ("event", json!(other.kind())),
    };
    let mut response = (
        status,
        axum::Json(json!({ "seq": event.seq, "kind": event.kind(), field: value })),
    )
        .into_response();
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, l);
    }
    response
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThreatBody {
    kind: String,
    count: Option<u32>,
    /// A region (id, code or name), or `{"area": "..."}` for a launch area outside the registry.
    from: Option<Value>,
    #[serde(default)]
    towards: Vec<Value>,
    heading: Option<u16>,
    observed_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    source: Option<String>,
}

/// Whether a body is a notice read from a text (`action` and `text`, as `tryvoga ingest`
/// posts them) rather than a typed threat.
fn is_reading(bytes: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        action: Option<serde::de::IgnoredAny>,
        text: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Probe>(bytes).is_ok_and(|p| p.action.is_some() && p.text.is_some())
}

fn from_place(app: &SharedApp, v: &Value) -> Result<FromPlace, ApiError> {
    if let Some(area) = v.as_object().and_then(|o| o.get("area")) {
        let area = area
            .as_str()
            .ok_or_else(|| ApiError::invalid("from.area must be a string"))?;
        return Ok(FromPlace::Area(area.to_string()));
    }
    Ok(FromPlace::Region(region_from_json(app, v)?))
}

pub async fn raise_threat(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if let Ok(b) = &body
        && is_reading(b)
    {
        return crate::reports::post_threat(State(app), headers, body).await;
    }
    let event = run(
        &app,
        &headers,
        "raise_threat",
        ISSUERS,
        body,
        |app, bytes| {
            let b: ThreatBody = parse_json(bytes)?;
            Ok(Command::RaiseThreat {
                kind: word::<ThreatKind>(&b.kind)?,
                count: b.count,
                from: b.from.as_ref().map(|v| from_place(app, v)).transpose()?,
                towards: regions_from_json(app, &b.towards)?,
                heading: b.heading,
                observed_at: b.observed_at,
                expires_at: b.expires_at,
                source: b.source,
            })
        },
    )
    .await?;
    let location = match &event.body {
        EventBody::ThreatReported { threat } => match &**threat {
            Reported::Notice(t) => Some(format!("/api/v1/threats/{}", t.id)),
            Reported::Reading(_) => None,
        },
        _ => None,
    };
    Ok(answer(&event, StatusCode::CREATED, location))
}

pub async fn clear_threat(
    State(app): State<SharedApp>,
    id: Result<Path<u64>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(id, "threat")?;
    let event = run(&app, &headers, "clear_threat", ISSUERS, body, |_, bytes| {
        empty_body(bytes)?;
        Ok(Command::ClearThreat {
            id: ThreatId(id),
            reason: ClearReason::Issuer,
        })
    })
    .await?;
    Ok(answer(&event, StatusCode::OK, None))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrealertBody {
    regions: Vec<Value>,
    expires_at: Option<DateTime<Utc>>,
    note: Option<String>,
}

pub async fn start_prealert(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let event = run(
        &app,
        &headers,
        "start_prealert",
        ISSUERS,
        body,
        |app, bytes| {
            let b: PrealertBody = parse_json(bytes)?;
            Ok(Command::StartPrealert {
                regions: regions_from_json(app, &b.regions)?,
                expires_at: b.expires_at,
                note: b.note.filter(|n| !n.trim().is_empty()),
            })
        },
    )
    .await?;
    let location = match &event.body {
        EventBody::PrealertStarted { prealert } => {
            Some(format!("/api/v1/prealerts/{}", prealert.id))
        }
        _ => None,
    };
    Ok(answer(&event, StatusCode::CREATED, location))
}

pub async fn end_prealert(
    State(app): State<SharedApp>,
    id: Result<Path<u64>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(id, "pre-alert")?;
    let event = run(&app, &headers, "end_prealert", ISSUERS, body, |_, bytes| {
        empty_body(bytes)?;
        Ok(Command::EndPrealert {
            id: PrealertId(id),
            reason: EndReason::Issuer,
        })
    })
    .await?;
    Ok(answer(&event, StatusCode::OK, None))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PowerBody {
    regions: Vec<Value>,
    kind: String,
    #[serde(default)]
    queues: Vec<String>,
    #[serde(default)]
    hours: Vec<String>,
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PowerUpdateBody {
    kind: Option<String>,
    queues: Option<Vec<String>>,
    hours: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    note: Option<Option<String>>,
}

/// Tells a field set to `null` (clear it) from a field left out (keep it).
fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub async fn start_power(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let event = run(&app, &headers, "start_power", GRID, body, |app, bytes| {
        let b: PowerBody = parse_json(bytes)?;
        Ok(Command::StartPower {
            regions: regions_from_json(app, &b.regions)?,
            kind: word::<PowerKind>(&b.kind)?,
            queues: b.queues,
            hours: b.hours,
            note: b.note.filter(|n| !n.trim().is_empty()),
        })
    })
    .await?;
    let location = match &event.body {
        EventBody::PowerStarted { power } => Some(format!("/api/v1/power/{}", power.id)),
        _ => None,
    };
    Ok(answer(&event, StatusCode::CREATED, location))
}

pub async fn update_power(
    State(app): State<SharedApp>,
    id: Result<Path<u64>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(id, "power restriction")?;
    let event = run(&app, &headers, "update_power", GRID, body, |_, bytes| {
        let b: PowerUpdateBody = parse_json(bytes)?;
        Ok(Command::UpdatePower {
            id: PowerId(id),
            kind: b.kind.as_deref().map(word::<PowerKind>).transpose()?,
            queues: b.queues,
            hours: b.hours,
            note: b.note,
        })
    })
    .await?;
    Ok(answer(&event, StatusCode::OK, None))
}

pub async fn end_power(
    State(app): State<SharedApp>,
    id: Result<Path<u64>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(id, "power restriction")?;
    let event = run(&app, &headers, "end_power", GRID, body, |_, bytes| {
        empty_body(bytes)?;
        Ok(Command::EndPower { id: PowerId(id) })
    })
    .await?;
    Ok(answer(&event, StatusCode::OK, None))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShelterBody {
    seconds: Option<u32>,
}

pub async fn set_time_to_shelter(
    State(app): State<SharedApp>,
    Path(region): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let event = run(
        &app,
        &headers,
        "set_time_to_shelter",
        ADMINS,
        body,
        |app, bytes| {
            let region = app.registry.resolve(&region)?.id;
            let b: ShelterBody = parse_json(bytes)?;
            Ok(Command::SetTimeToShelter {
                region,
                seconds: b.seconds,
            })
        },
    )
    .await?;
    Ok(answer(&event, StatusCode::OK, None))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ActiveQuery {
    region: Option<String>,
}

fn region_of(app: &SharedApp, q: Option<&str>) -> Result<Option<RegionId>, ApiError> {
    q.map(|r| app.registry.resolve(r).map(|r| r.id))
        .transpose()
        .map_err(ApiError::from)
}

pub async fn threats(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    q: Result<Query<ActiveQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = read_query(&app, &headers, q).await?;
    let region = region_of(&app, q.region.as_deref())?;
    let state = app.store.state();
    let on = state.situation().threats(app.registry, region, Utc::now());
    Ok(axum::Json(json!({ "seq": state.last_seq(), "threats": on })).into_response())
}

pub async fn prealerts(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    q: Result<Query<ActiveQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = read_query(&app, &headers, q).await?;
    let region = region_of(&app, q.region.as_deref())?;
    let state = app.store.state();
    let on = state
        .situation()
        .prealerts(app.registry, region, Utc::now());
    Ok(axum::Json(json!({ "seq": state.last_seq(), "prealerts": on })).into_response())
}

pub async fn power(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    q: Result<Query<ActiveQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = read_query(&app, &headers, q).await?;
    let region = region_of(&app, q.region.as_deref())?;
    let state = app.store.state();
    let on = state.situation().power(app.registry, region);
    Ok(axum::Json(json!({ "seq": state.last_seq(), "power": on })).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    region: Option<String>,
    before: Option<u64>,
    limit: Option<usize>,
}

/// Events of `kinds`, newest first, those concerning `?region=` (through the hierarchy) when
/// one is named. A page holds up to `limit` events of the log's, before filtering; the next
/// page is `before` the smallest `seq` of `next_before`.
async fn history(
    app: SharedApp,
    headers: HeaderMap,
    q: Result<Query<HistoryQuery>, QueryRejection>,
    kinds: &'static [&'static str],
) -> Result<Response, ApiError> {
    let q = read_query(&app, &headers, q).await?;
    let region = region_of(&app, q.region.as_deref())?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_HISTORY {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_HISTORY}"
        )));
    }
    let before = q.before;
    let page = app
        .read(move |r| r.events_of_kinds(kinds, before, limit))
        .await?;
    let next_before = (page.len() == limit)
        .then(|| page.last().map(|e| e.seq))
        .flatten();
    let registry = app.registry;
    let mut events = Vec::with_capacity(page.len());
    for stored in &page {
        let event: Event = serde_json::from_str(&stored.payload)
            .map_err(|e| ApiError::internal(format!("event {} did not read: {e}", stored.seq)))?;
        let wanted =
            region.is_none_or(|r| event.body.regions().iter().any(|&e| registry.related(e, r)));
        if wanted {
            events.push(event);
        }
    }
    Ok(axum::Json(json!({ "events": events, "next_before": next_before })).into_response())
}

pub async fn threat_history(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    q: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    history(app, headers, q, THREAT_KINDS).await
}

pub async fn prealert_history(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    q: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    history(app, headers, q, PREALERT_KINDS).await
}

pub async fn power_history(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    q: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    history(app, headers, q, POWER_KINDS).await
}
