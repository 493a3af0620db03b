//! Administration over HTTP: tokens (create, list, revoke) and the audit trail. Admins only.

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use tryvoga_core::{RegionId, Role};
use tryvoga_store::NewToken;

use crate::alerts::region_from_json;
use crate::app::{SharedApp, body_bytes, parse_json};
use crate::error::{ApiError, from_store};

const ADMINS: &[Role] = &[Role::Admin];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    role: String,
    #[serde(default)]
    regions: Vec<Value>,
}

pub async fn create_token(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let actor = app.audited_actor(&headers, "create_token", ADMINS).await?;
    let parsed = body_bytes(body).and_then(|bytes| {
        let b: CreateBody = parse_json(&bytes)?;
        let role: Role = b
            .role
            .parse()
            .map_err(|e: tryvoga_core::UnknownWord| ApiError::invalid(e.to_string()))?;
        let regions = b
            .regions
            .iter()
            .map(|r| region_from_json(&app, r))
            .collect::<Result<Vec<RegionId>, _>>()?;
        Ok(NewToken {
            name: b.name,
            role,
            regions,
        })
    });
    let token = match parsed {
        Ok(t) => t,
        Err(e) => {
            app.refuse(Some(&actor), "create_token", None, &e).await;
            return Err(e);
        }
    };
    let (info, secret) = app.store.create_token(token).await.map_err(from_store)?;
    tracing::info!(name = %info.name, role = info.role.as_str(), by = %actor.name, "token created");
    let mut body = serde_json::to_value(&info).map_err(|e| ApiError::internal(e.to_string()))?;
    if let Value::Object(o) = &mut body {
        o.insert("token".into(), Value::String(secret));
    }
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

pub async fn list_tokens(
    State(app): State<SharedApp>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    app.audited_actor(&headers, "list_tokens", ADMINS).await?;
    let tokens = app.read(|q| q.tokens()).await?;
    Ok(axum::Json(json!({ "tokens": tokens })).into_response())
}

pub async fn revoke_token(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let actor = app.audited_actor(&headers, "revoke_token", ADMINS).await?;
    if !app.store.revoke_token(&name).await.map_err(from_store)? {
        return Err(ApiError::not_found(format!(
            "no live token is named {name:?}"
        )));
    }
    tracing::info!(name = %name, by = %actor.name, "token revoked");
    Ok(axum::Json(json!({ "revoked": name })).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    limit: Option<usize>,
}

pub async fn audit(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    app.audited_actor(&headers, "read_audit", ADMINS).await?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let records = app.read(move |q| q.audit(limit)).await?;
    Ok(axum::Json(json!({ "audit": records })).into_response())
}
