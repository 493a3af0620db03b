//! The write side of the record as a backend sees it: an [`EventLog`] appends one [`Batch`] at
//! a time, atomically, with everything that batch decided beside the events (materialised
//! rows, idempotency keys, import keys, audit entries, token and output changes), and answers
//! the few look-ups the writer needs while deciding. The writer ([`crate::writer`]) owns the
//! rules of group commit and the state; a backend owns only how a batch becomes durable. SQLite
//! implements it in [`crate::sqlite`], PostgreSQL in [`crate::postgres`] (where several nodes
//! append to one log, so a batch first folds in what the others appended); both pass the same
//! suite (`crates/store/tests/suite`).

use chrono::{DateTime, Utc};
use tryvoga_core::{AlertId, AlertType, Event, RegionId, Role, State};

use crate::StoreError;
use crate::outputs::OutputWrite;
use crate::writer::AuditEntry;

/// The durable log of record, as the single writer drives it.
pub trait EventLog: Send + 'static {
    /// The state the log folds to, rebuilt from what the backend keeps materialised (the
    /// active alerts, the highest alert id and the last sequence number) and the fold of the
    /// log's threat, pre-alert, power and region events (`EventBody::is_situation`).
    fn restore(&mut self) -> Result<State, StoreError>;
    /// The `sig` of the newest signed event: which key the record has been signing with.
    fn newest_signature(&mut self) -> Result<Option<String>, StoreError>;
    /// The event at `seq`, for answering a retried request with its first answer.
    fn event(&mut self, seq: u64) -> Result<Option<Event>, StoreError>;
    /// The fingerprint of the request first sent with this token's idempotency key, and the
    /// event it was answered with.
    fn idempotency(&mut self, token: &str, key: &str) -> Result<Option<(String, u64)>, StoreError>;
    /// The event holding the report or threat with this content key, if one was recorded.
    fn recorded(&mut self, what: Recorded, key: &str) -> Result<Option<u64>, StoreError>;
    /// The alert an earlier import of this dataset row became.
    fn imported(&mut self, key: &ImportKey) -> Result<Option<AlertId>, StoreError>;
    /// Whether any token (live or revoked) has this name.
    fn token_named(&mut self, name: &str) -> Result<bool, StoreError>;
    /// Opens the next batch. A log that other writers append to as well (several nodes on one
    /// database) takes its head lock here, held until [`EventLog::append`] or
    /// [`EventLog::abandon`], and returns the events they appended after `after` (the writer's
    /// last seq), which the writer folds into its state before it decides anything. A log
    /// with one writer has nothing to do.
    fn begin(&mut self, after: u64) -> Result<Vec<Event>, StoreError> {
        let _ = after;
        Ok(Vec::new())
    }
    /// Ends a batch that [`EventLog::begin`] opened and that writes nothing.
    fn abandon(&mut self) {}
    /// For a log other writers append to: what waits until it may have grown, so that an
    /// idle writer still hears of their events. `None` for a log with one writer.
    fn watcher(&mut self) -> Result<Option<Box<dyn LogWatch>>, StoreError> {
        Ok(None)
    }
    /// Writes the whole batch, or nothing of it. Events come in sequence order, continuing the
    /// log without a gap. Returns what the token and output changes came to, in their order.
    fn append(&mut self, batch: &Batch) -> Result<Applied, StoreError>;
}

/// Waits for other writers' commits to a shared log.
pub trait LogWatch: Send {
    /// Returns when the log may have grown, or after `timeout` at most.
    fn wait(&mut self, timeout: std::time::Duration);
}

/// Which table of recorded texts a content key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recorded {
    Report,
    Threat,
}

/// What makes an imported dataset row the same row again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImportKey {
    pub source: String,
    pub region: RegionId,
    pub alert_type: AlertType,
    pub started_ms: i64,
}

/// An imported row's key, with the alert it became and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedRow {
    pub key: ImportKey,
    pub alert: AlertId,
    pub file: String,
    pub line: u64,
}

/// A request's idempotency key, kept with the event it was answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRow {
    pub token: String,
    pub key: String,
    pub fingerprint: String,
    pub seq: u64,
}

/// An audit entry as it is written: when, and the event it led to (none for a refusal).
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub at: DateTime<Utc>,
    pub entry: AuditEntry,
    pub seq: Option<u64>,
}

/// A change to the tokens table. Only the hash of a secret is ever handed to a backend.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenWrite {
    Create {
        name: String,
        hash: String,
        role: Role,
        regions: Vec<RegionId>,
        at: DateTime<Utc>,
    },
    Revoke {
        name: String,
        at: DateTime<Utc>,
    },
}

/// Everything one transaction writes.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub events: Vec<Event>,
    pub idempotency: Vec<IdempotencyRow>,
    pub imported: Vec<ImportedRow>,
    pub audit: Vec<AuditRow>,
    pub tokens: Vec<TokenWrite>,
    pub outputs: Vec<OutputWrite>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.idempotency.is_empty()
            && self.imported.is_empty()
            && self.audit.is_empty()
            && self.tokens.is_empty()
            && self.outputs.is_empty()
    }

    /// How long each list is, so that a request that fails half-way can be taken back out.
    pub(crate) fn mark(&self) -> Mark {
        Mark([
            self.events.len(),
            self.idempotency.len(),
            self.imported.len(),
            self.audit.len(),
            self.tokens.len(),
            self.outputs.len(),
        ])
    }

    pub(crate) fn truncate(&mut self, mark: &Mark) {
        let [e, i, m, a, t, o] = mark.0;
        self.events.truncate(e);
        self.idempotency.truncate(i);
        self.imported.truncate(m);
        self.audit.truncate(a);
        self.tokens.truncate(t);
        self.outputs.truncate(o);
    }
}

pub(crate) struct Mark([usize; 6]);

/// What a batch's token and output changes came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Per [`TokenWrite`]: the new token's id for a creation, the rows changed for a revocation.
    pub tokens: Vec<i64>,
    /// Per [`OutputWrite`]: the rows it changed.
    pub outputs: Vec<u64>,
}
