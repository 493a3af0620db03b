//! The api.ukrainealarm.com API (v3), as its generated clients, the `uasiren` package and the
//! Home Assistant integration read it: regions with active alerts, one region's status with
//! the alerts it inherits from its oblast or raion, the last-action index, the region tree,
//! the last 25 alerts of a region, and webhook registration (in [`super::webhooks`]).
//!
//! Ids are ukrainealarm `regionId`s (strings on the wire): Tryvoga's ids, except Crimea, 9999.
//! The key comes raw in `Authorization`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tryvoga_core::{Alert, AlertStatus, Level, Region, RegionId, Registry};

use tryvoga_outputs::ukrainealarm::{alert_levels, alert_type, iso};
use tryvoga_store::HistoryQuery;

use crate::webhooks;
use crate::{Admitted, Refused, Shared, UkraineAlarm, json_answer, query_param};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v3/alerts", get(alerts))
        .route("/api/v3/alerts/status", get(status))
        .route("/api/v3/alerts/regionHistory", get(region_history))
        .route("/api/v3/alerts/{region_id}", get(region_alerts))
        .route("/api/v3/regions", get(regions))
}

/// Webhook registration and the key deliveries are signed with: a serve node's.
pub fn webhook_routes() -> Router<Shared> {
    Router::new()
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
    State(app): State<Shared>,
    call: Admitted<UkraineAlarm>,
) -> Result<Response, Refused> {
    let lm = call.stamp;
    let active = app.active_alerts().await?;
    let mut by_region: std::collections::BTreeMap<u32, (Vec<Value>, DateTime<Utc>)> =
        std::collections::BTreeMap::new();
    for (alert, updated) in &active {
        let Some(region) = app.registry.get(alert.region.id) else {
            continue;
        };
        let (Some(id), Some(entry)) = (ua_id(region), alert_entry(app.registry, alert, *updated))
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

/// One region, with the alerts declared on it and on the oblast or raion above it: a device
/// watching a hromada hears the oblast's siren. Each alert names where it was declared.
async fn region_alerts(
    State(app): State<Shared>,
    Path(region_id): Path<String>,
    call: Admitted<UkraineAlarm>,
) -> Result<Response, Refused> {
    let lm = call.stamp;
    let region = region_by_ua_id(app.registry, &region_id)?;
    let id = region.id;
    let active = app.active_alerts().await?;
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
        let mut ids: Vec<RegionId> = vec![id];
        ids.extend(app.registry.ancestors(id));
        last = app.record.last_actual_change(ids).await?;
    }
    let ua = ua_id(region).unwrap_or(id.0);
    Ok(json_answer(
        &json!([region_model(region, ua, entries, last)]),
        lm,
    ))
}

async fn status(
    State(app): State<Shared>,
    _call: Admitted<UkraineAlarm, false>,
) -> Result<Response, Refused> {
    // The log's sequence number changes exactly when something happened.
    Ok(axum::Json(json!({ "lastActionIndex": app.source.head() })).into_response())
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
    State(app): State<Shared>,
    _call: Admitted<UkraineAlarm, false>,
) -> Result<Response, Refused> {
    let states: Vec<Value> = app
        .registry
        .oblast_order()
        .iter()
        .filter_map(|id| app.registry.get(*id))
        .filter_map(|r| tree(app.registry, r))
        .collect();
    Ok(axum::Json(json!({ "states": states })).into_response())
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
const HISTORY: usize = 25;

async fn region_history(
    State(app): State<Shared>,
    call: Admitted<UkraineAlarm>,
) -> Result<Response, Refused> {
    let lm = call.stamp;
    let query = call.query;
    let Some(text) = query_param(query.as_deref(), "regionId") else {
        return Err(Refused::new(
            StatusCode::BAD_REQUEST,
            "regionId is required",
        ));
    };
    let region = region_by_ua_id(app.registry, &text)?;
    let id = region.id;
    let q = HistoryQuery {
        regions: Some(vec![id]),
        status: Some(AlertStatus::Actual),
        limit: HISTORY,
        ..HistoryQuery::default()
    };
    let alerts: Vec<Alert> = app.read(move |r| r.history(&q)).await?.0;
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
