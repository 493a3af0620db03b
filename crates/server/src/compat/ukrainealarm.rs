//! The api.ukrainealarm.com API (v3), as its generated clients, the `uasiren` package and the
//! Home Assistant integration read it: regions with active alerts, one region's status with
//! the alerts it inherits from its oblast or raion, the last-action index, the region tree,
//! the last 25 alerts of a region, and webhook registration (in [`super::webhooks`]).
//!
//! Ids are ukrainealarm `regionId`s (strings on the wire): Tryvoga's ids, except Crimea, 9999.
//! The key comes raw in `Authorization`.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use tryvoga_core::{Alert, AlertLevel, AlertType, Level, Region, Registry};

use super::webhooks;
use super::{
    Api, Refused, Stamp, authorize, client_addr, event_times, json_answer, last_modified,
    not_modified, query_param,
};
use crate::app::SharedApp;

pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v3/alerts", get(alerts))
        .route("/api/v3/alerts/status", get(status))
        .route("/api/v3/alerts/regionHistory", get(region_history))
        .route("/api/v3/alerts/{region_id}", get(region_alerts))
        .route("/api/v3/regions", get(regions))
        .route(
            "/api/v3/webhook",
            post(webhooks::subscribe)
                .patch(webhooks::update)
                .delete(webhooks::unsubscribe),
        )
        .route("/api/v3/webhook/keys", get(webhooks::keys))
        // The same path as ukrainealarm serves its key at.
        .route("/webhook-public.pem", get(webhooks::public_pem))
}

/// A region's ukrainealarm id, when ukrainealarm knows the region.
pub fn ua_id(region: &Region) -> Option<u32> {
    region.ukrainealarm_id
}

fn region_type(level: Level) -> &'static str {
    match level {
        Level::Oblast => "State",
        Level::Raion => "District",
        Level::Hromada => "Community",
    }
}

pub fn alert_type(t: AlertType) -> &'static str {
    match t {
        AlertType::AirRaid => "AIR",
        AlertType::ArtilleryShelling => "ARTILLERY",
        AlertType::UrbanFights => "URBAN_FIGHTS",
        AlertType::Chemical => "CHEMICAL",
        AlertType::Nuclear => "NUCLEAR",
    }
}

/// The Air Alert app's level name. An alert raised without a level is the classic alert,
/// which the app shows red.
pub fn level_name(level: Option<AlertLevel>) -> &'static str {
    match level {
        Some(AlertLevel::Yellow) => "Yellow",
        Some(AlertLevel::Red) | None => "Red",
    }
}

pub fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The one threat level an active alert stands for, in the webhook's `activeAlertLevels` shape.
pub fn alert_levels(alert: &Alert) -> Value {
    json!([{
        "alertLevel": level_name(alert.level),
        "reason": alert.note,
        "createdAt": iso(alert.started_at),
    }])
}

fn answer(result: Result<Response, Refused>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn prelude(
    app: &SharedApp,
    headers: &HeaderMap,
    query: Option<&str>,
    ext: &Extensions,
    last_modified: Stamp,
) -> Result<Option<Response>, Refused> {
    authorize(
        app,
        Api::UkraineAlarm,
        headers,
        query,
        client_addr(ext),
        false,
    )
    .await?;
    Ok(not_modified(headers, last_modified))
}

/// The region a ukrainealarm id names; 9999 is Crimea.
fn region_by_ua_id<'r>(registry: &'r Registry, text: &str) -> Result<&'r Region, Refused> {
    let n: u32 = text.trim().parse().map_err(|_| {
        Refused::new(
            StatusCode::BAD_REQUEST,
            format!("regionId is a whole number, not {text:?}"),
        )
    })?;
    registry
        .regions()
        .find(|r| r.ukrainealarm_id == Some(n))
        .ok_or_else(|| Refused::new(StatusCode::NOT_FOUND, format!("no region has regionId {n}")))
}

/// Active actual alerts with the time of their last change.
async fn active_alerts(app: &SharedApp) -> Result<Vec<(Alert, DateTime<Utc>)>, Refused> {
    let state = app.store.state();
    let alerts: Vec<Alert> = state
        .active()
        .filter(|a| a.status.is_actual())
        .cloned()
        .collect();
    let seqs: Vec<u64> = alerts.iter().map(|a| a.seq).collect();
    let times = app.read(move |s| s.read(|c| event_times(c, &seqs))).await?;
    Ok(alerts
        .into_iter()
        .map(|a| {
            let t = times.get(&a.seq).copied().unwrap_or(a.started_at);
            (a, t)
        })
        .collect())
}

fn alert_entry(registry: &Registry, alert: &Alert, updated: DateTime<Utc>) -> Option<Value> {
    let region = registry.get(alert.region.id)?;
    Some(json!({
        "regionId": ua_id(region)?.to_string(),
        "regionType": region_type(region.level),
        "type": alert_type(alert.alert_type),
        "lastUpdate": iso(updated),
        "activeAlertLevels": alert_levels(alert),
    }))
}

fn region_model(
    region: &Region,
    id: u32,
    entries: Vec<Value>,
    last_update: Option<DateTime<Utc>>,
) -> Value {
    json!({
        "regionId": id.to_string(),
        "regionType": region_type(region.level),
        "regionName": region.name_uk,
        "regionEngName": region.name_en,
        "lastUpdate": last_update.map(iso),
        "activeAlerts": entries,
    })
}

/// Every region with an alert declared on it, each with its own alerts.
async fn alerts(
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
            let active = active_alerts(&app).await?;
            let mut by_region: std::collections::BTreeMap<u32, (Vec<Value>, DateTime<Utc>)> =
                std::collections::BTreeMap::new();
            for (alert, updated) in &active {
                let Some(region) = app.registry.get(alert.region.id) else {
                    continue;
                };
                let (Some(id), Some(entry)) =
                    (ua_id(region), alert_entry(app.registry, alert, *updated))
                else {
                    continue;
                };
                let slot = by_region
                    .entry(id)
                    .or_insert_with(|| (Vec::new(), *updated));
                slot.0.push(entry);
                slot.1 = slot.1.max(*updated);
            }
            let out: Vec<Value> = by_region
                .into_iter()
                .filter_map(|(id, (entries, last))| {
                    let region = app
                        .registry
                        .regions()
                        .find(|r| r.ukrainealarm_id == Some(id))?;
                    Some(region_model(region, id, entries, Some(last)))
                })
                .collect();
            Ok(json_answer(&Value::Array(out), lm))
        }
        .await,
    )
}

/// One region, with the alerts declared on it and on the oblast or raion above it: a device
/// watching a hromada hears the oblast's siren. Each alert names where it was declared.
async fn region_alerts(
    State(app): State<SharedApp>,
    Path(region_id): Path<String>,
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
            let region = region_by_ua_id(app.registry, &region_id)?;
            let id = region.id;
            let active = active_alerts(&app).await?;
            let mut entries = Vec::new();
            let mut last: Option<DateTime<Utc>> = None;
            for (alert, updated) in &active {
                if !app.registry.is_within(id, alert.region.id) {
                    continue;
                }
                if let Some(e) = alert_entry(app.registry, alert, *updated) {
                    entries.push(e);
                    last = Some(last.map_or(*updated, |l| l.max(*updated)));
                }
            }
            if last.is_none() {
                // Without an active alert, the last time anything changed over this region.
                let mut ids: Vec<i64> = vec![i64::from(id.0)];
                ids.extend(app.registry.ancestors(id).map(|a| i64::from(a.0)));
                let ms: Option<i64> = app
                    .read(move |s| {
                        s.read(|c| {
                            let sql = format!(
                                "SELECT MAX(e.at_ms) FROM alerts a JOIN events e ON e.seq = a.seq
                             WHERE a.status = 'actual' AND a.region_id IN ({})",
                                vec!["?"; ids.len()].join(",")
                            );
                            Ok(c.query_row(&sql, rusqlite::params_from_iter(ids), |r| r.get(0))?)
                        })
                    })
                    .await?;
                last = ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single());
            }
            let ua = ua_id(region).unwrap_or(id.0);
            Ok(json_answer(
                &json!([region_model(region, ua, entries, last)]),
                lm,
            ))
        }
        .await,
    )
}

async fn status(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ext: Extensions,
) -> Response {
    answer(
        async {
            authorize(
                &app,
                Api::UkraineAlarm,
                &headers,
                query.as_deref(),
                client_addr(&ext),
                false,
            )
            .await?;
            // The log's sequence number changes exactly when something happened.
            Ok(axum::Json(json!({ "lastActionIndex": app.hub.last_seq() })).into_response())
        }
        .await,
    )
}

fn tree(registry: &Registry, region: &Region) -> Option<Value> {
    let id = ua_id(region)?;
    let children: Vec<Value> = registry
        .children(region.id)
        .iter()
        .filter_map(|c| registry.get(*c))
        .filter_map(|c| tree(registry, c))
        .collect();
    Some(json!({
        "regionId": id.to_string(),
        "regionName": region.name_uk,
        "regionType": region_type(region.level),
        "regionChildIds": children,
    }))
}

async fn regions(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ext: Extensions,
) -> Response {
    answer(
        async {
            authorize(
                &app,
                Api::UkraineAlarm,
                &headers,
                query.as_deref(),
                client_addr(&ext),
                false,
            )
            .await?;
            let states: Vec<Value> = app
                .registry
                .oblast_order()
                .iter()
                .filter_map(|id| app.registry.get(*id))
                .filter_map(|r| tree(app.registry, r))
                .collect();
            Ok(axum::Json(json!({ "states": states })).into_response())
        }
        .await,
    )
}

/// .NET's `TimeSpan` text, as that API writes durations: `hh:mm:ss`, days before a dot.
pub fn timespan(secs: i64) -> String {
    let secs = secs.max(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let hms = format!(
        "{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    if days > 0 {
        format!("{days}.{hms}")
    } else {
        hms
    }
}

/// How many alerts a region's history holds, as ukrainealarm keeps.
const HISTORY: i64 = 25;

async fn region_history(
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
            let Some(text) = query_param(query.as_deref(), "regionId") else {
                return Err(Refused::new(
                    StatusCode::BAD_REQUEST,
                    "regionId is required",
                ));
            };
            let region = region_by_ua_id(app.registry, &text)?;
            let id = region.id;
            let alerts: Vec<Alert> = app
                .read(move |s| {
                    s.read(|c| {
                        let mut stmt = c.prepare_cached(
                            "SELECT json FROM alerts WHERE region_id = ?1 AND status = 'actual'
                         ORDER BY started_ms DESC, id DESC LIMIT ?2",
                        )?;
                        let rows = stmt.query_map(rusqlite::params![id.0, HISTORY], |r| {
                            r.get::<_, String>(0)
                        })?;
                        let mut out = Vec::new();
                        for json in rows {
                            out.push(serde_json::from_str(&json?)?);
                        }
                        Ok(out)
                    })
                })
                .await?;
            let now = Utc::now();
            let ua = ua_id(region).unwrap_or(id.0).to_string();
            let alarms: Vec<Value> = alerts
                .iter()
                .map(|a| {
                    let end = a.ended_at.unwrap_or(now);
                    json!({
                        "regionId": ua,
                        "regionName": region.name_uk,
                        "startDate": iso(a.started_at),
                        "endDate": a.ended_at.map(iso),
                        "duration": timespan((end - a.started_at).num_seconds()),
                        "alertType": alert_type(a.alert_type),
                        "isContinue": a.ended_at.is_none(),
                    })
                })
                .collect();
            Ok(json_answer(
                &json!([{ "regionId": ua, "regionName": region.name_uk, "alarms": alarms }]),
                lm,
            ))
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_dotnet_timespans() {
        assert_eq!(timespan(0), "00:00:00");
        assert_eq!(timespan(38 * 60 + 5), "00:38:05");
        assert_eq!(timespan(86_400 + 3_723), "1.01:02:03");
    }

    #[test]
    fn crimea_is_9999_and_its_own_id_is_not_a_ukrainealarm_id() {
        let registry = Registry::embedded();
        let crimea = region_by_ua_id(registry, "9999").map(|r| r.id.0).ok();
        assert_eq!(crimea, Some(29));
        assert!(region_by_ua_id(registry, "29").is_err());
        assert!(region_by_ua_id(registry, "x").is_err());
    }
}
