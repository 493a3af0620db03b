//! Native webhooks: subscriptions per region and type, signed deliveries, retries with
//! exponential backoff and jitter, a dead-letter list, durable across restarts.
//!
//! API (admin or issuer tokens; an issuer sees and removes only its own):
//! - `POST /api/v1/webhooks` `{"url", "regions"?, "types"?, "signing"?: "hmac-sha256" |
//!   "ed25519", "after"?}` → `201` with the subscription, and for HMAC its `secret`, shown once.
//! - `GET /api/v1/webhooks`, `GET`/`DELETE /api/v1/webhooks/{id}`,
//!   `GET /api/v1/webhooks/{id}/dead-letters`.
//!
//! Deliveries follow the Standard Webhooks scheme (standardwebhooks.com), so receivers can
//! use its libraries: `POST` of the event JSON exactly as the log holds it (so it also carries
//! the event's own `sig`), with
//! - `webhook-id: <subscription>-<seq>`: the same on every attempt; deduplicate on it;
//! - `webhook-timestamp`: Unix seconds of this attempt; refuse ones outside a few minutes
//!   (the replay window; each retry is signed afresh);
//! - `webhook-signature: v1,<base64 HMAC-SHA256>` keyed by the secret's bytes after `whsec_`,
//!   or `v1a,<base64 Ed25519>` by the server key at `/.well-known/tryvoga-key`; both over
//!   `{webhook-id}.{webhook-timestamp}.{body}`;
//! - `tryvoga-event` (the kind) and `tryvoga-seq`.
//!
//! Deliveries are read from the log by sequence, in order, one subscription at a time; the
//! position is stored through the writer, so a restart or an unreachable receiver loses
//! nothing (at least once: a crash between a delivery and storing its position repeats that
//! delivery, with the same id). A delivery that fails `max_attempts` times goes to the
//! dead-letter list and the subscription moves on.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::Utc;
use hmac::{Hmac, Mac};
use rand_core::RngCore;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::broadcast::error::RecvError;
use tryvoga_core::{Actor, AlertType, RegionId, Role};
use tryvoga_store::{StoreError, queries};

use crate::app::{SharedApp, body_bytes, parse_json};
use crate::error::ApiError;
use crate::hub::{Filter, Frame};
use crate::signing::EventKey;

/// How deliveries are retried.
#[derive(Debug, Clone)]
pub struct Retry {
    /// The first wait; each further failure doubles it.
    pub base: Duration,
    /// The longest wait between two attempts.
    pub max: Duration,
    /// Attempts before a delivery goes to the dead-letter list.
    pub max_attempts: u32,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            base: Duration::from_secs(2),
            max: Duration::from_secs(600),
            max_attempts: 15,
        }
    }
}

impl Retry {
    /// The wait after `failures` failed attempts: exponential, capped, with jitter drawn
    /// from its upper half so that receivers coming back are not hit all at once.
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << failures.saturating_sub(1).min(20));
        let full = exp.min(self.max).as_millis() as u64;
        let jitter = rand_core::OsRng.next_u64() % (full / 2 + 1);
        Duration::from_millis(full - jitter)
    }
}

const ROLES: &[Role] = &[Role::Admin, Role::Issuer];
const MAX_URL: usize = 2048;
/// How long a receiver has to answer one delivery.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Log entries a worker reads at a time.
const BATCH: usize = 256;

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

struct Row {
    id: String,
    owner: String,
    url: String,
    regions: Option<Vec<u32>>,
    types: Option<Vec<String>>,
    signing: String,
    secret: Option<String>,
    created_ms: i64,
    delivered_seq: u64,
    attempts: u32,
    last_error: Option<String>,
}

const COLUMNS: &str = "id, owner, url, regions, types, signing, secret, created_ms, delivered_seq, attempts, last_error";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let json_list = |i: usize| -> rusqlite::Result<Option<String>> { r.get(i) };
    Ok(Row {
        id: r.get(0)?,
        owner: r.get(1)?,
        url: r.get(2)?,
        regions: json_list(3)?.and_then(|s| serde_json::from_str(&s).ok()),
        types: json_list(4)?.and_then(|s| serde_json::from_str(&s).ok()),
        signing: r.get(5)?,
        secret: r.get(6)?,
        created_ms: r.get(7)?,
        delivered_seq: r.get::<_, i64>(8)?.max(0) as u64,
        attempts: r.get::<_, i64>(9)?.clamp(0, u32::MAX as i64) as u32,
        last_error: r.get(10)?,
    })
}

fn load(c: &rusqlite::Connection, id: &str) -> Result<Option<Row>, StoreError> {
    Ok(c.query_row(
        &format!("SELECT {COLUMNS} FROM webhooks WHERE id = ?1"),
        [id],
        row,
    )
    .optional()?)
}

fn dead_count(c: &rusqlite::Connection, id: &str) -> Result<u64, StoreError> {
    let n: i64 = c.query_row(
        "SELECT COUNT(*) FROM webhook_dead_letters WHERE webhook = ?1",
        [id],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as u64)
}

fn view(r: &Row, dead_letters: u64) -> WebhookView {
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

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand_core::OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_url(text: &str) -> Result<String, ApiError> {
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
    Ok(url.to_string())
}

pub async fn create(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let actor = app.audited_actor(&headers, "create_webhook", ROLES).await?;
    let body = body_bytes(body)?;
    let new: NewWebhook = parse_json(&body)?;
    let url = check_url(&new.url)?;
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
    let signing = new.signing.unwrap_or_else(|| "hmac-sha256".into());
    let secret = match signing.as_str() {
        "hmac-sha256" => {
            let mut key = [0u8; 32];
            rand_core::OsRng.fill_bytes(&mut key);
            Some(format!("whsec_{}", STANDARD.encode(key)))
        }
        "ed25519" => None,
        other => {
            return Err(ApiError::invalid(format!(
                "signing must be hmac-sha256 or ed25519, not {other:?}"
            )));
        }
    };
    let last = app.hub.last_seq();
    // A new subscription hears what happens from now on unless it asks for a past position.
    let from = new.after.unwrap_or(last).min(last);
    let id = format!("wh_{}", random_hex(8));
    let record = Row {
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
    let regions_json = record
        .regions
        .as_ref()
        .and_then(|r| serde_json::to_string(r).ok());
    let types_json = record
        .types
        .as_ref()
        .and_then(|t| serde_json::to_string(t).ok());
    let (rid, owner, rurl, signing, rsecret, created, seq) = (
        record.id.clone(),
        record.owner.clone(),
        record.url.clone(),
        record.signing.clone(),
        record.secret.clone(),
        record.created_ms,
        from as i64,
    );
    app.store
        .write(move |c| {
            c.execute(
                "INSERT INTO webhooks (id, owner, url, regions, types, signing, secret,
                     created_ms, delivered_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    rid,
                    owner,
                    rurl,
                    regions_json,
                    types_json,
                    signing,
                    rsecret,
                    created,
                    seq
                ],
            )?;
            Ok(())
        })
        .await?;
    app.outputs.webhooks_changed.notify_waiters();
    audit_ok(&app, &actor, "create_webhook", &record.id);
    let mut body = serde_json::to_value(view(&record, 0)).unwrap_or(Value::Null);
    if let (Some(secret), Some(obj)) = (secret, body.as_object_mut()) {
        obj.insert("secret".into(), Value::String(secret));
    }
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

fn may_see(actor: &Actor, row: &Row) -> bool {
    actor.role == Role::Admin || actor.name == row.owner
}

pub async fn list(State(app): State<SharedApp>, headers: HeaderMap) -> Result<Response, ApiError> {
    let actor = app.audited_actor(&headers, "list_webhooks", ROLES).await?;
    let rows = app
        .read(|s| {
            s.read(|c| {
                let mut stmt = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM webhooks ORDER BY created_ms"
                ))?;
                let rows = stmt.query_map([], row)?;
                let mut out = Vec::new();
                for r in rows {
                    let r = r?;
                    let dead = dead_count(c, &r.id)?;
                    out.push((r, dead));
                }
                Ok(out)
            })
        })
        .await?;
    let views: Vec<WebhookView> = rows
        .iter()
        .filter(|(r, _)| may_see(&actor, r))
        .map(|(r, dead)| view(r, *dead))
        .collect();
    Ok(axum::Json(json!({ "webhooks": views })).into_response())
}

/// Configuration changes go into the audit trail beside the commands.
fn audit_ok(app: &SharedApp, actor: &Actor, action: &str, id: &str) {
    app.store.audit(tryvoga_store::AuditEntry {
        token: Some(actor.name.clone()),
        action: action.to_string(),
        request: Some(id.to_string()),
        code: "ok".into(),
        reason: format!("webhook {id}"),
    });
}

async fn owned(
    app: &SharedApp,
    headers: &HeaderMap,
    action: &str,
    id: String,
) -> Result<(Actor, Row, u64), ApiError> {
    let actor = app.audited_actor(headers, action, ROLES).await?;
    let found = app
        .read(move |s| {
            s.read(|c| match load(c, &id)? {
                Some(r) => {
                    let dead = dead_count(c, &r.id)?;
                    Ok(Some((r, dead)))
                }
                None => Ok(None),
            })
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
    audit_ok(&app, &actor, "delete_webhook", &id);
    app.store
        .write(move |c| {
            c.execute("DELETE FROM webhooks WHERE id = ?1", [&id])?;
            c.execute("DELETE FROM webhook_dead_letters WHERE webhook = ?1", [&id])?;
            Ok(())
        })
        .await?;
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
    let letters = app
        .read(move |s| {
            s.read(|c| {
                let mut stmt = c.prepare(
                    "SELECT delivery, seq, attempts, last_error, failed_ms
                     FROM webhook_dead_letters WHERE webhook = ?1 ORDER BY seq",
                )?;
                let rows = stmt.query_map([&id], |r| {
                    Ok(json!({
                        "delivery_id": r.get::<_, String>(0)?,
                        "seq": r.get::<_, i64>(1)?,
                        "attempts": r.get::<_, i64>(2)?,
                        "last_error": r.get::<_, String>(3)?,
                        "failed_at": rfc3339(r.get::<_, i64>(4)?),
                    }))
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
        })
        .await?;
    Ok(axum::Json(json!({ "webhook": r.id, "dead_letters": letters })).into_response())
}

/// Starts the deliveries: one worker per subscription, kept by a supervisor.
pub fn start(app: &SharedApp) {
    let app = Arc::clone(app);
    tokio::spawn(supervise(app));
}

async fn supervise(app: SharedApp) {
    crate::delivery::supervise(
        app,
        |a| &a.outputs.webhooks_changed,
        "SELECT id FROM webhooks",
        worker,
    )
    .await;
}

/// What one attempt came to.
enum Outcome {
    Delivered,
    Failed(String),
}

async fn worker(app: SharedApp, id: String) {
    let mut events_rx = app.hub.subscribe();
    let retry = app.outputs.options.webhooks.clone();
    loop {
        let key = id.clone();
        let sub = match app.read(move |s| s.read(|c| load(c, &key))).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e.message, "could not read a webhook");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if sub.delivered_seq >= app.hub.last_seq() {
            tokio::select! {
                r = events_rx.recv() => if matches!(r, Err(RecvError::Closed)) { return },
                _ = app.outputs.webhooks_changed.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
            continue;
        }
        let filter = Filter::new(
            app.registry,
            sub.regions
                .as_ref()
                .map(|r| r.iter().map(|&id| RegionId(id)).collect()),
            sub.types
                .as_ref()
                .map(|t| t.iter().filter_map(|t| t.parse().ok()).collect()),
        );
        let after = sub.delivered_seq;
        let events = match app
            .read(move |s| s.read(|c| queries::events_after(c, after, BATCH)))
            .await
        {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e.message, "could not read the log for a webhook");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut position = after;
        let mut attempts = sub.attempts;
        let mut failure = None;
        for stored in &events {
            if filter.matches(&Frame::from_stored(stored)) {
                match deliver(&app, &sub, stored.seq, &stored.kind, &stored.payload).await {
                    Outcome::Delivered => attempts = 0,
                    Outcome::Failed(e) => {
                        attempts += 1;
                        if attempts < retry.max_attempts {
                            failure = Some(e);
                            break;
                        }
                        tracing::warn!(webhook = %id, seq = stored.seq, error = %e, "delivery dead-lettered");
                        if let Err(e) = dead_letter(&app, &sub.id, stored.seq, attempts, &e).await {
                            tracing::warn!(error = %e, "could not store a dead letter");
                            failure = Some(e.to_string());
                            break;
                        }
                        attempts = 0;
                    }
                }
            }
            position = stored.seq;
        }
        let error = failure.clone();
        let key = id.clone();
        let saved = app
            .store
            .write(move |c| {
                Ok(c.execute(
                    "UPDATE webhooks SET delivered_seq = MAX(delivered_seq, ?1), attempts = ?2,
                         last_error = ?3 WHERE id = ?4",
                    params![position as i64, attempts as i64, error, key],
                )?)
            })
            .await;
        if let Err(e) = saved {
            tracing::warn!(error = %e, "could not store a webhook's position");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if let Some(e) = failure {
            let wait = retry.delay(attempts);
            tracing::info!(webhook = %id, error = %e, attempt = attempts, wait_ms = wait.as_millis() as u64, "webhook delivery failed; retrying");
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                // A removed subscription stops retrying at once.
                _ = app.outputs.webhooks_changed.notified() => {}
            }
        }
    }
}

async fn dead_letter(
    app: &SharedApp,
    webhook: &str,
    seq: u64,
    attempts: u32,
    error: &str,
) -> Result<(), StoreError> {
    let (webhook, error) = (webhook.to_string(), error.to_string());
    app.store
        .write(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO webhook_dead_letters
                     (webhook, delivery, seq, attempts, last_error, failed_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    webhook,
                    delivery_id(&webhook, seq),
                    seq as i64,
                    attempts as i64,
                    error,
                    Utc::now().timestamp_millis()
                ],
            )?;
            Ok(())
        })
        .await
}

pub fn delivery_id(webhook: &str, seq: u64) -> String {
    format!("{webhook}-{seq}")
}

/// The `webhook-signature` value for one attempt.
pub fn signature(
    key: &EventKey,
    scheme: &str,
    secret: Option<&str>,
    content: &[u8],
) -> Result<String, String> {
    match scheme {
        "ed25519" => Ok(format!(
            "v1a,{}",
            STANDARD.encode(key.sign_bytes(content).to_bytes())
        )),
        _ => {
            let secret = secret.ok_or("the subscription has no secret")?;
            hmac_signature(secret, content)
        }
    }
}

/// `v1,<base64 HMAC-SHA256>` keyed by the bytes the `whsec_` secret encodes.
pub fn hmac_signature(secret: &str, content: &[u8]) -> Result<String, String> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| "the stored secret is not base64")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(content);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

async fn deliver(app: &SharedApp, sub: &Row, seq: u64, kind: &str, payload: &str) -> Outcome {
    let id = delivery_id(&sub.id, seq);
    let timestamp = Utc::now().timestamp();
    let mut content = format!("{id}.{timestamp}.").into_bytes();
    content.extend_from_slice(payload.as_bytes());
    let signature = match signature(
        &app.outputs.key,
        &sub.signing,
        sub.secret.as_deref(),
        &content,
    ) {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(e),
    };
    let (url, kind, body) = (sub.url.clone(), kind.to_string(), payload.to_string());
    let sent = tokio::task::spawn_blocking(move || {
        let agent = ureq::AgentBuilder::new()
            .timeout(DELIVERY_TIMEOUT)
            .redirects(0)
            .user_agent(concat!("tryvoga-webhooks/", env!("CARGO_PKG_VERSION")))
            .build();
        let response = agent
            .post(&url)
            .set("content-type", "application/json")
            .set("webhook-id", &id)
            .set("webhook-timestamp", &timestamp.to_string())
            .set("webhook-signature", &signature)
            .set("tryvoga-event", &kind)
            .set("tryvoga-seq", &seq.to_string())
            .send_string(&body);
        match response {
            Ok(r) if (200..300).contains(&r.status()) => Ok(()),
            Ok(r) => Err(format!("the receiver answered {}", r.status())),
            Err(ureq::Error::Status(code, _)) => Err(format!("the receiver answered {code}")),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    match sent {
        Ok(Ok(())) => Outcome::Delivered,
        Ok(Err(e)) => Outcome::Failed(e),
        Err(e) => Outcome::Failed(format!("delivery task failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_jitter_in_the_upper_half() {
        let r = Retry {
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            max_attempts: 5,
        };
        for (failures, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (30, 1000),
        ] {
            let d = r.delay(failures).as_millis() as u64;
            assert!(d <= full && d >= full / 2, "{failures}: {d}");
        }
    }

    #[test]
    fn ed25519_deliveries_verify_with_the_published_key() {
        use ed25519_dalek::{Signature, Verifier};
        let key = EventKey::generate();
        let content = b"wh_1-7.1790000000.{\"seq\":7}";
        let sig = signature(&key, "ed25519", None, content).unwrap();
        let raw = STANDARD.decode(sig.strip_prefix("v1a,").unwrap()).unwrap();
        let sig = Signature::from_slice(&raw).unwrap();
        assert!(key.verifying_key().verify(content, &sig).is_ok());
        assert!(
            key.verifying_key()
                .verify(b"wh_1-7.1790000001.{}", &sig)
                .is_err()
        );
        assert!(signature(&key, "hmac-sha256", None, content).is_err());
    }

    #[test]
    fn hmac_matches_the_standard_webhooks_example() {
        // The example in the Standard Webhooks specification.
        let sig = hmac_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            br#"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
