//! `/api/v1/alerts`: raise, update, end and cancel alerts; the active set. The history is in
//! `history.rs`.

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tryvoga_core::{
    Actor, Alert, AlertId, AlertLevel, AlertStatus, AlertType, Command, RegionId, Role,
};
use utoipa::{IntoParams, ToSchema};

use std::sync::Arc;

use tryvoga_store::AnswerCache;

use crate::app::{SharedApp, body_bytes, parse_json};
use crate::error::ApiError;

const ISSUERS: &[Role] = &[Role::Admin, Role::Issuer];

/// `POST /api/v1/alerts`. Words (type, level, status) are taken in any case.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"region": "Kyiv oblast", "type": "air_raid", "level": "red"}))]
pub(crate) struct StartBody {
    #[schema(value_type = crate::openapi::RegionInput)]
    region: Value,
    #[serde(rename = "type")]
    #[schema(value_type = AlertType)]
    alert_type: String,
    /// None by default.
    #[schema(value_type = Option<AlertLevel>)]
    level: Option<String>,
    /// `actual` by default.
    #[schema(value_type = Option<AlertStatus>)]
    status: Option<String>,
    note: Option<String>,
}

/// `PATCH /api/v1/alerts/{id}`: a field left out is kept, a field set to null is cleared.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateBody {
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<AlertLevel>)]
    level: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    note: Option<Option<String>>,
}

/// `POST /api/v1/alerts/{id}/cancel`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "sensor fault"}))]
pub(crate) struct CancelBody {
    /// Why it was a false alarm.
    reason: String,
}

/// `POST /api/v1/alerts/{id}/end` takes no body, or any JSON object (its members are ignored).
#[derive(ToSchema)]
pub(crate) struct EndBody {}

/// `GET /api/v1/alerts/active`.
#[derive(Serialize, ToSchema)]
pub struct ActiveAlerts<'a> {
    /// The log position the answer reflects.
    pub seq: u64,
    #[schema(value_type = Vec<Alert>)]
    pub alerts: Vec<&'a Alert>,
}

/// Tells a field set to `null` (clear it) from a field left out (keep it).
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// A region given as a JSON number or as a string (id, code or name).
pub fn region_from_json(app: &SharedApp, value: &Value) -> Result<RegionId, ApiError> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => {
            return Err(ApiError::invalid(
                "region must be an id (number or numeric string), a KATOTTG or ISO code, or a name",
            ));
        }
    };
    Ok(app.registry.resolve(&text)?.id)
}

fn word<T: std::str::FromStr<Err = tryvoga_core::UnknownWord>>(s: &str) -> Result<T, ApiError> {
    s.parse()
        .map_err(|e: tryvoga_core::UnknownWord| ApiError::invalid(e.to_string()))
}

fn alert_id(id: Result<Path<u64>, PathRejection>) -> Result<u64, ApiError> {
    id.map(|Path(id)| id)
        .map_err(|_| ApiError::bad_request("an alert id is a positive whole number"))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 200)
        .ok_or_else(|| {
            ApiError::bad_request("Idempotency-Key must be 1 to 200 visible ASCII characters")
        })?;
    Ok(Some(key.to_string()))
}

/// Runs a command through the core and the log, auditing refusals made here on the way.
async fn execute(
    app: &SharedApp,
    actor: Actor,
    command: Command,
    key: Option<String>,
    created: bool,
) -> Result<Response, ApiError> {
    let accepted = app.command(actor, command, key).await?;
    let alert = accepted
        .event
        .body
        .alert()
        .ok_or_else(|| ApiError::internal("an alert command produced no alert"))?
        .clone();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = (status, axum::Json(&alert)).into_response();
    if created && let Ok(v) = HeaderValue::from_str(&format!("/api/v1/alerts/{}", alert.id)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    if accepted.replayed {
        response
            .headers_mut()
            .insert("idempotent-replay", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Parses and checks a command's body, auditing every refusal under the token's name.
async fn prepare<T>(
    app: &SharedApp,
    headers: &HeaderMap,
    action: &str,
    body: Result<Bytes, BytesRejection>,
    build: impl FnOnce(&SharedApp, &Bytes) -> Result<T, ApiError>,
) -> Result<(Actor, T, Option<String>), ApiError> {
    let actor = app.audited_actor(headers, action, ISSUERS).await?;
    let outcome = body_bytes(body).and_then(|bytes| {
        let key = idempotency_key(headers)?;
        Ok((build(app, &bytes).map_err(|e| (e, bytes.clone())), key))
    });
    match outcome {
        Ok((Ok(t), key)) => Ok((actor, t, key)),
        Ok((Err((e, bytes)), _)) => {
            app.refuse(Some(&actor), action, Some(&bytes), &e).await;
            Err(e)
        }
        Err(e) => {
            app.refuse(Some(&actor), action, None, &e).await;
            Err(e)
        }
    }
}

/// Raise an alert.
#[utoipa::path(
    post, path = "/api/v1/alerts", tag = "alerts", operation_id = "start_alert",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key gets the first answer again (1 to 200 visible ASCII characters).")),
    request_body(content = StartBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Raised; durable in the log.", body = Alert,
            headers(("Location" = String, description = "The alert's URL"))),
        (status = 200, description = "The first answer to this Idempotency-Key, again.", body = Alert),
        (status = 400, description = "Malformed JSON, an empty body, a bad Idempotency-Key, or an ambiguous region name (with `candidates`).", body = crate::openapi::ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one.", body = crate::openapi::ErrorBody),
        (status = 403, description = "A reader token, or a region out of the issuer's scope.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such region (with `candidates`).", body = crate::openapi::ErrorBody),
        (status = 409, description = "The same type is already active on the region (with the `alert`).", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is larger than 64 KiB.", body = crate::openapi::ErrorBody),
        (status = 422, description = "A field is missing, unknown or of the wrong type or word; or the Idempotency-Key was used for another request.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be written; nothing was changed.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn start(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (actor, command, key) = prepare(&app, &headers, "start_alert", body, |app, bytes| {
        let b: StartBody = parse_json(bytes)?;
        Ok(Command::StartAlert {
            region: region_from_json(app, &b.region)?,
            alert_type: word::<AlertType>(&b.alert_type)?,
            level: b.level.as_deref().map(word::<AlertLevel>).transpose()?,
            status: b
                .status
                .as_deref()
                .map(word::<AlertStatus>)
                .transpose()?
                .unwrap_or(AlertStatus::Actual),
            note: b.note.filter(|n| !n.trim().is_empty()),
        })
    })
    .await?;
    execute(&app, actor, command, key, true).await
}

/// Change an alert's level or note.
#[utoipa::path(
    patch, path = "/api/v1/alerts/{id}", tag = "alerts",
    security(("bearer" = [])),
    params(
        ("id" = u64, Path, description = "The alert's id.", example = 1),
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key gets the first answer again."),
    ),
    request_body(content = UpdateBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Done; durable in the log. The alert as it is now.", body = Alert),
        (status = 400, description = "A bad id, malformed JSON, an empty body where one is needed, or a bad Idempotency-Key.", body = crate::openapi::ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one.", body = crate::openapi::ErrorBody),
        (status = 403, description = "A reader token, or an alert out of the issuer's scope.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No alert has that id.", body = crate::openapi::ErrorBody),
        (status = 409, description = "The alert has already ended.", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is larger than 64 KiB.", body = crate::openapi::ErrorBody),
        (status = 422, description = "A field is missing, unknown or of the wrong type or word.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be written; nothing was changed.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn update(
    State(app): State<SharedApp>,
    id: Result<Path<u64>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = alert_id(id)?;
    let (actor, command, key) = prepare(&app, &headers, "update_alert", body, |_, bytes| {
        let b: UpdateBody = parse_json(bytes)?;
        let level = match b.level {
            Some(Some(l)) => Some(Some(word::<AlertLevel>(&l)?)),
            Some(None) => Some(None),
            None => None,
        };
        Ok(Command::UpdateAlert {
            id: AlertId(id),
            level,
            note: b.note,
        })
    })
    .await?;
    execute(&app, actor, command, key, false).await
}

/// End an alert.
#[utoipa::path(
    post, path = "/api/v1/alerts/{id}/end", tag = "alerts",
    security(("bearer" = [])),
    params(
        ("id" = u64, Path, description = "The alert's id.", example = 1),
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key gets the first answer again."),
    ),
    request_body(content = Option<EndBody>, content_type = "application/json", description = "Nothing, or any JSON object."),
    responses(
        (status = 200, description = "Done; durable in the log. The alert as it is now.", body = Alert),
        (status = 400, description = "A bad id, malformed JSON, an empty body where one is needed, or a bad Idempotency-Key.", body = crate::openapi::ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one.", body = crate::openapi::ErrorBody),
        (status = 403, description = "A reader token, or an alert out of the issuer's scope.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No alert has that id.", body = crate::openapi::ErrorBody),
        (status = 409, description = "The alert has already ended.", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is larger than 64 KiB.", body = crate::openapi::ErrorBody),
        (status = 422, description = "A field is missing, unknown or of the wrong type or word.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be written; nothing was changed.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn end(
    State(app): State<SharedApp>,
    id: Result<Path<u64>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = alert_id(id)?;
    let (actor, command, key) = prepare(&app, &headers, "end_alert", body, |_, bytes| {
        // An empty body, `null` or an object are all fine: ending needs nothing more.
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            let _: Option<serde_json::Map<String, Value>> = parse_json(bytes)?;
        }
        Ok(Command::EndAlert { id: AlertId(id) })
    })
    .await?;
    execute(&app, actor, command, key, false).await
}

/// Cancel an alert as a false alarm.
#[utoipa::path(
    post, path = "/api/v1/alerts/{id}/cancel", tag = "alerts",
    security(("bearer" = [])),
    params(
        ("id" = u64, Path, description = "The alert's id.", example = 1),
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key gets the first answer again."),
    ),
    request_body(content = CancelBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Done; durable in the log. The alert as it is now.", body = Alert),
        (status = 400, description = "A bad id, malformed JSON, an empty body where one is needed, or a bad Idempotency-Key.", body = crate::openapi::ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one.", body = crate::openapi::ErrorBody),
        (status = 403, description = "A reader token, or an alert out of the issuer's scope.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No alert has that id.", body = crate::openapi::ErrorBody),
        (status = 409, description = "The alert has already ended.", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is larger than 64 KiB.", body = crate::openapi::ErrorBody),
        (status = 422, description = "A field is missing, unknown or of the wrong type or word.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be written; nothing was changed.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn cancel(
    State(app): State<SharedApp>,
    id: Result<Path<u64>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = alert_id(id)?;
    let (actor, command, key) = prepare(&app, &headers, "cancel_alert", body, |_, bytes| {
        let b: CancelBody = parse_json(bytes)?;
        Ok(Command::CancelAlert {
            id: AlertId(id),
            reason: b.reason,
        })
    })
    .await?;
    execute(&app, actor, command, key, false).await
}

#[derive(Deserialize, Default, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActiveQuery {
    /// Only alerts of this status (drills are `exercise` and `test`).
    #[param(value_type = Option<AlertStatus>)]
    status: Option<String>,
    /// Only alerts of this type.
    #[serde(rename = "type")]
    #[param(value_type = Option<AlertType>)]
    alert_type: Option<String>,
}

/// The active alerts with the log position they reflect. Conditional requests are answered
/// with 304 so that devices polling every few seconds cost next to nothing.
/// The active alerts.
#[utoipa::path(
    get, path = "/api/v1/alerts/active", tag = "alerts",
    security((), ("bearer" = [])),
    params(
        ActiveQuery,
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer."),
        ("If-Modified-Since" = Option<String>, Header, description = "An HTTP date."),
    ),
    responses(
        (status = 200, description = "The alerts under way, drills included unless filtered.", body = ActiveAlerts,
            headers(("ETag" = String), ("Last-Modified" = String))),
        (status = 304, description = "Nothing changed since the ETag or date sent."),
        (status = 400, description = "A malformed or unknown query parameter.", body = crate::openapi::ErrorBody),
        (status = 401, description = "Reads are private and no live token was sent.", body = crate::openapi::ErrorBody),
        (status = 422, description = "An unknown status or type.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn active(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    query: Result<Query<ActiveQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    app.check_read(&headers).await?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    active_answer(
        &app.store.state(),
        app.source.last_event_ms(),
        &app.read_cache,
        &headers,
        &q,
    )
}

/// The answer to `GET /api/v1/alerts/active` from a state alone, for a serve node (the
/// writer's state) and an edge (its replica's) alike.
pub fn active_answer(
    state: &Arc<tryvoga_core::State>,
    last_event_ms: i64,
    cache: &AnswerCache,
    headers: &HeaderMap,
    q: &ActiveQuery,
) -> Result<Response, ApiError> {
    let status = q.status.as_deref().map(word::<AlertStatus>).transpose()?;
    let alert_type = q.alert_type.as_deref().map(word::<AlertType>).transpose()?;
    let seq = state.last_seq();
    let last_modified = DateTime::<Utc>::from_timestamp_millis(last_event_ms).unwrap_or_default();
    let etag = format!(
        "\"{seq}-{}-{}\"",
        status.map_or("all", |s| s.as_str()),
        alert_type.map_or("all", |t| t.as_str())
    );
    if not_modified(headers, &etag, last_modified) {
        return Ok(cached(
            StatusCode::NOT_MODIFIED,
            &etag,
            last_modified,
            Bytes::new(),
        ));
    }
    let body = active_body(state, cache, &etag, status, alert_type)?;
    Ok(cached(StatusCode::OK, &etag, last_modified, body))
}

/// Serialised once per state and query, then the same bytes for every poller.
fn active_body(
    state: &Arc<tryvoga_core::State>,
    cache: &AnswerCache,
    etag: &str,
    status: Option<AlertStatus>,
    alert_type: Option<AlertType>,
) -> Result<Bytes, ApiError> {
    let seq = state.last_seq();
    cache.get_or_build(state, etag, || {
        let alerts: Vec<&Alert> = state
            .active()
            .filter(|a| status.is_none_or(|s| a.status == s))
            .filter(|a| alert_type.is_none_or(|t| a.alert_type == t))
            .collect();
        serde_json::to_vec(&ActiveAlerts { seq, alerts })
            .map(Bytes::from)
            .map_err(|e| ApiError::internal(e.to_string()))
    })
}

/// `GET /api/v1/alerts/active` without a query, as parts a front door can answer from
/// (`tryvoga edge`): the same ETag, `Last-Modified` and body bytes as [`active_answer`] gives.
pub struct ActiveParts {
    pub etag: String,
    pub last_modified: String,
    pub body: Bytes,
}

pub fn active_parts(
    state: &Arc<tryvoga_core::State>,
    last_event_ms: i64,
    cache: &AnswerCache,
) -> Result<ActiveParts, ApiError> {
    let last_modified = DateTime::<Utc>::from_timestamp_millis(last_event_ms).unwrap_or_default();
    let etag = format!("\"{}-all-all\"", state.last_seq());
    let body = active_body(state, cache, &etag, None, None)?;
    Ok(ActiveParts {
        etag,
        last_modified: http_date(last_modified),
        body,
    })
}

pub fn not_modified(headers: &HeaderMap, etag: &str, last_modified: DateTime<Utc>) -> bool {
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        return inm.split(',').any(|t| t.trim() == etag || t.trim() == "*");
    }
    if let Some(ims) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
    {
        return last_modified.timestamp() <= ims.timestamp();
    }
    false
}

pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn cached(status: StatusCode, etag: &str, last_modified: DateTime<Utc>, body: Bytes) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    if status == StatusCode::OK {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(last_modified)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// One alert as it is now. `/api/v1/alerts/{id}.cap` answers its CAP message instead (as
/// `/api/v1/alerts/{id}/cap`).
#[utoipa::path(
    get, path = "/api/v1/alerts/{id}", tag = "alerts", operation_id = "get_alert",
    security((), ("bearer" = [])),
    params(("id" = u64, Path, description = "The alert's id.", example = 1)),
    responses(
        (status = 200, description = "The alert.", body = Alert),
        (status = 400, description = "The id is not a whole number.", body = crate::openapi::ErrorBody),
        (status = 401, description = "Reads are private and no live token was sent.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No alert has that id.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get_one(
    State(app): State<SharedApp>,
    id: Result<Path<u64>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = alert_id(id)?;
    app.check_read(&headers).await?;
    let alert = app
        .read(move |q| q.alert(AlertId(id)))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no alert has id {id}")))?;
    Ok(axum::Json(alert).into_response())
}
