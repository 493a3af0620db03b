//! The alerts.in.ua API (v1, and the v2 IoT strings with levels), as its official Python
//! client `alerts_in_ua` and the Rust client `ralertsinua` read it: active alerts, history by
//! region, and the IoT status strings; `Last-Modified`/`If-Modified-Since`; errors as
//! `{"message"}` with 401, 403, 429.
//!
//! Ids are alerts.in.ua `location_uid`s, equal to Tryvoga's region ids (Crimea is 29 in both).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use tryvoga_core::{
    Alert, AlertLevel, AlertType, Level, Region, RegionId, Registry, State as Core, Status,
};

use super::{
    Api, Refused, Stamp, authorize, client_addr, event_times, json_answer, last_modified,
    not_modified, set_last_modified,
};
use crate::app::SharedApp;
use crate::error::ApiError;

pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/v1/alerts/active.json", get(active))
        .route("/v1/regions/{uid}/alerts/{period}", get(history))
        // ralertsinua asks for history under `locations/`.
        .route("/v1/locations/{uid}/alerts/{period}", get(history))
        .route(
            "/v1/iot/active_air_raid_alerts_by_oblast.json",
            get(by_oblast_v1),
        )
        .route(
            "/v2/iot/active_air_raid_alerts_by_oblast.json",
            get(by_oblast_v2),
        )
        .route("/v1/iot/active_air_raid_alerts/{uid}", get(one_v1))
        .route("/v2/iot/active_air_raid_alerts/{uid}", get(one_v2))
        .route("/v1/iot/active_air_raid_alerts.json", get(all_v1))
        .route("/v2/iot/active_air_raid_alerts.json", get(all_v2))
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Refused {
        Refused::new(e.status, e.message)
    }
}

const DISCLAIMER: &str =
    "Served by Tryvoga, a self-hosted alert server, in the alerts.in.ua API shape.";

/// The checks every endpoint starts with; `Some` is the answer when there is nothing to send.
async fn prelude(
    app: &SharedApp,
    headers: &HeaderMap,
    query: Option<&str>,
    ext: &Extensions,
    last_modified: Stamp,
) -> Result<Option<Response>, Refused> {
    authorize(
        app,
        Api::AlertsInUa,
        headers,
        query,
        client_addr(ext),
        false,
    )
    .await?;
    Ok(not_modified(headers, last_modified))
}

fn iso_ms(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A region's alerts.in.ua uid: its own where alerts.in.ua has one, else the shared id.
pub fn uid(region: &Region) -> u32 {
    region.alerts_in_ua_uid.unwrap_or(region.id.0)
}

/// The region a uid names, by alerts.in.ua uid first.
fn region_by_uid<'r>(registry: &'r Registry, text: &str) -> Result<&'r Region, Refused> {
    let text = text.strip_suffix(".json").unwrap_or(text);
    let n: u32 = text.trim().parse().map_err(|_| {
        Refused::new(
            StatusCode::BAD_REQUEST,
            format!("a location uid is a whole number, not {text:?}"),
        )
    })?;
    registry
        .regions()
        .find(|r| r.alerts_in_ua_uid == Some(n))
        .or_else(|| registry.get(RegionId(n)))
        .ok_or_else(|| Refused::new(StatusCode::NOT_FOUND, format!("no location has uid {n}")))
}

/// alerts.in.ua calls Kyiv, Sevastopol and the big cities it lists separately `city`.
fn location_type(region: &Region) -> &'static str {
    let city = region.name_uk.starts_with("м. ")
        && (region.level == Level::Oblast || region.alerts_in_ua_uid.is_some());
    if city {
        return "city";
    }
    region.level.as_str()
}

fn alert_json(registry: &Registry, alert: &Alert, updated_at: DateTime<Utc>) -> Value {
    let region = registry.get(alert.region.id);
    let oblast = registry.get(alert.region.oblast_id);
    let raion = region
        .filter(|r| r.level == Level::Hromada)
        .and_then(|r| r.parent)
        .and_then(|p| registry.get(p))
        .map(|p| p.name_uk.clone());
    json!({
        "id": alert.id.0,
        "location_title": alert.region.name_uk,
        "location_title_en": alert.region.name_en,
        "location_type": region.map(location_type).unwrap_or(alert.region.level.as_str()),
        "started_at": iso_ms(alert.started_at),
        "finished_at": alert.ended_at.map(iso_ms),
        "updated_at": iso_ms(updated_at.max(alert.started_at)),
        "alert_type": alert.alert_type.as_str(),
        // A string, as alerts.in.ua sends it (ralertsinua refuses a number here).
        "location_uid": region.map(uid).unwrap_or(alert.region.id.0).to_string(),
        "location_oblast": oblast.map(|o| o.name_uk.as_str()).unwrap_or_default(),
        "location_oblast_uid": oblast.map(uid).unwrap_or(alert.region.oblast_id.0),
        "location_raion": raion,
        "notes": alert.note,
        "country": null,
        "calculated": false,
        "alert_level": alert.level.map(AlertLevel::as_str),
        "threats": [],
    })
}

fn alerts_document(
    registry: &Registry,
    alerts: &[(Alert, DateTime<Utc>)],
    updated: DateTime<Utc>,
) -> Value {
    json!({
        "alerts": alerts.iter().map(|(a, t)| alert_json(registry, a, *t)).collect::<Vec<_>>(),
        "meta": {
            "last_updated_at": updated.format("%Y/%m/%d %H:%M:%S +0000").to_string(),
            "type": "full",
        },
        "disclaimer": DISCLAIMER,
    })
}

fn last_updated(app: &SharedApp) -> DateTime<Utc> {
    match app.hub.last_event_ms() {
        0 => Utc::now(),
        ms => Utc.timestamp_millis_opt(ms).single().unwrap_or_default(),
    }
}

fn answer(result: Result<Response, Refused>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn active(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ext: Extensions,
) -> Response {
    answer(
        async {
            let lm = last_modified(&app);
            if let Some(r) = prelude(&app, &headers, query.as_deref(), &ext, lm).await? {
                return Ok(r);
            }
            let state = app.store.state();
            let alerts: Vec<Alert> = state
                .active()
                .filter(|a| a.status.is_actual())
                .cloned()
                .collect();
            let seqs: Vec<u64> = alerts.iter().map(|a| a.seq).collect();
            let times = app.read(move |s| s.read(|c| event_times(c, &seqs))).await?;
            let with_times: Vec<(Alert, DateTime<Utc>)> = alerts
                .into_iter()
                .map(|a| {
                    let t = times.get(&a.seq).copied().unwrap_or(a.started_at);
                    (a, t)
                })
                .collect();
            Ok(json_answer(
                &alerts_document(app.registry, &with_times, last_updated(&app)),
                lm,
            ))
        }
        .await,
    )
}

/// How far back a history period reaches.
fn period(text: &str) -> Result<Duration, Refused> {
    match text.strip_suffix(".json").unwrap_or(text) {
        "day_ago" => Ok(Duration::days(1)),
        "week_ago" => Ok(Duration::weeks(1)),
        "month_ago" => Ok(Duration::days(31)),
        other => Err(Refused::new(
            StatusCode::BAD_REQUEST,
            format!("period must be day_ago, week_ago or month_ago, not {other:?}"),
        )),
    }
}

/// The most alerts one history answer holds.
const HISTORY_LIMIT: i64 = 1000;

async fn history(
    State(app): State<SharedApp>,
    Path((uid_text, period_text)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ext: Extensions,
) -> Response {
    answer(
        async {
            let lm = last_modified(&app);
            if let Some(r) = prelude(&app, &headers, query.as_deref(), &ext, lm).await? {
                return Ok(r);
            }
            let region = region_by_uid(app.registry, &uid_text)?;
            let since = Utc::now() - period(&period_text)?;
            let mut ids = vec![region.id];
            ids.extend(app.registry.descendants(region.id));
            let rows = app
                .read(move |s| {
                    s.read(|c| {
                        let placeholders = vec!["?"; ids.len()].join(",");
                        let sql = format!(
                        "SELECT a.json, e.at_ms FROM alerts a LEFT JOIN events e ON e.seq = a.seq
                         WHERE a.status = 'actual' AND a.region_id IN ({placeholders})
                           AND (a.ended_ms IS NULL OR a.ended_ms > ?)
                         ORDER BY a.started_ms DESC, a.id DESC LIMIT ?"
                    );
                        let mut args: Vec<i64> = ids.iter().map(|r| i64::from(r.0)).collect();
                        args.push(since.timestamp_millis());
                        args.push(HISTORY_LIMIT);
                        let mut stmt = c.prepare(&sql)?;
                        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
                            Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
                        })?;
                        let mut out = Vec::new();
                        for row in rows {
                            let (json, at) = row?;
                            let alert: Alert = serde_json::from_str(&json)?;
                            let t = at
                                .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
                                .unwrap_or(alert.started_at);
                            out.push((alert, t));
                        }
                        Ok(out)
                    })
                })
                .await?;
            Ok(json_answer(
                &alerts_document(app.registry, &rows, last_updated(&app)),
                lm,
            ))
        }
        .await,
    )
}

/// The IoT letter of a region from its status under red (or unlevelled) alerts and under
/// yellow ones: v1 says `A`, v2 says `R` or `Y` for an active region.
pub fn letter(red: Status, yellow: Status, levels: bool) -> char {
    match red.max(yellow) {
        Status::Active if !levels => 'A',
        Status::Active if red == Status::Active => 'R',
        Status::Active => 'Y',
        Status::Partial => 'P',
        Status::None => 'N',
    }
}

fn is_yellow(a: &Alert) -> bool {
    a.level == Some(AlertLevel::Yellow)
}

fn air_letter(state: &Core, registry: &Registry, id: RegionId, levels: bool) -> char {
    let red = state.status_of(registry, id, |a| {
        a.alert_type == AlertType::AirRaid && !is_yellow(a)
    });
    let yellow = state.status_of(registry, id, |a| {
        a.alert_type == AlertType::AirRaid && is_yellow(a)
    });
    letter(red, yellow, levels)
}

/// Statuses of every region for air-raid alerts, split by level.
type Split = (
    HashMap<RegionId, (Status, Option<AlertLevel>)>,
    HashMap<RegionId, (Status, Option<AlertLevel>)>,
);

fn split_statuses(state: &Core, registry: &Registry) -> Split {
    (
        state.statuses(registry, |a| {
            a.alert_type == AlertType::AirRaid && !is_yellow(a)
        }),
        state.statuses(registry, |a| {
            a.alert_type == AlertType::AirRaid && is_yellow(a)
        }),
    )
}

fn letter_from(split: &Split, id: RegionId, levels: bool) -> char {
    let get = |m: &HashMap<RegionId, (Status, Option<AlertLevel>)>| {
        m.get(&id).map_or(Status::None, |s| s.0)
    };
    letter(get(&split.0), get(&split.1), levels)
}

/// The 27-letter string in the official oblast order.
pub fn by_oblast_string(state: &Core, registry: &Registry, levels: bool) -> String {
    let split = split_statuses(state, registry);
    registry
        .oblast_order()
        .iter()
        .map(|&id| letter_from(&split, id, levels))
        .collect()
}

/// One letter per uid, a space where no location has that uid.
pub fn all_string(state: &Core, registry: &Registry, levels: bool) -> String {
    let split = split_statuses(state, registry);
    let located: Vec<(usize, RegionId)> = registry
        .regions()
        .filter_map(|r| r.alerts_in_ua_uid.map(|u| (u as usize, r.id)))
        .collect();
    let len = located.iter().map(|(u, _)| u + 1).max().unwrap_or(0);
    let mut letters = vec![' '; len];
    for (u, id) in located {
        letters[u] = letter_from(&split, id, levels);
    }
    letters.into_iter().collect()
}

/// An IoT string answer. The strings over every oblast or uid depend on the state alone:
/// `cache` names them, and they are built once per state and shared as bytes.
async fn iot(
    app: SharedApp,
    headers: HeaderMap,
    query: Option<String>,
    ext: Extensions,
    cache: Option<&'static str>,
    build: impl FnOnce(&SharedApp, &Core) -> Result<String, Refused>,
) -> Response {
    answer(
        async {
            let lm = last_modified(&app);
            if let Some(r) = prelude(&app, &headers, query.as_deref(), &ext, lm).await? {
                return Ok(r);
            }
            let state = app.store.state();
            let Some(key) = cache else {
                return Ok(json_answer(&Value::String(build(&app, &state)?), lm));
            };
            let body = app.read_cache.get_or_build(&state, key, || {
                let text = build(&app, &state)?;
                serde_json::to_vec(&Value::String(text))
                    .map(Bytes::from)
                    .map_err(|e| Refused::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
            })?;
            let mut r = (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response();
            set_last_modified(&mut r, lm);
            Ok(r)
        }
        .await,
    )
}

async fn by_oblast_v1(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ext: Extensions,
) -> Response {
    iot(app, headers, q, ext, Some("iot:v1:by_oblast"), |app, s| {
        Ok(by_oblast_string(s, app.registry, false))
    })
    .await
}

async fn by_oblast_v2(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ext: Extensions,
) -> Response {
    iot(app, headers, q, ext, Some("iot:v2:by_oblast"), |app, s| {
        Ok(by_oblast_string(s, app.registry, true))
    })
    .await
}

async fn all_v1(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ext: Extensions,
) -> Response {
    iot(app, headers, q, ext, Some("iot:v1:all"), |app, s| {
        Ok(all_string(s, app.registry, false))
    })
    .await
}

async fn all_v2(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ext: Extensions,
) -> Response {
    iot(app, headers, q, ext, Some("iot:v2:all"), |app, s| {
        Ok(all_string(s, app.registry, true))
    })
    .await
}

async fn one_v1(
    State(app): State<SharedApp>,
    Path(uid_text): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ext: Extensions,
) -> Response {
    iot(app, headers, q, ext, None, move |app, s| {
        let region = region_by_uid(app.registry, &uid_text)?;
        Ok(air_letter(s, app.registry, region.id, false).to_string())
    })
    .await
}

async fn one_v2(
    State(app): State<SharedApp>,
    Path(uid_text): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ext: Extensions,
) -> Response {
    iot(app, headers, q, ext, None, move |app, s| {
        let region = region_by_uid(app.registry, &uid_text)?;
        Ok(air_letter(s, app.registry, region.id, true).to_string())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_follow_the_client_tables() {
        use Status::*;
        assert_eq!(letter(Active, None, false), 'A');
        assert_eq!(letter(None, Active, false), 'A');
        assert_eq!(letter(Active, Active, true), 'R');
        assert_eq!(letter(Partial, Active, true), 'Y');
        assert_eq!(letter(None, Partial, true), 'P');
        assert_eq!(letter(None, None, true), 'N');
    }

    #[test]
    fn the_oblast_string_is_27_letters_and_the_full_one_spans_every_uid() {
        let registry = Registry::embedded();
        let state = Core::new();
        assert_eq!(by_oblast_string(&state, registry, false), "N".repeat(27));
        let all = all_string(&state, registry, true);
        let max = registry
            .regions()
            .filter_map(|r| r.alerts_in_ua_uid)
            .max()
            .unwrap_or(0);
        assert_eq!(all.chars().count(), max as usize + 1);
        assert_eq!(all.chars().nth(31), Some('N'));
        assert_eq!(all.chars().next(), Some(' '));
    }
}
