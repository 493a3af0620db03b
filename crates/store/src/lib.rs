//! The durable record: an append-only, gapless event log, the alerts, reports and threats
//! materialised from it, issuer tokens (hashed), the audit trail of every command, and the
//! positions of the outputs that follow the log. Rooms see it through traits: [`EventLog`]
//! (the write half a backend implements, driven by one writer thread that commits in batches)
//! and [`Queries`] (every read). The embedded backend is SQLite ([`sqlite`]); the scale-out
//! one is PostgreSQL ([`postgres`]), chosen by giving a `postgres://` URL where a database file
//! would go. All SQL of the workspace lives in those two modules.

pub mod answers;
pub mod history;
pub mod lease;
pub mod log;
pub mod migrate;
pub mod outputs;
pub mod postgres;
pub mod queries;
mod reader;
pub mod sqlite;
mod token_cache;
pub mod tokens;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::{mpsc, oneshot};
use tryvoga_bus::{History, SourceError, StoredEvent};
use tryvoga_core::{Actor, Command, Origin, Registry, State};

pub use answers::AnswerCache;
pub use history::{HistoricalAlert, ImportChunk, ImportReport};
pub use lease::{Leases, SharedLeases};
pub use log::EventLog;
pub use outputs::{CompatWebhook, DeadLetter, OutputPositions, OutputWrite, Webhook};
/// Whether a `--db` names a database server rather than a file, and that name fit for logs.
pub use postgres::{is_url as is_server_url, redacted as redacted_url};
pub use queries::{
    AlertQueries, AuditQueries, AuditRecord, Cursor, HistoryQuery, LogQueries, Queries,
    ReportQueries, Span, StoredReport, TokenQueries,
};
pub use reader::Reader;
pub use token_cache::TOKEN_TRUST;
pub use tokens::TokenInfo;
pub use writer::{Accepted, AuditEntry, CommandError, NewToken, Publisher, Sealer};

use writer::{Request, Writer};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the database was written by a newer tryvoga (schema {found}, this one knows {known})")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("the database is inconsistent: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the writer has stopped")]
    WriterGone,
    #[error("a lock was poisoned by a panic")]
    Poisoned,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is in use by a running server; send the command through it with --server instead")]
    Busy(PathBuf),
}

impl StoreError {
    /// One error answers every request of a failed batch.
    fn duplicate(&self) -> StoreError {
        match self {
            StoreError::Invalid(m) => StoreError::Invalid(m.clone()),
            StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
            other => StoreError::Corrupt(other.to_string()),
        }
    }
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Every read of the record, shared by all handles.
pub type SharedQueries = Arc<dyn Queries + Send + Sync>;

/// A handle on the record. Cheap to clone; the writer thread stops when the last handle goes.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    requests: mpsc::Sender<Request>,
    state: Arc<RwLock<Arc<State>>>,
    queries: SharedQueries,
    leases: SharedLeases,
    tokens: Arc<token_cache::TokenCache>,
    _lock: Option<File>,
}

/// How many requests may wait for the writer before callers wait to enqueue.
const QUEUE: usize = 16 * 1024;

/// Whether the opener needs the database to itself (a server, or an offline alert command) or
/// can share it with a running server (token management, reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Exclusive,
    Shared,
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and starts the writer.
    pub fn open(
        path: &Path,
        registry: &'static Registry,
        access: Access,
        publish: Publisher,
    ) -> Result<Store, StoreError> {
        Store::open_sealed(path, registry, access, publish, |_| Ok(None))
    }

    /// As [`Store::open`], with every event signed as it is appended by the sealer that
    /// `choose_sealer` gives. It is asked once the database is held, and told the `sig` of the
    /// record's newest signed event, so that a key that is not the record's is caught before
    /// it signs anything (and before a new key is made for a database another process holds).
    pub fn open_sealed(
        path: &Path,
        registry: &'static Registry,
        access: Access,
        publish: Publisher,
        choose_sealer: impl FnOnce(Option<&str>) -> Result<Option<Sealer>, StoreError>,
    ) -> Result<Store, StoreError> {
        if let Some(url) = path.to_str().filter(|p| postgres::is_url(p)) {
            // Any number of nodes share a PostgreSQL record: the head lock, not a file lock,
            // keeps their writes in one order.
            let (log, queries) = postgres::open(url)?;
            let queries = Arc::new(queries);
            return Store::with_backend(
                path,
                log,
                Arc::clone(&queries) as SharedQueries,
                queries,
                registry,
                publish,
                choose_sealer,
                None,
            );
        }
        let lock = match access {
            Access::Exclusive => Some(take_lock(path)?),
            Access::Shared => None,
        };
        let (log, queries) = sqlite::open(path)?;
        let queries = Arc::new(queries);
        Store::with_backend(
            path,
            log,
            Arc::clone(&queries) as SharedQueries,
            queries,
            registry,
            publish,
            choose_sealer,
            lock,
        )
    }

    /// Starts the writer over any backend: `log` is its write half, `queries` its reads,
    /// `leases` its leases.
    #[allow(clippy::too_many_arguments)]
    pub fn with_backend<L: EventLog>(
        path: &Path,
        mut log: L,
        queries: SharedQueries,
        leases: SharedLeases,
        registry: &'static Registry,
        publish: Publisher,
        choose_sealer: impl FnOnce(Option<&str>) -> Result<Option<Sealer>, StoreError>,
        lock: Option<File>,
    ) -> Result<Store, StoreError> {
        let sealer = choose_sealer(log.newest_signature()?.as_deref())?;
        let state = Arc::new(log.restore()?);
        let shared = Arc::new(RwLock::new(Arc::clone(&state)));
        let (tx, rx) = mpsc::channel(QUEUE);
        if let Some(watch) = log.watcher()? {
            watch_others(path, watch, tx.downgrade())?;
        }
        let tokens = Arc::new(token_cache::TokenCache::default());
        let writer = Writer {
            log,
            state,
            shared: Arc::clone(&shared),
            registry,
            publish,
            sealer,
            tokens: Arc::clone(&tokens),
        };
        std::thread::Builder::new()
            .name("tryvoga-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|source| StoreError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                requests: tx,
                state: shared,
                queries,
                leases,
                tokens,
                _lock: lock,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The state after the last commit.
    pub fn state(&self) -> Arc<State> {
        match self.inner.state.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Every read of the record. Blocking: async callers use `spawn_blocking`.
    pub fn queries(&self) -> &SharedQueries {
        &self.inner.queries
    }

    /// The record's leases (see [`lease`]). Blocking, like the reads.
    pub fn leases(&self) -> &SharedLeases {
        &self.inner.leases
    }

    /// The log as an event source reads it.
    pub fn history(&self) -> Arc<dyn History> {
        Arc::new(LogHistory(Arc::clone(&self.inner.queries)))
    }

    /// Decides and records a command; resolves once the event is durable.
    pub async fn command(
        &self,
        actor: Actor,
        command: Command,
        idempotency_key: Option<String>,
    ) -> Result<Accepted, CommandError> {
        self.command_as(actor, command, Origin::Live, idempotency_key)
            .await
    }

    /// As [`Store::command`], for commands that replay a record: an alert started carries
    /// `origin`.
    pub async fn command_as(
        &self,
        actor: Actor,
        command: Command,
        origin: Origin,
        idempotency_key: Option<String>,
    ) -> Result<Accepted, CommandError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::Command {
            actor,
            command,
            idempotency_key,
            reply,
            origin,
        })
        .await?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Writes past alerts into the record in one transaction; resolves once it is durable.
    /// Rows already imported from the same source are reported, not written again.
    pub async fn import_history(&self, chunk: ImportChunk) -> Result<ImportReport, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::ImportHistory { chunk, reply }).await?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Records a refusal that happened before the core saw the command; durable with the next
    /// batch. The caller does not wait for the write, but a full queue makes it wait for room
    /// rather than lose the entry: every refusal is audited.
    pub async fn audit(&self, entry: AuditEntry) {
        if let Err(e) = self.send(Request::Audit(entry)).await {
            tracing::error!(error = %e, "an audit entry could not be queued");
        }
    }

    pub async fn create_token(&self, token: NewToken) -> Result<(TokenInfo, String), StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::CreateToken { token, reply }).await?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Revokes the token with this name; false if there was no such live token.
    pub async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::RevokeToken {
            name: name.to_string(),
            reply,
        })
        .await?;
        // The writer forgets every remembered token once the revocation is committed.
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Writes a change to the outputs' tables in the next batch; resolves with the rows it
    /// changed once that batch is durable.
    pub async fn output(&self, write: OutputWrite) -> Result<u64, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::Output { write, reply }).await?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    async fn send(&self, request: Request) -> Result<(), StoreError> {
        self.inner
            .requests
            .send(request)
            .await
            .map_err(|_| StoreError::WriterGone)
    }

    /// The live token with this secret and who it acts as. Blocks on a database read unless
    /// the token was proven within the last second (see [`Store::authenticate_remembered`]).
    pub fn authenticate(&self, secret: &str) -> Result<Option<(TokenInfo, Actor)>, StoreError> {
        Ok(reader::authenticate(&self.inner.queries, &self.inner.tokens, secret)?.map(with_actor))
    }

    /// As [`Store::authenticate`], from memory only: `None` means "ask the database", never
    /// "unknown". Cheap enough to call on the request path without a blocking thread.
    pub fn authenticate_remembered(&self, secret: &str) -> Option<(TokenInfo, Actor)> {
        self.inner.tokens.get(&tokens::hash(secret)).map(with_actor)
    }
}

/// How long an idle node on a shared log goes without looking for other nodes' events when
/// it hears nothing from the database.
const WATCH_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// On a log other nodes append to: wakes the writer whenever they may have committed, so
/// that this node's state and its followers hear of their events within moments. Holds the
/// queue weakly: the writer still stops when the last handle goes.
fn watch_others(
    path: &Path,
    mut watch: Box<dyn log::LogWatch>,
    requests: mpsc::WeakSender<Request>,
) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name("tryvoga-log-watch".into())
        .spawn(move || {
            loop {
                watch.wait(WATCH_POLL);
                let Some(tx) = requests.upgrade() else {
                    return;
                };
                // A full queue means the writer is busy, and it looks before every batch.
                let _ = tx.try_send(Request::Sync);
            }
        })
        .map(drop)
        .map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// The record's log as the event bus reads it.
struct LogHistory(SharedQueries);

impl History for LogHistory {
    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, SourceError> {
        self.0
            .events_after(after, limit)
            .map_err(|e| SourceError::Read(e.to_string()))
    }
}

fn with_actor(t: TokenInfo) -> (TokenInfo, Actor) {
    let actor = Actor {
        name: t.name.clone(),
        role: t.role,
        scope: t.regions.clone(),
    };
    (t, actor)
}

/// Holds an exclusive lock beside the database for as long as the store lives, so that two
/// writers with separate in-memory states never share one file.
fn take_lock(path: &Path) -> Result<File, StoreError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| StoreError::Io {
            path: lock_path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Busy(path.to_path_buf())),
        Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Io {
            path: lock_path,
            source,
        }),
    }
}
