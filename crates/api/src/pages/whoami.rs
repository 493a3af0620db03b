//! `GET /api/v1/whoami`: the name, role and region scope of the bearer token, so the console
//! can offer exactly the regions the token may issue for.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tryvoga_core::Role;

use crate::app::SharedApp;
use crate::error::ApiError;

/// `{name, role, regions, all_regions}`. `regions` are region references (`id`, `level`,
/// names, `oblast_id`), each covering its descendants; an admin's are all the oblasts, with
/// `all_regions: true`; a reader's are empty.
pub async fn whoami(
    State(app): State<SharedApp>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let actor = app.actor(&headers).await?;
    let registry = app.registry;
    let all = actor.role == Role::Admin;
    let regions: Vec<Value> = match actor.role {
        Role::Admin => registry.oblasts().map(|r| json!(r.to_ref())).collect(),
        Role::Issuer | Role::Grid => actor
            .scope
            .iter()
            .filter_map(|&id| registry.get(id))
            .map(|r| json!(r.to_ref()))
            .collect(),
        Role::Reader => Vec::new(),
    };
    Ok(axum::Json(json!({
        "name": actor.name,
        "role": actor.role,
        "regions": regions,
        "all_regions": all,
    }))
    .into_response())
}
