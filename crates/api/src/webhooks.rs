//! Native webhooks through the API (admin or issuer tokens; an issuer sees and removes only
//! its own). The deliveries themselves are `tryvoga_outputs::webhooks`.
//!
//! - `POST /api/v1/webhooks` `{"url", "regions"?, "types"?, "signing"?: "hmac-sha256" |
//!   "ed25519", "after"?}` → `201` with the subscription, and for HMAC its `secret`, shown once.
//! - `GET /api/v1/webhooks`, `GET`/`DELETE /api/v1/webhooks/{id}`,
//!   `GET /api/v1/webhooks/{id}/dead-letters`.

use axum::extract::rejection::BytesRejection;
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

use crate::app::{SharedApp, body_bytes, parse_json};
use crate::error::{ApiError, from_store};

const ROLES: &[Role] = &[Role::Admin, Role::Issuer];
const MAX_URL: usize = 2048;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
    #[serde(default)]
    regions: Option<Vec<Value>>,
    #[serde(default)]
    types: Option<Vec<String>>,
    #[serde(default)]
    signing: Option<String>,
    #[serde(default)]
    after: Option<u64>,
}

#[derive(Serialize)]
struct WebhookView {
    id: String,
    owner: String,
    url: String,
    regions: Option<Vec<u32>>,
    types: Option<Vec<String>>,
    signing: String,
    created_at: String,
    delivered_seq: u64,
    attempts: u32,
    last_error: Option<String>,
    dead_letters: u64,
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
    let mut body = serde_json::to_value(view(&record, 0)).unwrap_or(Value::Null);
    if let (Some(secret), Some(obj)) = (secret, body.as_object_mut()) {
        obj.insert("secret".into(), Value::String(secret));
    }
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

fn may_see(actor: &Actor, row: &Webhook) -> bool {
    actor.role == Role::Admin || actor.name == row.owner
}

pub async fn list(State(app): State<SharedApp>, headers: HeaderMap) -> Result<Response, ApiError> {
    let actor = app.audited_actor(&headers, "list_webhooks", ROLES).await?;
    let rows = app.read(|q| q.webhooks()).await?;
    let views: Vec<WebhookView> = rows
        .iter()
        .filter(|(r, _)| may_see(&actor, r))
        .map(|(r, dead)| view(r, *dead))
        .collect();
    Ok(axum::Json(json!({ "webhooks": views })).into_response())
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

pub async fn get_one(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, r, dead) = owned(&app, &headers, "get_webhook", id).await?;
    Ok(axum::Json(view(&r, dead)).into_response())
}

pub async fn delete(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
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

pub async fn dead_letters(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, r, _) = owned(&app, &headers, "get_webhook_dead_letters", id).await?;
    let id = r.id.clone();
    let letters: Vec<Value> = app
        .read(move |q| q.dead_letters(&id))
        .await?
        .into_iter()
        .map(|d| {
            json!({
                "delivery_id": d.delivery,
                "seq": d.seq,
                "attempts": d.attempts,
                "last_error": d.last_error,
                "failed_at": d.failed_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            })
        })
        .collect();
    Ok(axum::Json(json!({ "webhook": r.id, "dead_letters": letters })).into_response())
}
