//! Every sink that follows the log from a saved position, and the formats they send: native
//! webhooks (Standard Webhooks, HMAC or Ed25519), ukrainealarm-style webhooks (RSA-signed),
//! MQTT (retained region statuses, Home Assistant discovery), all driven by one
//! [`follower`]; CAP 1.2 messages and their Atom feed as pure functions of events ([`cap`]);
//! and the record's signing key, which signs every event as it is appended ([`signing`]).
//! Outputs read the log through an [`EventSource`] and keep their positions through the
//! store's output traits; they never see SQL. On a record shared by several nodes each
//! output's pipeline runs on one node at a time, the holder of its [`lease`].

pub mod cap;
pub mod follower;
pub mod lease;
pub mod mqtt;
pub mod signing;
mod supervise;
pub mod targets;
pub mod ukrainealarm;
pub mod webhooks;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, OnceCell};
use tryvoga_bus::EventSource;
use tryvoga_core::Registry;
use tryvoga_store::{Queries, Store, StoreError};

use signing::EventKey;

/// What the operator chose for the outputs.
#[derive(Debug, Clone)]
pub struct OutputOptions {
    /// The event signing key; `None`: `<db>.ed25519`, made on first start.
    pub signing_key: Option<PathBuf>,
    /// CAP `<sender>`: who the messages come from.
    pub cap_sender: String,
    pub webhooks: webhooks::Retry,
    /// The operator's MQTT broker, if any.
    pub mqtt: Option<mqtt::MqttOptions>,
    /// This node's id and the length of the outputs' leases.
    pub lease: lease::LeaseOptions,
    /// Where webhooks may be delivered.
    pub webhook_targets: targets::TargetPolicy,
}

impl Default for OutputOptions {
    fn default() -> OutputOptions {
        OutputOptions {
            signing_key: None,
            cap_sender: "tryvoga@localhost".into(),
            webhooks: webhooks::Retry::default(),
            mqtt: None,
            lease: lease::LeaseOptions::default(),
            webhook_targets: targets::TargetPolicy::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Key(String),
    #[error("a blocking task failed: {0}")]
    Task(String),
    #[error("{0}")]
    Config(String),
}

/// Why one delivery failed, as kept beside the subscription (`last_error`) and in its dead
/// letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

impl From<&str> for DeliveryError {
    fn from(message: &str) -> DeliveryError {
        DeliveryError(message.to_string())
    }
}

/// What the outputs run on, shared by their workers and the API rooms that configure them.
pub struct Outputs {
    pub options: OutputOptions,
    pub key: Arc<EventKey>,
    pub store: Store,
    pub source: Arc<dyn EventSource>,
    pub registry: &'static Registry,
    /// Woken when a native webhook is added or removed.
    pub webhooks_changed: Notify,
    /// Woken when a ukrainealarm webhook is registered, moved or removed.
    pub compat_webhooks_changed: Notify,
    /// The key ukrainealarm deliveries are signed with, read or made on first use.
    pub compat_signer: OnceCell<Arc<ukrainealarm::Signer>>,
    /// The leases this node holds now: the outputs running here.
    held: Mutex<BTreeSet<String>>,
}

impl Outputs {
    pub fn new(
        options: OutputOptions,
        key: Arc<EventKey>,
        store: Store,
        source: Arc<dyn EventSource>,
        registry: &'static Registry,
    ) -> Arc<Outputs> {
        Arc::new(Outputs {
            options,
            key,
            store,
            source,
            registry,
            webhooks_changed: Notify::new(),
            compat_webhooks_changed: Notify::new(),
            compat_signer: OnceCell::new(),
            held: Mutex::new(BTreeSet::new()),
        })
    }

    /// The leases this node holds now, by name: which outputs run here.
    pub fn held(&self) -> Vec<String> {
        match self.held.lock() {
            Ok(held) => held.iter().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().iter().cloned().collect(),
        }
    }

    fn holding(&self, lease: &str, held: bool) {
        let mut set = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held {
            set.insert(lease.to_string());
        } else {
            set.remove(lease);
        }
    }

    /// Runs a read of the record on a blocking thread.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Queries) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, OutputError> {
        let queries = Arc::clone(self.store.queries());
        tokio::task::spawn_blocking(move || f(queries.as_ref()))
            .await
            .map_err(|e| OutputError::Task(e.to_string()))?
            .map_err(OutputError::from)
    }

    /// Why the outputs owned by the token named `owner` must wait, if they must: a revoked
    /// token's webhooks are paused, not deleted, and go on from where they stopped only if a
    /// token of that name is live again. Asked before every page of deliveries, so an event
    /// committed after the revocation is never sent.
    pub(crate) async fn paused(&self, owner: &str) -> Option<String> {
        let name = owner.to_string();
        match self.read(move |q| q.token_by_name(&name)).await {
            Ok(Some(token)) if token.revoked_at.is_none() => None,
            Ok(Some(_)) => Some(format!(
                "paused: the token {owner:?} that owns this webhook was revoked"
            )),
            Ok(None) => Some(format!("paused: there is no token named {owner:?}")),
            Err(e) => Some(format!("could not read the owner's token: {e}")),
        }
    }
}

/// How often a paused output asks again whether its owner's token is live.
pub(crate) const PAUSED_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Starts every output's workers: native and ukrainealarm webhook deliveries, and the MQTT
/// publisher when a broker is configured.
pub fn start(outputs: &Arc<Outputs>) {
    webhooks::start(outputs);
    ukrainealarm::start(outputs);
    mqtt::start(outputs);
}
