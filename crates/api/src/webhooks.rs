//! Native webhooks through the API (admin or issuer tokens; an issuer sees and removes only
//! its own). The deliveries themselves are `tryvoga_outputs::webhooks`.
//!
//! - `POST /api/v1/webhooks` `{"url", "regions"?, "types"?, "signing"?: "hmac-sha256" |
//!   "ed25519", "after"?}` → `201` with the subscription, and for HMAC its `secret`, shown once.
//! - `GET /api/v1/webhooks`, `GET`/`DELETE /api/v1/webhooks/{id}`,
//!   `GET /api/v1/webhooks/{id}/dead-letters`.

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tryvoga_core::{Actor, AlertType, Role};
use tryvoga_store::{OutputWrite, Webhook};
use utoipa::ToSchema;

use crate::app::{SharedApp, body_bytes, parse_json};
use crate::error::{ApiError, from_store};
use crate::query::path_text;

const ROLES: &[Role] = &[Role::Admin, Role::Issuer];
const MAX_URL: usize = 2048;

/// `POST /api/v1/webhooks`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewWebhook {
    /// An http or https URL whose host resolves only to public addresses (unless the server
    /// allows more with `--webhook-allow`).
    url: String,
    /// Only events about these regions (each covers its ancestors and descendants); all by
    /// default.
    #[serde(default)]
    #[schema(value_type = Option<Vec<crate::openapi::RegionInput>>)]
    regions: Option<Vec<Value>>,
    /// Only alerts of these types; all by default.
    #[serde(default)]
    #[schema(value_type = Option<Vec<AlertType>>)]
    types: Option<Vec<String>>,
    /// `hmac-sha256` (the default) or `ed25519`.
    #[serde(default)]
    #[schema(value_type = Option<Signing>)]
    signing: Option<String>,
    /// Deliver from after this log position (at most the head); from now by default.
    #[serde(default)]
    after: Option<u64>,
}

/// How deliveries are signed (Standard Webhooks). Describes the words `signing` takes.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Signing {
    HmacSha256,
    Ed25519,
}

/// A webhook subscription and how far it has been delivered.
#[derive(Serialize, ToSchema)]
pub struct WebhookView {
    id: String,
    /// The token that made it.
    owner: String,
    url: String,
    regions: Option<Vec<u32>>,
    types: Option<Vec<String>>,
    signing: String,
    created_at: String,
    /// The last log position delivered.
    delivered_seq: u64,
    /// Failed attempts at the next delivery.
    attempts: u32,
    last_error: Option<String>,
    dead_letters: u64,
}

/// A subscription just made; for HMAC signing, with its secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    webhook: WebhookView,
    /// `whsec_…`, for `hmac-sha256` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

/// `GET /api/v1/webhooks`: the caller's own (an admin's: all).
#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    webhooks: Vec<WebhookView>,
}

/// A delivery given up on after its retries.
#[derive(Serialize, ToSchema)]
pub struct DeadLetterView {
    delivery_id: String,
    seq: u64,
    attempts: u32,
    last_error: String,
    failed_at: String,
}

/// `GET /api/v1/webhooks/{id}/dead-letters`.
#[derive(Serialize, ToSchema)]
pub struct DeadLetters {
    webhook: String,
    dead_letters: Vec<DeadLetterView>,
}

fn view(r: &Webhook, dead_letters: u64) -> WebhookView {
    WebhookView {
        id: r.id.clone(),
        owner: r.owner.clone(),
        url: r.url.clone(),
        regions: r.regions.clone(),
        types: r.types.clone(),
        signing: r.signing.clone(),
        created_at: rfc3339(r.created_ms),
        delivered_seq: r.delivered_seq,
        attempts: r.attempts,
        last_error: r.last_error.clone(),
        dead_letters,
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn random_hex(bytes: usize) -> Result<String, ApiError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| ApiError::internal(format!("no randomness for an id: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The subscription's URL, normalised, once its host resolves only to addresses a webhook
/// may be delivered to (`tryvoga_outputs::targets`): 422 otherwise, naming the address.
async fn check_url(app: &SharedApp, text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_URL {
        return Err(ApiError::invalid(format!(
            "url must be 1 to {MAX_URL} characters"
        )));
    }
    let url = url::Url::parse(text).map_err(|e| ApiError::invalid(format!("url: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(ApiError::invalid(
            "url must be an http or https URL with a host",
        ));
    }
    app.outputs
        .options
        .webhook_targets
        .check_url(&url)
        .await
        .map_err(|e| ApiError::invalid(format!("url: {e}")).with(json!({"field": "url"})))
}

/// Subscribe a URL to the log.
#[utoipa::path(
    post, path = "/api/v1/webhooks", tag = "webhooks", operation_id = "create_webhook",
    security(("bearer" = [])),
    request_body(content = NewWebhook, content_type = "application/json"),
    responses(
        (status = 201, description = "Subscribed; deliveries start from `after` or now.", body = CreatedWebhook),
        (status = 400, description = "Malformed JSON, an empty body, or an ambiguous region (with `candidates`).", body = crate::openapi::ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one.", body = crate::openapi::ErrorBody),
        (status = 403, description = "A reader token.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such region (with `candidates`).", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is larger than 64 KiB.", body = crate::openapi::ErrorBody),
        (status = 422, description = "A field is missing, unknown or of the wrong type or word, or the URL is not one a webhook may be delivered to.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be written; nothing was changed.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn create(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let actor = app.audited_actor(&headers, "create_webhook", ROLES).await?;
    let body = body_bytes(body)?;
    let new: NewWebhook = parse_json(&body)?;
    let regions = match new.regions {
        None => None,
        Some(list) => {
            let mut ids = Vec::new();
            for r in list {
                let text = match &r {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err(ApiError::invalid("regions: each is an id or a name")),
                };
                ids.push(app.registry.resolve(&text)?.id.0);
            }
            Some(ids)
        }
    };
    let types = match new.types {
        None => None,
        Some(list) => {
            for t in &list {
                t.parse::<AlertType>()
                    .map_err(|e| ApiError::invalid(format!("types: {e}")))?;
            }
            Some(list)
        }
    };
    // Last of the checks: it may wait on a name server.
    let url = check_url(&app, &new.url).await?;
    let signing = new.signing.unwrap_or_else(|| "hmac-sha256".into());
    let secret = match signing.as_str() {
        "hmac-sha256" => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key)
                .map_err(|e| ApiError::internal(format!("no randomness for a secret: {e}")))?;
            Some(format!("whsec_{}", STANDARD.encode(key)))
        }
        "ed25519" => None,
        other => {
            return Err(ApiError::invalid(format!(
                "signing must be hmac-sha256 or ed25519, not {other:?}"
            )));
        }
    };
    let last = app.source.head();
    // A new subscription hears what happens from now on unless it asks for a past position.
    let from = new.after.unwrap_or(last).min(last);
    let id = format!("wh_{}", random_hex(8)?);
    let record = Webhook {
        id: id.clone(),
        owner: actor.name.clone(),
        url,
        regions,
        types,
        signing,
        secret: secret.clone(),
        created_ms: Utc::now().timestamp_millis(),
        delivered_seq: from,
        attempts: 0,
        last_error: None,
    };
    app.store
        .output(OutputWrite::CreateWebhook(record.clone()))
        .await
        .map_err(from_store)?;
    app.outputs.webhooks_changed.notify_waiters();
    audit_ok(&app, &actor, "create_webhook", &record.id).await;
    let body = CreatedWebhook {
        webhook: view(&record, 0),
        secret,
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

fn may_see(actor: &Actor, row: &Webhook) -> bool {
    actor.role == Role::Admin || actor.name == row.owner
}

/// The subscriptions the caller may see.
#[utoipa::path(
    get, path = "/api/v1/webhooks", tag = "webhooks", operation_id = "list_webhooks",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "An issuer's own subscriptions; an admin's, all.", body = WebhookList),
        (status = 401, description = "No token, or an unknown or revoked one.", body = crate::openapi::ErrorBody),
        (status = 403, description = "A reader token.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn list(State(app): State<SharedApp>, headers: HeaderMap) -> Result<Response, ApiError> {
    let actor = app.audited_actor(&headers, "list_webhooks", ROLES).await?;
    let rows = app.read(|q| q.webhooks()).await?;
    let views: Vec<WebhookView> = rows
        .iter()
        .filter(|(r, _)| may_see(&actor, r))
        .map(|(r, dead)| view(r, *dead))
        .collect();
    Ok(axum::Json(WebhookList { webhooks: views }).into_response())
}

/// Configuration changes go into the audit trail beside the commands.
async fn audit_ok(app: &SharedApp, actor: &Actor, action: &str, id: &str) {
    app.store
        .audit(tryvoga_store::AuditEntry {
            token: Some(actor.name.clone()),
            action: action.to_string(),
            request: Some(id.to_string()),
            code: "ok".into(),
            reason: format!("webhook {id}"),
        })
        .await;
}

async fn owned(
    app: &SharedApp,
    headers: &HeaderMap,
    action: &str,
    id: String,
) -> Result<(Actor, Webhook, u64), ApiError> {
    let actor = app.audited_actor(headers, action, ROLES).await?;
    let found = app
        .read(move |q| match q.webhook(&id)? {
            Some(r) => {
                let dead = q.dead_letter_count(&r.id)?;
                Ok(Some((r, dead)))
            }
            None => Ok(None),
        })
        .await?;
    match found {
        Some((r, dead)) if may_see(&actor, &r) => Ok((actor, r, dead)),
        _ => Err(ApiError::not_found("no such webhook")),
    }
}

/// One subscription.
#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}", tag = "webhooks", operation_id = "get_webhook",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The subscription's id (`wh_…`).")),
    responses(
        (status = 200, description = "The subscription.", body = WebhookView),
        (status = 400, description = "The path is not UTF-8.", body = crate::openapi::ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one.", body = crate::openapi::ErrorBody),
        (status = 403, description = "A reader token.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such subscription, or another issuer's.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read or written.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get_one(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_text(id)?;
    let (_, r, dead) = owned(&app, &headers, "get_webhook", id).await?;
    Ok(axum::Json(view(&r, dead)).into_response())
}

/// Remove a subscription; its deliveries stop.
#[utoipa::path(
    delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", operation_id = "delete_webhook",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The subscription's id (`wh_…`).")),
    responses(
        (status = 204, description = "Removed."),
        (status = 400, description = "The path is not UTF-8.", body = crate::openapi::ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one.", body = crate::openapi::ErrorBody),
        (status = 403, description = "A reader token.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such subscription, or another issuer's.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read or written.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn delete(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_text(id)?;
    let (actor, r, _) = owned(&app, &headers, "delete_webhook", id).await?;
    let id = r.id.clone();
    audit_ok(&app, &actor, "delete_webhook", &id).await;
    app.store
        .output(OutputWrite::DeleteWebhook { id })
        .await
        .map_err(from_store)?;
    app.outputs.webhooks_changed.notify_waiters();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The deliveries given up on.
#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}/dead-letters", tag = "webhooks", operation_id = "webhook_dead_letters",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The subscription's id (`wh_…`).")),
    responses(
        (status = 200, description = "Its dead letters.", body = DeadLetters),
        (status = 400, description = "The path is not UTF-8.", body = crate::openapi::ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one.", body = crate::openapi::ErrorBody),
        (status = 403, description = "A reader token.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such subscription, or another issuer's.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The record could not be read or written.", body = crate::openapi::ErrorBody),
    )
)]
pub async fn dead_letters(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_text(id)?;
    let (_, r, _) = owned(&app, &headers, "get_webhook_dead_letters", id).await?;
    let id = r.id.clone();
    let letters: Vec<DeadLetterView> = app
        .read(move |q| q.dead_letters(&id))
        .await?
        .into_iter()
        .map(|d| DeadLetterView {
            delivery_id: d.delivery,
            seq: d.seq,
            attempts: d.attempts,
            last_error: d.last_error,
            failed_at: d
                .failed_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        })
        .collect();
    Ok(axum::Json(DeadLetters {
        webhook: r.id,
        dead_letters: letters,
    })
    .into_response())
}
