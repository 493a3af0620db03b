//! Native webhook deliveries: signed, retried with exponential backoff and jitter, dead-lettered
//! when they run out of attempts, durable across restarts. (The subscriptions are managed
//! through the native API, `tryvoga_api::webhooks`.)
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
//! - `tryvoga-event` (the kind), `tryvoga-seq`, and `X-Tryvoga-Node`, the node that made
//!   the delivery.
//!
//! Deliveries are read from the log by sequence, in order, one subscription at a time; the
//! position is stored through the writer, so a restart or an unreachable receiver loses
//! nothing (at least once: a crash between a delivery and storing its position repeats that
//! delivery, with the same id). A delivery that fails `max_attempts` times goes to the
//! dead-letter list and the subscription moves on. On a record shared by several nodes, a
//! subscription's deliveries run on the node holding its lease (`webhook:<id>`, see
//! [`crate::lease`]), and move to another when that node dies.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use hmac::{Hmac, Mac};
use rand_core::RngCore;
use sha2::Sha256;
use tryvoga_bus::StoredEvent;
use tryvoga_core::{Interest, RegionId};
use tryvoga_store::{DeadLetter, OutputWrite, Webhook};

use crate::follower::{Progress, Sink, follow};
use crate::signing::EventKey;
use crate::{DeliveryError, OutputError, Outputs};

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

/// How long a receiver has to answer one delivery.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client every webhook sink posts with: a bounded wait, no redirects, so that a
/// receiver cannot bounce a signed event to an address nobody registered, and a resolver that
/// connects only to addresses the target policy permits, whatever the name resolves to now.
pub(crate) fn receiver_agent(targets: &crate::targets::TargetPolicy) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .resolver(targets.clone())
        .timeout(DELIVERY_TIMEOUT)
        .redirects(0)
        .user_agent(concat!("tryvoga-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Starts the deliveries: one worker per subscription, kept by a supervisor.
pub fn start(outputs: &Arc<Outputs>) {
    tokio::spawn(crate::supervise::supervise(
        Arc::clone(outputs),
        |o| &o.webhooks_changed,
        |q| q.webhook_ids(),
        |outputs, id| {
            let lease = crate::lease::webhook(&id);
            crate::lease::leased(Arc::clone(&outputs), lease, move || {
                pipeline(Arc::clone(&outputs), id.clone())
            })
        },
    ));
}

/// One subscription's deliveries, from its position in the record, while this node holds
/// its lease.
async fn pipeline(outputs: Arc<Outputs>, id: String) {
    let (source, store) = (Arc::clone(&outputs.source), outputs.store.clone());
    let retry = outputs.options.webhooks.clone();
    follow(
        source.as_ref(),
        &store,
        &id.clone(),
        Subscription {
            outputs,
            id,
            retry,
            current: None,
        },
    )
    .await;
}

/// One subscription's deliveries.
struct Subscription {
    outputs: Arc<Outputs>,
    id: String,
    retry: Retry,
    /// The subscription as last read, with its filter.
    current: Option<(Webhook, Interest)>,
}

impl Sink for Subscription {
    async fn resume(&mut self) -> Result<Option<u64>, OutputError> {
        let id = self.id.clone();
        let found = self.outputs.read(move |q| q.webhook(&id)).await?;
        let Some(sub) = found else {
            self.current = None;
            return Ok(None);
        };
        let filter = Interest::new(
            self.outputs.registry,
            sub.regions
                .as_ref()
                .map(|r| r.iter().map(|&id| RegionId(id)).collect()),
            sub.types
                .as_ref()
                .map(|t| t.iter().filter_map(|t| t.parse().ok()).collect()),
        );
        let position = sub.delivered_seq;
        self.current = Some((sub, filter));
        Ok(Some(position))
    }

    async fn deliver(&mut self, page: &[StoredEvent]) -> Progress {
        let Some((sub, filter)) = self.current.as_mut() else {
            return Progress {
                position: 0,
                failure: Some(("the subscription is gone".into(), Duration::ZERO)),
            };
        };
        let mut position = sub.delivered_seq;
        if let Some(why) = self.outputs.paused(&sub.owner).await {
            sub.last_error = Some(why.clone());
            return Progress {
                position,
                failure: Some((why, crate::PAUSED_RECHECK)),
            };
        }
        for stored in page {
            let about = stored.about();
            if !about.history && about.wanted_by(filter) {
                match deliver(&self.outputs, sub, stored).await {
                    Ok(()) => sub.attempts = 0,
                    Err(DeliveryError(e)) => {
                        sub.attempts += 1;
                        if sub.attempts < self.retry.max_attempts {
                            let wait = self.retry.delay(sub.attempts);
                            sub.last_error = Some(e.clone());
                            return Progress {
                                position,
                                failure: Some((e, wait)),
                            };
                        }
                        tracing::warn!(webhook = %sub.id, seq = stored.seq, error = %e, "delivery dead-lettered");
                        let letter = OutputWrite::DeadLetter {
                            webhook: sub.id.clone(),
                            letter: DeadLetter {
                                delivery: delivery_id(&sub.id, stored.seq),
                                seq: stored.seq,
                                attempts: sub.attempts,
                                last_error: e,
                                failed_at: Utc::now(),
                            },
                        };
                        if let Err(e) = self.outputs.store.output(letter).await {
                            tracing::warn!(error = %e, "could not store a dead letter");
                            let e = e.to_string();
                            sub.last_error = Some(e.clone());
                            return Progress {
                                position,
                                failure: Some((e, self.retry.delay(sub.attempts))),
                            };
                        }
                        sub.attempts = 0;
                    }
                }
            }
            position = stored.seq;
        }
        sub.last_error = None;
        Progress {
            position,
            failure: None,
        }
    }

    fn saved(&mut self, progress: &Progress) -> Option<OutputWrite> {
        let (sub, _) = self.current.as_ref()?;
        Some(OutputWrite::WebhookProgress {
            id: sub.id.clone(),
            delivered_seq: progress.position,
            attempts: sub.attempts,
            last_error: progress.failure.as_ref().map(|(e, _)| e.clone()),
        })
    }

    async fn woken(&mut self) {
        self.outputs.webhooks_changed.notified().await;
    }
}

/// The header naming the node that made a delivery, so that a receiver (or a test) sees
/// which node of a shared record runs its subscription.
pub const NODE_HEADER: &str = "X-Tryvoga-Node";

pub fn delivery_id(webhook: &str, seq: u64) -> String {
    format!("{webhook}-{seq}")
}

/// The `webhook-signature` value for one attempt.
pub fn signature(
    key: &EventKey,
    scheme: &str,
    secret: Option<&str>,
    content: &[u8],
) -> Result<String, DeliveryError> {
    match scheme {
        "ed25519" => Ok(format!(
            "v1a,{}",
            STANDARD.encode(key.sign_bytes(content).to_bytes())
        )),
        _ => {
            let secret =
                secret.ok_or_else(|| DeliveryError::from("the subscription has no secret"))?;
            hmac_signature(secret, content)
        }
    }
}

/// `v1,<base64 HMAC-SHA256>` keyed by the bytes the `whsec_` secret encodes.
pub fn hmac_signature(secret: &str, content: &[u8]) -> Result<String, DeliveryError> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| DeliveryError::from("the stored secret is not base64"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| DeliveryError(e.to_string()))?;
    mac.update(content);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

async fn deliver(
    outputs: &Outputs,
    sub: &Webhook,
    stored: &StoredEvent,
) -> Result<(), DeliveryError> {
    let key = &outputs.key;
    let seq = stored.seq;
    let id = delivery_id(&sub.id, seq);
    let timestamp = Utc::now().timestamp();
    let mut content = format!("{id}.{timestamp}.").into_bytes();
    content.extend_from_slice(stored.payload.as_bytes());
    let signature = signature(key, &sub.signing, sub.secret.as_deref(), &content)?;
    let (url, kind, body) = (sub.url.clone(), stored.kind.clone(), stored.payload.clone());
    let node = outputs.options.lease.node.clone();
    let targets = outputs.options.webhook_targets.clone();
    let sent = tokio::task::spawn_blocking(move || {
        let agent = receiver_agent(&targets);
        let response = agent
            .post(&url)
            .set("content-type", "application/json")
            .set("webhook-id", &id)
            .set("webhook-timestamp", &timestamp.to_string())
            .set("webhook-signature", &signature)
            .set("tryvoga-event", &kind)
            .set("tryvoga-seq", &seq.to_string())
            .set(NODE_HEADER, &node)
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
        Ok(result) => result.map_err(DeliveryError),
        Err(e) => Err(DeliveryError(format!("delivery task failed: {e}"))),
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
