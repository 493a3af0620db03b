//! ukrainealarm-style webhook deliveries, signed as that API documents: RSA PKCS#1 v1.5 with
//! SHA-256 over `{timestamp}.{body}`, base64 in `X-Webhook-Signature`, with
//! `X-Webhook-Timestamp` (Unix seconds), `X-Webhook-Key-Id` and `X-Webhook-Signature-Alg:
//! rsa-sha256`; and the words of that API an alert is delivered in. (Registration is the
//! compatibility API's, `tryvoga_compat::webhooks`.)
//!
//! Deliveries are read from the log by sequence, not from the live fan-out: each webhook's
//! delivered position is stored, so a restart, a slow receiver or a receiver that is down
//! loses nothing. A delivery is retried with backoff until the receiver answers 2xx, in log
//! order; a crash between a delivery and storing its position repeats that one delivery.
//! On a record shared by several nodes, a webhook's deliveries run on the node holding its
//! lease (`compat-webhook:<token name>`, see [`crate::lease`]).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer as _};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tryvoga_bus::StoredEvent;
use tryvoga_core::{Alert, AlertLevel, AlertType, Event, EventBody, Origin, Registry};
use tryvoga_store::OutputWrite;

use crate::follower::{Progress, Sink, follow};
use crate::{DeliveryError, OutputError, Outputs};

pub fn alert_type(t: AlertType) -> &'static str {
    match t {
        AlertType::AirRaid => "AIR",
        AlertType::ArtilleryShelling => "ARTILLERY",
        AlertType::UrbanFights => "URBAN_FIGHTS",
        AlertType::Chemical => "CHEMICAL",
        AlertType::Nuclear => "NUCLEAR",
    }
}

/// The Air Alert app's level name. An alert raised without a level is the classic alert,
/// which the app shows red.
pub fn level_name(level: Option<AlertLevel>) -> &'static str {
    match level {
        Some(AlertLevel::Yellow) => "Yellow",
        Some(AlertLevel::Red) | None => "Red",
    }
}

pub fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The one threat level an active alert stands for, in the webhook's `activeAlertLevels` shape.
pub fn alert_levels(alert: &Alert) -> Value {
    json!([{
        "alertLevel": level_name(alert.level),
        "reason": alert.note,
        "createdAt": iso(alert.started_at),
    }])
}

/// The key that signs deliveries, with the id receivers select it by.
pub struct Signer {
    pub key_id: String,
    pub public_pem: String,
    key: SigningKey<Sha256>,
}

const KEY_BITS: usize = 2048;

impl Signer {
    pub fn generate() -> Result<Signer, OutputError> {
        let key = RsaPrivateKey::new(&mut rand_core::OsRng, KEY_BITS)
            .map_err(|e| OutputError::Key(format!("generating the webhook signing key: {e}")))?;
        Signer::from_key(key)
    }

    pub fn from_pem(pem: &str) -> Result<Signer, OutputError> {
        let key = RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| {
            OutputError::Key(format!("the stored webhook signing key is unreadable: {e}"))
        })?;
        Signer::from_key(key)
    }

    fn from_key(key: RsaPrivateKey) -> Result<Signer, OutputError> {
        let public = RsaPublicKey::from(&key);
        let der = public
            .to_public_key_der()
            .map_err(|e| OutputError::Key(format!("encoding the public key: {e}")))?;
        let digest = Sha256::digest(der.as_bytes());
        let key_id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let public_pem = public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| OutputError::Key(format!("encoding the public key: {e}")))?;
        Ok(Signer {
            key_id,
            public_pem,
            key: SigningKey::<Sha256>::new(key),
        })
    }

    pub fn private_pem(&self) -> Result<String, OutputError> {
        let key: &RsaPrivateKey = self.key.as_ref();
        key.to_pkcs8_pem(LineEnding::LF)
            .map(|p| p.to_string())
            .map_err(|e| OutputError::Key(format!("encoding the signing key: {e}")))
    }

    /// The base64 signature of `{timestamp}.{body}`.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let mut message = format!("{timestamp}.").into_bytes();
        message.extend_from_slice(body);
        let signature = self.key.sign(&message);
        base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
    }
}

/// The signing key, read from the record or made (and kept) on first use.
pub async fn signer(outputs: &Outputs) -> Result<Arc<Signer>, OutputError> {
    outputs
        .compat_signer
        .get_or_try_init(|| load_or_create(outputs))
        .await
        .cloned()
}

async fn load_or_create(outputs: &Outputs) -> Result<Arc<Signer>, OutputError> {
    if let Some(pem) = outputs.read(|q| q.compat_signing_key()).await? {
        return Signer::from_pem(&pem).map(Arc::new);
    }
    let fresh = tokio::task::spawn_blocking(Signer::generate)
        .await
        .map_err(|e| OutputError::Task(e.to_string()))??;
    outputs
        .store
        .output(OutputWrite::AddCompatSigningKey {
            key_id: fresh.key_id.clone(),
            private_pem: fresh.private_pem()?,
            at: Utc::now(),
        })
        .await?;
    tracing::info!(key_id = %fresh.key_id, "made the webhook signing key");
    // Another process may have made one first: the newest kept is the one everyone uses.
    match outputs.read(|q| q.compat_signing_key()).await? {
        Some(pem) => Signer::from_pem(&pem).map(Arc::new),
        None => Ok(Arc::new(fresh)),
    }
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
pub fn start(outputs: &Arc<Outputs>) {
    let outputs = Arc::clone(outputs);
    tokio::spawn(async move {
        if let Err(e) = signer(&outputs).await {
            tracing::error!(error = %e, "no webhook signing key; deliveries wait for one");
        }
        crate::supervise::supervise(
            outputs,
            |o| &o.compat_webhooks_changed,
            |q| q.compat_webhook_tokens(),
            |outputs, token| {
                let lease = crate::lease::compat_webhook(&token);
                crate::lease::leased(Arc::clone(&outputs), lease, move || {
                    pipeline(Arc::clone(&outputs), token.clone())
                })
            },
        )
        .await;
    });
}

/// One token's deliveries, from its position in the record, while this node holds its lease.
async fn pipeline(outputs: Arc<Outputs>, token: String) {
    let (source, store) = (Arc::clone(&outputs.source), outputs.store.clone());
    follow(
        source.as_ref(),
        &store,
        &token.clone(),
        Registered {
            outputs,
            token,
            url: String::new(),
            delivered: 0,
            failures: 0,
        },
    )
    .await;
}

fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(6))
}

/// One token's webhook.
struct Registered {
    outputs: Arc<Outputs>,
    token: String,
    url: String,
    delivered: u64,
    /// Failures in a row, for the backoff.
    failures: u32,
}

impl Sink for Registered {
    async fn resume(&mut self) -> Result<Option<u64>, OutputError> {
        let token = self.token.clone();
        let found = self.outputs.read(move |q| q.compat_webhook(&token)).await?;
        Ok(found.map(|w| {
            self.url = w.url;
            self.delivered = w.delivered_seq;
            w.delivered_seq
        }))
    }

    async fn deliver(&mut self, page: &[StoredEvent]) -> Progress {
        let mut position = self.delivered;
        if let Some(why) = self.outputs.paused(&self.token).await {
            return Progress {
                position,
                failure: Some((why, crate::PAUSED_RECHECK)),
            };
        }
        for stored in page {
            let body = serde_json::from_str::<Event>(&stored.payload)
                .ok()
                .and_then(|e| body_for(self.outputs.registry, &e));
            if let Some(body) = body
                && let Err(DeliveryError(e)) =
                    deliver(&self.outputs, &self.url, body, stored.seq).await
            {
                self.failures += 1;
                return Progress {
                    position,
                    failure: Some((e, backoff(self.failures))),
                };
            }
            position = stored.seq;
        }
        self.failures = 0;
        Progress {
            position,
            failure: None,
        }
    }

    fn saved(&mut self, progress: &Progress) -> Option<OutputWrite> {
        if progress.position <= self.delivered && progress.failure.is_none() {
            return None;
        }
        Some(OutputWrite::CompatWebhookProgress {
            token: self.token.clone(),
            delivered_seq: progress.position,
            error: progress.failure.as_ref().map(|(e, _)| e.clone()),
        })
    }

    async fn woken(&mut self) {
        self.outputs.compat_webhooks_changed.notified().await;
    }
}

async fn deliver(
    outputs: &Outputs,
    url: &str,
    body: Vec<u8>,
    seq: u64,
) -> Result<(), DeliveryError> {
    let signer = signer(outputs)
        .await
        .map_err(|e| DeliveryError(e.to_string()))?;
    let timestamp = Utc::now().timestamp();
    let signature = signer.sign(timestamp, &body);
    let key_id = signer.key_id.clone();
    let url = url.to_string();
    let node = outputs.options.lease.node.clone();
    let targets = outputs.options.webhook_targets.clone();
    tokio::task::spawn_blocking(move || {
        let agent = crate::webhooks::receiver_agent(&targets);
        let response = agent
            .post(&url)
            .set("Content-Type", "application/json")
            .set("X-Webhook-Signature", &signature)
            .set("X-Webhook-Timestamp", &timestamp.to_string())
            .set("X-Webhook-Key-Id", &key_id)
            .set("X-Webhook-Signature-Alg", "rsa-sha256")
            .set("X-Tryvoga-Seq", &seq.to_string())
            .set(crate::webhooks::NODE_HEADER, &node)
            .send_bytes(&body)
            .map_err(|e| e.to_string())?;
        match response.status() {
            200..=299 => Ok(()),
            other => Err(format!("the receiver answered {other}")),
        }
    })
    .await
    .map_err(|e| DeliveryError(format!("delivery task failed: {e}")))?
    .map_err(DeliveryError)
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
