//! The durable record: an append-only, gapless event log in SQLite, the alerts materialised
//! from it, issuer tokens (hashed) and the audit trail of every command. One writer thread
//! owns the state and commits in batches; reads use their own connections.

pub mod history;
mod pool;
pub mod queries;
pub mod reports;
mod schema;
mod token_cache;
pub mod tokens;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
use tryvoga_core::{Actor, Command, Origin, Registry, State};

pub use history::{HistoricalAlert, ImportChunk, ImportReport};
pub use queries::{AlertQuery, AuditRecord, StoredEvent};
pub use token_cache::TOKEN_TRUST;
pub use tokens::TokenInfo;
pub use writer::{Accepted, AuditEntry, CommandError, NewToken, Publisher, Sealer};

use pool::ReadPool;
use writer::{Request, Writer};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
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

/// A handle on the record. Cheap to clone; the writer thread stops when the last handle goes.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    requests: mpsc::Sender<Request>,
    state: Arc<RwLock<Arc<State>>>,
    readers: ReadPool,
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
    /// Opens (creating if needed) the database at `path` and starts the writer.
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
        let lock = match access {
            Access::Exclusive => Some(take_lock(path)?),
            Access::Shared => None,
        };
        let mut conn = Connection::open(path)?;
        schema::configure(&conn)?;
        schema::migrate(&mut conn)?;
        let sealer = choose_sealer(queries::newest_signature(&conn)?.as_deref())?;
        let state = State::restore(
            queries::active_alerts(&conn)?,
            queries::max_alert_id(&conn)?,
            queries::last_seq(&conn)?,
        );
        let state = Arc::new(state);
        let shared = Arc::new(RwLock::new(Arc::clone(&state)));
        let (tx, rx) = mpsc::channel(QUEUE);
        let tokens = Arc::new(token_cache::TokenCache::default());
        let writer = Writer {
            tokens: Arc::clone(&tokens),
            conn,
            state,
            shared: Arc::clone(&shared),
            registry,
            publish,
            sealer,
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
                readers: ReadPool::new(path.to_path_buf()),
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

    /// Records a refusal that happened before the core saw the command. Durable with the next
    /// batch; the caller does not wait.
    pub fn audit(&self, entry: AuditEntry) {
        if self.inner.requests.try_send(Request::Audit(entry)).is_err() {
            tracing::warn!("audit queue full; an audit entry was dropped");
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

    /// Runs `f` on the writer's connection, in its own savepoint of the next batch; resolves
    /// with its result once that batch is on disk. For tables beside the log, never the log.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        let run: writer::WriteFn = Box::new(move |c| f(c).map(|v| Box::new(v) as writer::Written));
        self.send(Request::Write { run, reply }).await?;
        let value = rx.await.map_err(|_| StoreError::WriterGone)??;
        value
            .downcast::<T>()
            .map(|v| *v)
            .map_err(|_| StoreError::Corrupt("a write answered with the wrong type".into()))
    }

    async fn send(&self, request: Request) -> Result<(), StoreError> {
        self.inner
            .requests
            .send(request)
            .await
            .map_err(|_| StoreError::WriterGone)
    }

    /// Runs a read query on a pooled read-only connection. Blocking: async callers use
    /// `spawn_blocking`.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.inner.readers.with(f)
    }

    /// The live token with this secret and who it acts as. Blocks on a database read unless
    /// the token was proven within the last second (see [`Store::authenticate_remembered`]).
    pub fn authenticate(&self, secret: &str) -> Result<Option<(TokenInfo, Actor)>, StoreError> {
        let hash = tokens::hash(secret);
        if let Some(info) = self.inner.tokens.get(&hash) {
            return Ok(Some(with_actor(info)));
        }
        let generation = self.inner.tokens.generation();
        let read_at = std::time::Instant::now();
        let info = self.read(|c| queries::token_by_hash(c, &hash))?;
        if let Some(info) = &info {
            self.inner
                .tokens
                .insert(hash, info.clone(), generation, read_at);
        }
        Ok(info.map(with_actor))
    }

    /// As [`Store::authenticate`], from memory only: `None` means "ask the database", never
    /// "unknown". Cheap enough to call on the request path without a blocking thread.
    pub fn authenticate_remembered(&self, secret: &str) -> Option<(TokenInfo, Actor)> {
        self.inner.tokens.get(&tokens::hash(secret)).map(with_actor)
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
