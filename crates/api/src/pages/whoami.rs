//! `GET /api/v1/whoami`: the name, role and region scope of the bearer token, so the console
//! can offer exactly the regions the token may issue for.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tryvoga_core::{RegionRef, Role};
use utoipa::ToSchema;

use crate::app::SharedApp;
use crate::error::ApiError;

/// The bearer token as the console sees it.
#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    pub name: String,
    pub role: Role,
    /// The regions it may issue for, each covering its descendants.
    pub regions: Vec<RegionRef>,
    /// An admin's: every region.
    pub all_regions: bool,
}

/// `{name, role, regions, all_regions}`. `regions` are region references (`id`, `level`,
/// names, `oblast_id`), each covering its descendants; an admin's are all the oblasts, with
/// `all_regions: true`; a reader's are empty.
#[utoipa::path(
    get, path = "/api/v1/whoami", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The token's name, role and scope.", body = WhoAmI),
        (status = 401, description = "No token, or an unknown or revoked one.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn whoami(
    State(app): State<SharedApp>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let actor = app.actor(&headers).await?;
    let registry = app.registry;
    let all = actor.role == Role::Admin;
    let regions: Vec<RegionRef> = match actor.role {
        Role::Admin => registry.oblasts().map(|r| r.to_ref()).collect(),
        Role::Issuer => actor
            .scope
            .iter()
            .filter_map(|&id| registry.get(id))
            .map(|r| r.to_ref())
            .collect(),
        Role::Reader => Vec::new(),
    };
    Ok(axum::Json(WhoAmI {
        name: actor.name,
        role: actor.role,
        regions,
        all_regions: all,
    })
    .into_response())
}
