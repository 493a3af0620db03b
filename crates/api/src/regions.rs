//! `/api/v1/regions`: the registry as a tree or a flat list, and one region with its status
//! and the active alerts that touch it.

use std::collections::BTreeMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tryvoga_core::{
    Alert, AlertType, Level, Region, RegionId, Registry, State as CoreState, Status,
};
use utoipa::{IntoParams, ToSchema};

use crate::app::SharedApp;
use crate::error::ApiError;

/// A region of the registry.
#[derive(Serialize, ToSchema)]
pub struct RegionView {
    pub id: RegionId,
    pub level: Level,
    /// None for an oblast.
    pub parent: Option<RegionId>,
    /// The oblast it lies in (itself for an oblast).
    pub oblast: RegionId,
    pub name_uk: String,
    pub name_en: String,
    pub katottg: Option<String>,
    /// ISO 3166-2, for oblasts.
    pub iso: Option<String>,
    pub alerts_in_ua_uid: Option<u32>,
    pub ukrainealarm_id: Option<u32>,
}

impl RegionView {
    fn of(r: &Region) -> RegionView {
        RegionView {
            id: r.id,
            level: r.level,
            parent: r.parent,
            oblast: r.oblast,
            name_uk: r.name_uk.clone(),
            name_en: r.name_en.clone(),
            katottg: r.katottg.clone(),
            iso: r.iso.clone(),
            alerts_in_ua_uid: r.alerts_in_ua_uid,
            ukrainealarm_id: r.ukrainealarm_id,
        }
    }
}

/// A region with the regions under it (none in a flat list of one level).
#[derive(Serialize, ToSchema)]
pub struct RegionNode {
    #[serde(flatten)]
    pub region: RegionView,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub children: Vec<RegionNode>,
}

/// `GET /api/v1/regions`: the oblasts as trees, or one level as a flat list.
#[derive(Serialize, ToSchema)]
pub struct RegionList {
    pub regions: Vec<RegionNode>,
}

/// `GET /api/v1/regions/{region}`: a region with its status and the active alerts that touch it.
#[derive(Serialize, ToSchema)]
pub struct RegionDetail {
    #[serde(flatten)]
    pub region: RegionView,
    /// Other names the region is known by.
    pub aliases: Vec<String>,
    /// Over every alert type.
    pub status: Status,
    /// By alert type.
    pub status_by_type: BTreeMap<String, Status>,
    /// Active alerts on the region, its ancestors or its descendants.
    pub active_alerts: Vec<Alert>,
    /// The log position the answer reflects.
    pub seq: u64,
}

fn tree(registry: &Registry, region: &Region) -> RegionNode {
    RegionNode {
        region: RegionView::of(region),
        children: registry
            .children(region.id)
            .iter()
            .filter_map(|&c| registry.get(c))
            .map(|c| tree(registry, c))
            .collect(),
    }
}

#[derive(Deserialize, Default, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// One level as a flat list; without it, the oblasts as trees.
    #[param(value_type = Option<Level>)]
    level: Option<String>,
}

/// The registry.
#[utoipa::path(
    get, path = "/api/v1/regions", tag = "regions", operation_id = "list_regions",
    security((), ("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "The oblasts as trees (`children`), or one level as a flat list.", body = RegionList),
        (status = 400, description = "An unknown level, or a malformed or unknown query parameter.", body = crate::openapi::ErrorBody),
        (status = 401, description = "Reads are private and no live token was sent.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
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
pub fn list_answer(registry: &Registry, q: &ListQuery) -> Result<RegionList, ApiError> {
    Ok(match q.level.as_deref() {
        None => RegionList {
            regions: registry.oblasts().map(|o| tree(registry, o)).collect(),
        },
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
            RegionList {
                regions: registry
                    .regions()
                    .filter(|r| r.level == level)
                    .map(|r| RegionNode {
                        region: RegionView::of(r),
                        children: Vec::new(),
                    })
                    .collect(),
            }
        }
    })
}

/// One region, named as anywhere else (id, KATOTTG, ISO 3166-2, or a name in either language).
#[utoipa::path(
    get, path = "/api/v1/regions/{region}", tag = "regions", operation_id = "get_region",
    security((), ("bearer" = [])),
    params(("region" = String, Path, description = "An id, KATOTTG or ISO code, or a name.", example = "14")),
    responses(
        (status = 200, description = "The region, its status and the active alerts touching it.", body = RegionDetail),
        (status = 400, description = "The name could mean several regions (with `candidates`), or the path is not UTF-8.", body = crate::openapi::ErrorBody),
        (status = 401, description = "Reads are private and no live token was sent.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such region (with `candidates`).", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn one(
    State(app): State<SharedApp>,
    region: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    app.check_read(&headers).await?;
    let region = crate::query::path_text(region)?;
    let region = app.registry.resolve(&region)?;
    Ok(axum::Json(region_answer(app.registry, &app.store.state(), region)).into_response())
}

/// One region with its status and the active alerts that touch it, from a state alone.
pub fn region_answer(registry: &Registry, state: &CoreState, region: &Region) -> RegionDetail {
    let status_by_type = AlertType::ALL
        .iter()
        .map(|&t| {
            let s = state.status_of(registry, region.id, |a| a.alert_type == t);
            (t.as_str().to_string(), s)
        })
        .collect();
    RegionDetail {
        region: RegionView::of(region),
        aliases: region.aliases.clone(),
        status: state.status_of(registry, region.id, |_| true),
        status_by_type,
        active_alerts: state
            .active()
            .filter(|a| registry.related(a.region.id, region.id))
            .cloned()
            .collect(),
        seq: state.last_seq(),
    }
}
