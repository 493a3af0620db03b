//! ukrainealarm-style webhooks: registration (`POST`/`PATCH`/`DELETE /api/v3/webhook` with
//! `{"webHookUrl"}`, one webhook per token as that API keeps one per key) and deliveries
//! signed as that API documents: RSA PKCS#1 v1.5 with SHA-256 over `{timestamp}.{body}`,
//! base64 in `X-Webhook-Signature`, with `X-Webhook-Timestamp` (Unix seconds),
//! `X-Webhook-Key-Id` and `X-Webhook-Signature-Alg: rsa-sha256`. The public key is served at
//! `/webhook-public.pem` (ukrainealarm's own path) and, with its id, at `/api/v3/webhook/keys`.
//!
//! Deliveries are read from the log by sequence, not from the live fan-out: each webhook's
//! delivered position is stored, so a restart, a slow receiver or a receiver that is down
//! loses nothing. A delivery is retried with backoff until the receiver answers 2xx, in log
//! order; a crash between a delivery and storing its position repeats that one delivery.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use chrono::Utc;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer as _};
use rsa::{RsaPrivateKey, RsaPublicKey};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;
use tryvoga_core::{Event, EventBody, Origin, Registry};
use tryvoga_store::queries;

use super::ukrainealarm::{alert_levels, alert_type, iso, level_name};
use super::{Api, Refused, authorize, client_addr};
use crate::app::SharedApp;

/// The key that signs deliveries, with the id receivers select it by.
pub struct Signer {
    pub key_id: String,
    pub public_pem: String,
    key: SigningKey<Sha256>,
}

const KEY_BITS: usize = 2048;

impl Signer {
    pub fn generate() -> Result<Signer, String> {
        let key = RsaPrivateKey::new(&mut rand_core::OsRng, KEY_BITS)
            .map_err(|e| format!("generating the webhook signing key: {e}"))?;
        Signer::from_key(key)
    }

    pub fn from_pem(pem: &str) -> Result<Signer, String> {
        let key = RsaPrivateKey::from_pkcs8_pem(pem)
            .map_err(|e| format!("the stored webhook signing key is unreadable: {e}"))?;
        Signer::from_key(key)
    }

    fn from_key(key: RsaPrivateKey) -> Result<Signer, String> {
        let public = RsaPublicKey::from(&key);
        let der = public
            .to_public_key_der()
            .map_err(|e| format!("encoding the public key: {e}"))?;
        let digest = Sha256::digest(der.as_bytes());
        let key_id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let public_pem = public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| format!("encoding the public key: {e}"))?;
        Ok(Signer {
            key_id,
            public_pem,
            key: SigningKey::<Sha256>::new(key),
        })
    }

    pub fn private_pem(&self) -> Result<String, String> {
        let key: &RsaPrivateKey = self.key.as_ref();
        key.to_pkcs8_pem(LineEnding::LF)
            .map(|p| p.to_string())
            .map_err(|e| format!("encoding the signing key: {e}"))
    }

    /// The base64 signature of `{timestamp}.{body}`.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let mut message = format!("{timestamp}.").into_bytes();
        message.extend_from_slice(body);
        let signature = self.key.sign(&message);
        base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
    }
}

/// The signing key, loaded from the database or made (and stored) on first use.
pub async fn signer(app: &SharedApp) -> Result<Arc<Signer>, Refused> {
    app.compat
        .signer
        .get_or_try_init(|| load_or_create(app))
        .await
        .cloned()
}

async fn load_or_create(app: &SharedApp) -> Result<Arc<Signer>, Refused> {
    let stored = app.read(|s| s.read(newest_key)).await?;
    if let Some(pem) = stored {
        return Signer::from_pem(&pem)
            .map(Arc::new)
            .map_err(|e| Refused::new(StatusCode::SERVICE_UNAVAILABLE, e));
    }
    let fresh = tokio::task::spawn_blocking(Signer::generate)
        .await
        .map_err(|e| Refused::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?
        .map_err(|e| Refused::new(StatusCode::SERVICE_UNAVAILABLE, e))?;
    let pem = fresh
        .private_pem()
        .map_err(|e| Refused::new(StatusCode::SERVICE_UNAVAILABLE, e))?;
    let key_id = fresh.key_id.clone();
    let kept = app
        .store
        .write(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO compat_signing_keys (key_id, private_pem, created_ms)
                 VALUES (?1, ?2, ?3)",
                params![key_id, pem, Utc::now().timestamp_millis()],
            )?;
            newest_key(c)
        })
        .await?;
    tracing::info!(key_id = %fresh.key_id, "made the webhook signing key");
    match kept {
        Some(pem) => Signer::from_pem(&pem)
            .map(Arc::new)
            .map_err(|e| Refused::new(StatusCode::SERVICE_UNAVAILABLE, e)),
        None => Ok(Arc::new(fresh)),
    }
}

fn newest_key(c: &rusqlite::Connection) -> Result<Option<String>, tryvoga_store::StoreError> {
    Ok(c.query_row(
        "SELECT private_pem FROM compat_signing_keys ORDER BY created_ms DESC LIMIT 1",
        [],
        |r| r.get(0),
    )
    .optional()?)
}

fn answer(result: Result<Response, Refused>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

pub async fn public_pem(State(app): State<SharedApp>) -> Response {
    answer(
        async {
            let s = signer(&app).await?;
            let mut r = s.public_pem.clone().into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            );
            Ok(r)
        }
        .await,
    )
}

pub async fn keys(State(app): State<SharedApp>) -> Response {
    answer(
        async {
            let s = signer(&app).await?;
            Ok(axum::Json(json!({ "keys": [{
                "keyId": s.key_id,
                "algorithm": "rsa-sha256",
                "publicKey": s.public_pem,
            }]}))
            .into_response())
        }
        .await,
    )
}

#[derive(Deserialize)]
struct WebHookModel {
    #[serde(rename = "webHookUrl")]
    web_hook_url: Option<String>,
}

/// The longest webhook address accepted.
const MAX_URL: usize = 2048;

fn parse_url(body: Result<Bytes, BytesRejection>) -> Result<String, Refused> {
    let bytes = body.map_err(|e| {
        Refused::new(
            StatusCode::BAD_REQUEST,
            format!("the body could not be read: {e}"),
        )
    })?;
    let model: WebHookModel = serde_json::from_slice(&bytes).map_err(|e| {
        Refused::new(
            StatusCode::BAD_REQUEST,
            format!("the body must be {{\"webHookUrl\": \"https://...\"}}: {e}"),
        )
    })?;
    let text = model
        .web_hook_url
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| Refused::new(StatusCode::BAD_REQUEST, "webHookUrl is required"))?;
    if text.len() > MAX_URL {
        return Err(Refused::new(
            StatusCode::BAD_REQUEST,
            format!("webHookUrl is longer than {MAX_URL} characters"),
        ));
    }
    let url = url::Url::parse(&text).map_err(|e| {
        Refused::new(
            StatusCode::BAD_REQUEST,
            format!("webHookUrl is not a URL: {e}"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(Refused::new(
            StatusCode::BAD_REQUEST,
            "webHookUrl must be an http or https URL with a host",
        ));
    }
    Ok(url.to_string())
}

async fn owner(
    app: &SharedApp,
    headers: &HeaderMap,
    query: Option<&str>,
    ext: &Extensions,
) -> Result<String, Refused> {
    let caller = authorize(
        app,
        Api::UkraineAlarm,
        headers,
        query,
        client_addr(ext),
        true,
    )
    .await?;
    caller.token.ok_or_else(|| {
        Refused::new(
            StatusCode::UNAUTHORIZED,
            "a webhook belongs to a key: send one",
        )
    })
}

/// Registers the caller's webhook; a second registration moves it, keeping its position.
/// Answers 200 with an empty body, as ukrainealarm does.
pub async fn subscribe(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ext: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(
        async {
            let token = owner(&app, &headers, query.as_deref(), &ext).await?;
            let url = parse_url(body)?;
            // A new webhook hears what happens from now on, not the whole past.
            let from = app.hub.last_seq() as i64;
            app.store
                .write(move |c| {
                    let now = Utc::now().timestamp_millis();
                    c.execute(
                    "INSERT INTO compat_webhooks (token, url, created_ms, updated_ms, delivered_seq)
                     VALUES (?1, ?2, ?3, ?3, ?4)
                     ON CONFLICT (token) DO UPDATE SET url = excluded.url,
                         updated_ms = excluded.updated_ms, failures = 0, last_error = NULL",
                    params![token, url, now, from],
                )?;
                    Ok(())
                })
                .await?;
            app.compat.webhooks_changed.notify_waiters();
            Ok(StatusCode::OK.into_response())
        }
        .await,
    )
}

pub async fn update(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ext: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(
        async {
            let token = owner(&app, &headers, query.as_deref(), &ext).await?;
            let url = parse_url(body)?;
            let changed = app
                .store
                .write(move |c| {
                    Ok(c.execute(
                        "UPDATE compat_webhooks SET url = ?1, updated_ms = ?2, failures = 0,
                         last_error = NULL WHERE token = ?3",
                        params![url, Utc::now().timestamp_millis(), token],
                    )?)
                })
                .await?;
            if changed == 0 {
                return Err(Refused::new(
                    StatusCode::NOT_FOUND,
                    "no webhook is registered for this key; POST one first",
                ));
            }
            app.compat.webhooks_changed.notify_waiters();
            Ok(StatusCode::OK.into_response())
        }
        .await,
    )
}

/// Removes the caller's webhook; removing none is not an error.
pub async fn unsubscribe(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ext: Extensions,
) -> Response {
    answer(
        async {
            let token = owner(&app, &headers, query.as_deref(), &ext).await?;
            app.store
                .write(move |c| {
                    Ok(c.execute("DELETE FROM compat_webhooks WHERE token = ?1", [token])?)
                })
                .await?;
            app.compat.webhooks_changed.notify_waiters();
            Ok(StatusCode::OK.into_response())
        }
        .await,
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Delivery<'a> {
    status: &'static str,
    region_id: u32,
    alarm_type: &'static str,
    created_at: String,
    alert_level: &'static str,
    reason: Option<&'a str>,
    active_alert_levels: Value,
}

/// The body an event is delivered as, or `None` for events ukrainealarm would not announce:
/// drills, imported history, regions it does not know, and anything that is not an alert.
pub fn body_for(registry: &Registry, event: &Event) -> Option<Vec<u8>> {
    let alert = event.body.alert()?;
    if !alert.status.is_actual() || alert.origin == Origin::Import {
        return None;
    }
    let region_id = registry.get(alert.region.id)?.ukrainealarm_id?;
    let (status, reason, levels) = match &event.body {
        EventBody::AlertStarted { .. } | EventBody::AlertUpdated { .. } if alert.is_active() => {
            ("ACTIVATE", alert.note.as_deref(), alert_levels(alert))
        }
        EventBody::AlertEnded { .. } => ("DEACTIVATE", alert.note.as_deref(), json!([])),
        EventBody::AlertCancelled { .. } => {
            ("DEACTIVATE", alert.cancel_reason.as_deref(), json!([]))
        }
        _ => return None,
    };
    serde_json::to_vec(&Delivery {
        status,
        region_id,
        alarm_type: alert_type(alert.alert_type),
        created_at: iso(event.at),
        alert_level: level_name(alert.level),
        reason,
        active_alert_levels: levels,
    })
    .ok()
}

/// Starts the deliveries: one worker per registered webhook, kept by a supervisor.
pub fn start(app: &SharedApp) {
    let app = Arc::clone(app);
    tokio::spawn(async move {
        if let Err(e) = signer(&app).await {
            tracing::error!(error = %e.message, "no webhook signing key; deliveries wait for one");
        }
        supervise(app).await;
    });
}

async fn supervise(app: SharedApp) {
    crate::delivery::supervise(
        app,
        |a| &a.compat.webhooks_changed,
        "SELECT token FROM compat_webhooks",
        worker,
    )
    .await;
}

/// How many log entries a worker reads at a time.
const BATCH: usize = 256;

fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(6))
}

async fn worker(app: SharedApp, token: String) {
    let mut events_rx = app.hub.subscribe();
    let mut failures: u32 = 0;
    loop {
        let key = token.clone();
        let row = app
            .read(move |s| {
                s.read(|c| {
                    Ok(c.query_row(
                        "SELECT url, delivered_seq FROM compat_webhooks WHERE token = ?1",
                        [key],
                        |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
                    )
                    .optional()?)
                })
            })
            .await;
        let (url, delivered) = match row {
            Ok(Some((url, seq))) => (url, seq.max(0) as u64),
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e.message, "could not read a webhook");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if delivered >= app.hub.last_seq() {
            tokio::select! {
                r = events_rx.recv() => if matches!(r, Err(RecvError::Closed)) { return },
                _ = app.compat.webhooks_changed.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
            continue;
        }
        let events = match app
            .read(move |s| s.read(|c| queries::events_after(c, delivered, BATCH)))
            .await
        {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e.message, "could not read the log for a webhook");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut position = delivered;
        let mut error = None;
        for stored in events {
            let body = serde_json::from_str::<Event>(&stored.payload)
                .ok()
                .and_then(|e| body_for(app.registry, &e));
            if let Some(body) = body
                && let Err(e) = deliver(&app, &url, body, stored.seq).await
            {
                error = Some(e);
                break;
            }
            position = stored.seq;
        }
        if position > delivered || error.is_some() {
            let (key, err) = (token.clone(), error.clone());
            let saved = app
                .store
                .write(move |c| {
                    Ok(c.execute(
                        "UPDATE compat_webhooks SET delivered_seq = MAX(delivered_seq, ?1),
                             failures = CASE WHEN ?2 IS NULL THEN 0 ELSE failures + 1 END,
                             last_error = ?2
                         WHERE token = ?3",
                        params![position as i64, err, key],
                    )?)
                })
                .await;
            if let Err(e) = saved {
                tracing::warn!(error = %e, "could not store a webhook's position");
            }
        }
        if let Some(e) = error {
            failures += 1;
            tracing::warn!(webhook = %token, error = %e, attempt = failures, "webhook delivery failed; retrying");
            tokio::time::sleep(backoff(failures)).await;
        } else {
            failures = 0;
        }
    }
}

/// How long a receiver has to answer.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

async fn deliver(app: &SharedApp, url: &str, body: Vec<u8>, seq: u64) -> Result<(), String> {
    let signer = signer(app).await.map_err(|e| e.message)?;
    let timestamp = Utc::now().timestamp();
    let signature = signer.sign(timestamp, &body);
    let key_id = signer.key_id.clone();
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let agent = ureq::AgentBuilder::new()
            .timeout(DELIVERY_TIMEOUT)
            .redirects(0)
            .user_agent(concat!("tryvoga-webhooks/", env!("CARGO_PKG_VERSION")))
            .build();
        let response = agent
            .post(&url)
            .set("Content-Type", "application/json")
            .set("X-Webhook-Signature", &signature)
            .set("X-Webhook-Timestamp", &timestamp.to_string())
            .set("X-Webhook-Key-Id", &key_id)
            .set("X-Webhook-Signature-Alg", "rsa-sha256")
            .set("X-Tryvoga-Seq", &seq.to_string())
            .send_bytes(&body)
            .map_err(|e| e.to_string())?;
        match response.status() {
            200..=299 => Ok(()),
            other => Err(format!("the receiver answered {other}")),
        }
    })
    .await
    .map_err(|e| format!("delivery task failed: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;

    #[test]
    fn a_signature_verifies_with_the_public_key_and_fails_on_a_changed_body() {
        let signer = Signer::generate().expect("key");
        let body = br#"{"status":"ACTIVATE","regionId":14}"#;
        let signature = signer.sign(1_790_000_000, body);
        let public = RsaPublicKey::from_public_key_pem(&signer.public_pem).expect("pem");
        let verifying = VerifyingKey::<Sha256>::new(public);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(signature)
            .expect("b64");
        let sig = Signature::try_from(raw.as_slice()).expect("sig");
        assert!(
            verifying
                .verify(
                    b"1790000000.{\"status\":\"ACTIVATE\",\"regionId\":14}",
                    &sig
                )
                .is_ok()
        );
        assert!(
            verifying
                .verify(
                    b"1790000000.{\"status\":\"DEACTIVATE\",\"regionId\":14}",
                    &sig
                )
                .is_err()
        );
        assert!(
            verifying
                .verify(
                    b"1790000001.{\"status\":\"ACTIVATE\",\"regionId\":14}",
                    &sig
                )
                .is_err()
        );
        let again = Signer::from_pem(&signer.private_pem().expect("pem")).expect("reload");
        assert_eq!(again.key_id, signer.key_id);
        assert_eq!(again.key_id.len(), 16);
    }
}
