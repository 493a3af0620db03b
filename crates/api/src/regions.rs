//! `/api/v1/regions`: the registry as a tree or a flat list, and one region with its status,
//! the active alerts that touch it, its time to shelter and the threats, pre-alerts and power
//! restrictions on it now.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tryvoga_core::{AlertType, Level, Region, RegionId, Registry, State as CoreState};

use crate::app::SharedApp;
use crate::error::ApiError;

fn region_json(r: &Region) -> Value {
    json!({
        "id": r.id,
        "level": r.level,
        "parent": r.parent,
        "oblast": r.oblast,
        "name_uk": r.name_uk,
        "name_en": r.name_en,
        "katottg": r.katottg,
        "iso": r.iso,
        "alerts_in_ua_uid": r.alerts_in_ua_uid,
        "ukrainealarm_id": r.ukrainealarm_id,
    })
}

fn tree(registry: &Registry, id: RegionId) -> Value {
    let mut node = registry.get(id).map(region_json).unwrap_or(Value::Null);
    let children: Vec<Value> = registry
        .children(id)
        .iter()
        .map(|&c| tree(registry, c))
        .collect();
    if let Value::Object(o) = &mut node
        && !children.is_empty()
    {
        o.insert("children".into(), Value::Array(children));
    }
    node
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    level: Option<String>,
}

pub async fn list(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    app.check_read(&headers).await?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(axum::Json(list_answer(app.registry, &q)?).into_response())
}

/// The registry as a tree of oblasts, or one level as a flat list.
pub fn list_answer(registry: &Registry, q: &ListQuery) -> Result<Value, ApiError> {
    Ok(match q.level.as_deref() {
        None => {
            let oblasts: Vec<Value> = registry.oblasts().map(|o| tree(registry, o.id)).collect();
            json!({ "regions": oblasts })
        }
        Some(level) => {
            let level: Level = match level {
                "oblast" => Level::Oblast,
                "raion" => Level::Raion,
                "hromada" => Level::Hromada,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "level must be oblast, raion or hromada, not {other:?}"
                    )));
                }
            };
            let regions: Vec<Value> = registry
                .regions()
                .filter(|r| r.level == level)
                .map(region_json)
                .collect();
            json!({ "regions": regions })
        }
    })
}

pub async fn one(
    State(app): State<SharedApp>,
    Path(region): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    app.check_read(&headers).await?;
    let region = app.registry.resolve(&region)?;
    Ok(axum::Json(region_answer(app.registry, &app.store.state(), region)).into_response())
}

/// One region with its status and the active alerts that touch it, from a state alone.
pub fn region_answer(registry: &Registry, state: &CoreState, region: &Region) -> Value {
    let mut status = Map::new();
    for &t in AlertType::ALL {
        let s = state.status_of(registry, region.id, |a| a.alert_type == t);
        status.insert(
            t.as_str().into(),
            serde_json::to_value(s).unwrap_or(Value::Null),
        );
    }
    let overall = state.status_of(registry, region.id, |_| true);
    let alerts: Vec<_> = state
        .active()
        .filter(|a| registry.related(a.region.id, region.id))
        .collect();
    let mut body = region_json(region);
    if let Value::Object(o) = &mut body {
        o.insert("aliases".into(), json!(region.aliases));
        o.insert(
            "status".into(),
            serde_json::to_value(overall).unwrap_or(Value::Null),
        );
        o.insert("status_by_type".into(), Value::Object(status));
        o.insert("active_alerts".into(), json!(alerts));
        let (situation, now) = (state.situation(), chrono::Utc::now());
        // In seconds: the region's own, else its nearest ancestor's; `null` when none is set.
        o.insert(
            "time_to_shelter".into(),
            json!(situation.time_to_shelter(registry, region.id)),
        );
        o.insert(
            "threats".into(),
            json!(situation.threats(registry, Some(region.id), now)),
        );
        o.insert(
            "prealerts".into(),
            json!(situation.prealerts(registry, Some(region.id), now)),
        );
        o.insert(
            "power".into(),
            json!(situation.power(registry, Some(region.id))),
        );
        o.insert("seq".into(), json!(state.last_seq()));
    }
    body
}
