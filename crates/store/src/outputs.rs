//! What the outputs keep in the record beside the log: native webhook subscriptions with the
//! position each has delivered to and the deliveries that ran out of attempts, the
//! ukrainealarm-style webhooks (one per token) with theirs, the key their deliveries are
//! signed with, and the positions of outputs with no table of their own (MQTT). Reads go through [`OutputPositions`]; changes are [`OutputWrite`]s, written by
//! the single writer in the next batch so that they share its durability.

use chrono::{DateTime, Utc};

use crate::StoreError;

/// A native webhook subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: String,
    pub owner: String,
    pub url: String,
    /// Region ids; `None`: every region.
    pub regions: Option<Vec<u32>>,
    /// Alert type words; `None`: every type.
    pub types: Option<Vec<String>>,
    /// `hmac-sha256` or `ed25519`.
    pub signing: String,
    pub secret: Option<String>,
    pub created_ms: i64,
    pub delivered_seq: u64,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// A delivery that failed every attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub delivery: String,
    pub seq: u64,
    pub attempts: u32,
    pub last_error: String,
    pub failed_at: DateTime<Utc>,
}

/// A ukrainealarm-style webhook: its address and how far it has been delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatWebhook {
    pub url: String,
    pub delivered_seq: u64,
}

/// A change to the outputs' tables.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputWrite {
    CreateWebhook(Webhook),
    /// Removes a subscription with its dead letters.
    DeleteWebhook {
        id: String,
    },
    /// Moves a subscription's position forward (never back) and records its attempts.
    WebhookProgress {
        id: String,
        delivered_seq: u64,
        attempts: u32,
        last_error: Option<String>,
    },
    /// Keeps a delivery that ran out of attempts; a second one for the same event is ignored.
    DeadLetter {
        webhook: String,
        letter: DeadLetter,
    },
    /// Registers the token's webhook, or moves it to a new address keeping its position.
    RegisterCompatWebhook {
        token: String,
        url: String,
        at: DateTime<Utc>,
        from_seq: u64,
    },
    /// Changes the address of the token's webhook; changes nothing when it has none.
    MoveCompatWebhook {
        token: String,
        url: String,
        at: DateTime<Utc>,
    },
    RemoveCompatWebhook {
        token: String,
    },
    /// Moves a ukrainealarm webhook's position forward; an error counts a failure, none
    /// clears the count.
    CompatWebhookProgress {
        token: String,
        delivered_seq: u64,
        error: Option<String>,
    },
    /// Moves the position of the output called `name` forward (never back), keeping it
    /// for whichever node runs that output next.
    Position {
        name: String,
        delivered_seq: u64,
    },
    /// Keeps a signing key for the ukrainealarm deliveries; an existing key id is kept as it is.
    AddCompatSigningKey {
        key_id: String,
        private_pem: String,
        at: DateTime<Utc>,
    },
}

/// Reads of the outputs' tables.
pub trait OutputPositions {
    /// Every native subscription, oldest first, with how many dead letters each has.
    fn webhooks(&self) -> Result<Vec<(Webhook, u64)>, StoreError>;
    fn webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError>;
    fn webhook_ids(&self) -> Result<Vec<String>, StoreError>;
    fn dead_letter_count(&self, webhook: &str) -> Result<u64, StoreError>;
    /// A subscription's dead letters in log order.
    fn dead_letters(&self, webhook: &str) -> Result<Vec<DeadLetter>, StoreError>;
    fn compat_webhook_tokens(&self) -> Result<Vec<String>, StoreError>;
    fn compat_webhook(&self, token: &str) -> Result<Option<CompatWebhook>, StoreError>;
    /// The newest ukrainealarm signing key (PKCS#8 PEM).
    fn compat_signing_key(&self) -> Result<Option<String>, StoreError>;
    /// The position kept for the output called `name`; `None` before it kept one.
    fn position(&self, name: &str) -> Result<Option<u64>, StoreError>;
}
