//! The alerts.in.ua API (v1, and the v2 IoT strings with levels), as its official Python
//! client `alerts_in_ua` and the Rust client `ralertsinua` read it: active alerts, history by
//! region, and the IoT status strings; `Last-Modified`/`If-Modified-Since`; errors as
//! `{"message"}` with 401, 403, 429.
//!
//! Ids are alerts.in.ua `location_uid`s, equal to Tryvoga's region ids (Crimea is 29 in both).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use tryvoga_core::{
    Alert, AlertLevel, AlertStatus, AlertType, Level, Region, RegionId, Registry, State as Core,
    Status,
};

use tryvoga_store::HistoryQuery;

use crate::{Admitted, AlertsInUa, Refused, Shared, json_answer, last_updated, set_last_modified};

pub fn routes() -> Router<Shared> {
    let mut router = Router::new()
        .route("/v1/alerts/active.json", get(active))
        .route("/v1/regions/{uid}/alerts/{period}", get(history))
        // ralertsinua asks for history under `locations/`.
        .route("/v1/locations/{uid}/alerts/{period}", get(history));
    for &endpoint in IOT {
        router = router.route(
            endpoint.path,
            get(move |state, uid, call| iot(state, uid, call, endpoint)),
        );
    }
    router
}

/// The IoT endpoints: the same three strings in v1 (`A` for active) and v2 (`R`/`Y` by level).
#[derive(Debug, Clone, Copy)]
struct Iot {
    path: &'static str,
    scope: Scope,
    levels: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// 27 letters in the official oblast order.
    ByOblast,
    /// A letter at every uid.
    All,
    /// One region's letter, by the uid in the path.
    One,
}

const IOT: &[Iot] = &[
    Iot {
        path: "/v1/iot/active_air_raid_alerts_by_oblast.json",
        scope: Scope::ByOblast,
        levels: false,
    },
    Iot {
        path: "/v2/iot/active_air_raid_alerts_by_oblast.json",
        scope: Scope::ByOblast,
        levels: true,
    },
    Iot {
        path: "/v1/iot/active_air_raid_alerts.json",
        scope: Scope::All,
        levels: false,
    },
    Iot {
        path: "/v2/iot/active_air_raid_alerts.json",
        scope: Scope::All,
        levels: true,
    },
    Iot {
        path: "/v1/iot/active_air_raid_alerts/{uid}",
        scope: Scope::One,
        levels: false,
    },
    Iot {
        path: "/v2/iot/active_air_raid_alerts/{uid}",
        scope: Scope::One,
        levels: true,
    },
];

const DISCLAIMER: &str =
    "Served by Tryvoga, a self-hosted alert server, in the alerts.in.ua API shape.";

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

/// The threats on a region as alerts.in.ua lists them on its alerts: `threat_type` (its
/// vocabulary is the core's `ThreatKind`), `level` (the Air Alert app's colour for the kind),
/// `started_at` (when it was seen) and `source_message` (the notice as written).
fn threats_json(threats: &[&tryvoga_core::Threat]) -> Value {
    Value::Array(
        threats
            .iter()
            .map(|t| {
                json!({
                    "threat_type": t.kind.as_str(),
                    "level": t.kind.level().as_str(),
                    "started_at": iso_ms(t.observed_at),
                    "source_message": t.source,
                })
            })
            .collect(),
    )
}

fn alert_json(
    registry: &Registry,
    alert: &Alert,
    updated_at: DateTime<Utc>,
    threats: Value,
) -> Value {
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
        "threats": threats,
    })
}

/// The alerts as alerts.in.ua answers them; with `now` (the active set), each carries the
/// threats on now that concern its region.
fn alerts_document(
    registry: &Registry,
    alerts: &[(Alert, DateTime<Utc>)],
    updated: DateTime<Utc>,
    situation: Option<(&tryvoga_core::State, DateTime<Utc>)>,
) -> Value {
    let threats = |a: &Alert| match situation {
        Some((state, now)) => {
            threats_json(&state.situation().threats(registry, Some(a.region.id), now))
        }
        None => Value::Array(Vec::new()),
    };
    json!({
        "alerts": alerts
            .iter()
            .map(|(a, t)| alert_json(registry, a, *t, threats(a)))
            .collect::<Vec<_>>(),
        "meta": {
            "last_updated_at": updated.format("%Y/%m/%d %H:%M:%S +0000").to_string(),
            "type": "full",
        },
        "disclaimer": DISCLAIMER,
    })
}

async fn active(
    State(app): State<Shared>,
    call: Admitted<AlertsInUa>,
) -> Result<Response, Refused> {
    let lm = call.stamp;
    let with_times = app.active_alerts().await?;
    Ok(json_answer(
        &alerts_document(
            app.registry,
            &with_times,
            last_updated(&app),
            Some((&app.record.state(), Utc::now())),
        ),
        lm,
    ))
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
const HISTORY_LIMIT: usize = 1000;

async fn history(
    State(app): State<Shared>,
    Path((uid_text, period_text)): Path<(String, String)>,
    call: Admitted<AlertsInUa>,
) -> Result<Response, Refused> {
    let lm = call.stamp;
    let region = region_by_uid(app.registry, &uid_text)?;
    let since = Utc::now() - period(&period_text)?;
    let mut ids = vec![region.id];
    ids.extend(app.registry.descendants(region.id));
    let q = HistoryQuery {
        regions: Some(ids),
        status: Some(AlertStatus::Actual),
        from: Some(since),
        limit: HISTORY_LIMIT,
        ..HistoryQuery::default()
    };
    let rows = app
        .read(move |q_| {
            let (alerts, _) = q_.history(&q)?;
            let seqs: Vec<u64> = alerts.iter().map(|a| a.seq).collect();
            let times = q_.event_times(&seqs)?;
            Ok(alerts
                .into_iter()
                .map(|a| {
                    let t = times.get(&a.seq).copied().unwrap_or(a.started_at);
                    (a, t)
                })
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(json_answer(
        &alerts_document(app.registry, &rows, last_updated(&app), None),
        lm,
    ))
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

/// An IoT string answer. The strings over every oblast or uid depend on the state alone: they
/// are built once per state and shared as bytes.
async fn iot(
    State(app): State<Shared>,
    uid: Option<Path<String>>,
    call: Admitted<AlertsInUa>,
    endpoint: Iot,
) -> Result<Response, Refused> {
    let lm = call.stamp;
    let state = app.record.state();
    let registry = app.registry;
    let levels = endpoint.levels;
    let body = match endpoint.scope {
        Scope::One => {
            let Some(Path(uid)) = uid else {
                return Err(Refused::new(
                    StatusCode::BAD_REQUEST,
                    "a location uid is needed",
                ));
            };
            let region = region_by_uid(registry, &uid)?;
            let letter = air_letter(&state, registry, region.id, levels).to_string();
            return Ok(json_answer(&Value::String(letter), lm));
        }
        Scope::ByOblast => app.read_cache.get_or_build(&state, endpoint.path, || {
            string_body(by_oblast_string(&state, registry, levels))
        })?,
        Scope::All => app.read_cache.get_or_build(&state, endpoint.path, || {
            string_body(all_string(&state, registry, levels))
        })?,
    };
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

/// An IoT string over every oblast or uid as a front door may answer it without the router
/// (`tryvoga edge`): only when the alerts.in.ua API is public and has no request budget here,
/// so that no token or budget is skipped; `None` otherwise, and for any other path. The body
/// comes from the same per-state cache as [`iot`]'s, and `Last-Modified` from the same stamp.
pub struct HotIot {
    pub state: std::sync::Arc<Core>,
    pub stamp: crate::Stamp,
    pub last_modified: String,
    pub body: Bytes,
}

pub fn hot_iot(app: &Shared, path: &str) -> Option<HotIot> {
    if !app.options.public_alerts_in_ua || app.options.rate_limit_per_minute != 0 {
        return None;
    }
    let endpoint = IOT
        .iter()
        .find(|e| e.path == path && e.scope != Scope::One)?;
    let stamp = crate::last_modified(app);
    let state = app.record.state();
    let registry = app.registry;
    let levels = endpoint.levels;
    let body = app
        .read_cache
        .get_or_build(&state, endpoint.path, || match endpoint.scope {
            Scope::ByOblast => string_body(by_oblast_string(&state, registry, levels)),
            _ => string_body(all_string(&state, registry, levels)),
        })
        .ok()?;
    Some(HotIot {
        state,
        stamp,
        last_modified: crate::http_date(stamp.header),
        body,
    })
}

/// The paths [`hot_iot`] may answer.
pub fn hot_iot_paths() -> impl Iterator<Item = &'static str> {
    IOT.iter().filter(|e| e.scope != Scope::One).map(|e| e.path)
}

fn string_body(text: String) -> Result<Bytes, Refused> {
    serde_json::to_vec(&Value::String(text))
        .map(Bytes::from)
        .map_err(|e| Refused::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
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
