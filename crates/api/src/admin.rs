//! Administration over HTTP: tokens (create, list, revoke) and the audit trail. Admins only.

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tryvoga_core::{RegionId, Role};
use tryvoga_store::{AuditRecord, NewToken, TokenInfo};
use utoipa::{IntoParams, ToSchema};

use crate::alerts::region_from_json;
use crate::app::{SharedApp, body_bytes, parse_json};
use crate::error::{ApiError, from_store};

const ADMINS: &[Role] = &[Role::Admin];

/// `POST /api/v1/tokens`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "kyiv-duty", "role": "issuer", "regions": ["Kyiv oblast", 31]}))]
pub(crate) struct CreateBody {
    /// Unique among live tokens.
    name: String,
    #[schema(value_type = Role)]
    role: String,
    /// An issuer's scope: each region covers its descendants.
    #[serde(default)]
    #[schema(value_type = Vec<crate::openapi::RegionInput>)]
    regions: Vec<Value>,
}

/// A token just created, with its secret: shown this once, never stored in clear.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    /// The secret to send as `Authorization: Bearer <token>`.
    pub token: String,
}

/// `GET /api/v1/tokens`: every token, revoked ones included; no secrets.
#[derive(Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

/// `DELETE /api/v1/tokens/{name}`.
#[derive(Serialize, ToSchema)]
pub struct Revoked {
    /// The name of the token revoked.
    pub revoked: String,
}

/// `GET /api/v1/audit`: newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub audit: Vec<AuditRecord>,
}

/// Create a token.
#[utoipa::path(
    post, path = "/api/v1/tokens", tag = "admin",
    security(("bearer" = [])),
    request_body(content = CreateBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created.", body = CreatedToken),
        (status = 400, description = "Malformed JSON, an empty body, or an ambiguous region (with `candidates`).", body = crate::openapi::ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one.", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an admin token.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such region (with `candidates`).", body = crate::openapi::ErrorBody),
        (status = 409, description = "A live token has that name.", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is larger than 64 KiB.", body = crate::openapi::ErrorBody),
        (status = 422, description = "A field is missing, unknown or of the wrong type or word, or the name or scope is not one a token may have.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be written; nothing was changed.", body = crate::openapi::ErrorBody),
    )
)]

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
    let body = CreatedToken {
        info,
        token: secret,
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// Every token.
#[utoipa::path(
    get, path = "/api/v1/tokens", tag = "admin",
    security(("bearer" = [])),

    responses(
        (status = 200, description = "Every token, revoked ones included.", body = TokenList),
        (status = 401, description = "No token, or an unknown or revoked one.", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an admin token.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn list_tokens(
    State(app): State<SharedApp>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    app.audited_actor(&headers, "list_tokens", ADMINS).await?;
    let tokens = app.read(|q| q.tokens()).await?;
    Ok(axum::Json(TokenList { tokens }).into_response())
}

/// Revoke a token: refused everywhere within a second, its open streams ended.
#[utoipa::path(
    delete, path = "/api/v1/tokens/{name}", tag = "admin",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The token's name.")),
    responses(
        (status = 200, description = "Revoked.", body = Revoked),
        (status = 400, description = "The path is not UTF-8.", body = crate::openapi::ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one.", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an admin token.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No live token has that name.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be written; nothing was changed.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn revoke_token(
    State(app): State<SharedApp>,
    name: Result<Path<String>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let actor = app.audited_actor(&headers, "revoke_token", ADMINS).await?;
    let name = crate::query::path_text(name)?;
    if !app.store.revoke_token(&name).await.map_err(from_store)? {
        return Err(ApiError::not_found(format!(
            "no live token is named {name:?}"
        )));
    }
    tracing::info!(name = %name, by = %actor.name, "token revoked");
    Ok(axum::Json(Revoked { revoked: name }).into_response())
}

#[derive(Deserialize, Default, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// At most this many entries, newest first (100 by default; taken into 1 to 10000).
    limit: Option<usize>,
}

/// The audit trail: every command, accepted or refused.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "admin",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "The newest entries.", body = AuditPage),
        (status = 400, description = "A malformed or unknown query parameter.", body = crate::openapi::ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one.", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an admin token.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn audit(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    app.audited_actor(&headers, "read_audit", ADMINS).await?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let records = app.read(move |q| q.audit(limit)).await?;
    Ok(axum::Json(AuditPage { audit: records }).into_response())
}
