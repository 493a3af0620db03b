//! Wiring: opens the record with its signing key, puts an event source on its writer, and
//! builds every room on top of them. No rule, no SQL, no protocol lives here; only which part
//! is handed to which.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use tokio::net::TcpListener;
use tryvoga_api::{App, Reads};
use tryvoga_bus::{EventSource, LocalSource};
use tryvoga_compat::{Compat, CompatOptions};
use tryvoga_core::Registry;
use tryvoga_edge::{Edge, Hub};
use tryvoga_outputs::signing::{self, EventKey, KeyUse};
use tryvoga_outputs::{OutputOptions, Outputs};
use tryvoga_store::{Access, AnswerCache, Store, StoreError};

/// What the operator chose for the server.
#[derive(Debug, Clone)]
pub struct Options {
    pub public_reads: bool,
    /// Who may read the alerts.in.ua and ukrainealarm APIs, and how often.
    pub compat: CompatOptions,
    /// Threads that write to stream subscribers, apart from the ones serving requests; 0 for
    /// two per core.
    pub fanout_threads: usize,
    /// Connections one client address may hold open; 0 for no limit.
    pub max_conns_per_ip: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            public_reads: true,
            compat: CompatOptions::default(),
            fanout_threads: 0,
            max_conns_per_ip: 0,
        }
    }
}

/// A server's rooms, opened on one record.
pub struct Server {
    pub store: Store,
    pub registry: &'static Registry,
    pub source: Arc<LocalSource>,
    pub hub: Arc<Hub>,
    pub edge: Arc<Edge>,
    pub outputs: Arc<Outputs>,
    pub api: Arc<App>,
    pub compat: Arc<Compat>,
}

pub type SharedServer = Arc<Server>;

/// Opens the record at `db` for serving.
pub fn open(
    db: &Path,
    registry: &'static Registry,
    options: Options,
) -> Result<SharedServer, StoreError> {
    open_with(db, registry, options, OutputOptions::default())
}

/// As [`open`], with the outputs configured. Every event is signed with the key at
/// `outputs.signing_key` (or beside the database), made on first start.
pub fn open_with(
    db: &Path,
    registry: &'static Registry,
    options: Options,
    outputs: OutputOptions,
) -> Result<SharedServer, StoreError> {
    let key_path = outputs
        .signing_key
        .clone()
        .unwrap_or_else(|| signing::key_path(db));
    // The source is made once the store is open (it reads the log's head), but the writer
    // needs somewhere to hand commits from its first one: nothing commits before this
    // function returns, so the slot is filled before it is read.
    let slot: Arc<std::sync::OnceLock<Arc<LocalSource>>> = Arc::default();
    let publish_to = Arc::clone(&slot);
    let mut key = None;
    let store = Store::open_sealed(
        db,
        registry,
        Access::Exclusive,
        Box::new(move |events, _| {
            if let Some(source) = publish_to.get() {
                source.publish(events);
            }
        }),
        |newest_sig| {
            let record_key = signing::record_key(&key_path, newest_sig, KeyUse::Serve)
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            let record_key = key.insert(Arc::new(record_key));
            Ok(Some(record_key.sealer()))
        },
    )?;
    let key: Arc<EventKey> =
        key.ok_or_else(|| StoreError::Invalid("the signing key was not read".into()))?;
    let (head, last_event_ms) = store.queries().head()?;
    let source = Arc::new(LocalSource::new(store.history(), head, last_event_ms));
    slot.set(Arc::clone(&source))
        .map_err(|_| StoreError::Invalid("the event source was set twice".into()))?;
    let events: Arc<dyn EventSource> = source.clone();
    let reads = Reads {
        store: store.clone(),
        public: options.public_reads,
        grants: Default::default(),
    };
    let edge = Edge::new(
        Arc::clone(&events),
        registry,
        Arc::new(reads.clone()),
        options.fanout_threads,
    );
    edge.conn_limit.set_max(options.max_conns_per_ip);
    let outputs = Outputs::new(outputs, key, store.clone(), Arc::clone(&events), registry);
    let api = Arc::new(App {
        store: store.clone(),
        registry,
        source: Arc::clone(&events),
        edge: Arc::clone(&edge),
        outputs: Arc::clone(&outputs),
        started: Instant::now(),
        reads,
        read_cache: AnswerCache::default(),
    });
    let compat = Compat::new(
        options.compat,
        store.clone(),
        registry,
        events,
        Arc::clone(&outputs),
    );
    Ok(Arc::new(Server {
        hub: Arc::clone(&edge.hub),
        store,
        registry,
        source,
        edge,
        outputs,
        api,
        compat,
    }))
}

/// Opens the record at `db` to write it directly, with no server (a command given `--db`):
/// the database to itself, and every event signed with the record's key as `serve` signs it,
/// so that the log verifies whichever way an event entered it. `signing_key` is where `serve`
/// keeps the key when not beside the database. The key is made if the record has signed
/// nothing yet, as `serve` would; a missing key for a record that has, or a key that is not
/// the one its newest events are signed with, is refused.
pub fn open_offline(
    db: &Path,
    registry: &'static Registry,
    signing_key: Option<&Path>,
) -> Result<Store, StoreError> {
    let key_path = signing_key.map_or_else(|| signing::key_path(db), Path::to_path_buf);
    Store::open_sealed(
        db,
        registry,
        Access::Exclusive,
        Box::new(|_, _| {}),
        |newest_sig| {
            let key = signing::record_key(&key_path, newest_sig, KeyUse::Offline)
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            Ok(Some(Arc::new(key).sealer()))
        },
    )
}

impl Server {
    /// Every HTTP route: the native API and pages, the compatibility APIs, the edge's
    /// fall-back streams.
    pub fn router(&self) -> Router {
        tryvoga_api::finish(
            tryvoga_api::routes(Arc::clone(&self.api))
                .merge(tryvoga_compat::routes(Arc::clone(&self.compat)))
                .merge(tryvoga_edge::routes(Arc::clone(&self.edge))),
        )
    }

    /// Starts what runs beside the routes: the stream feed and the outputs' workers. Call
    /// once, on the runtime that serves.
    pub fn start(&self) {
        self.edge.start();
        tryvoga_outputs::start(&self.outputs);
        tryvoga_api::housekeeping::start(&self.api);
    }
}

/// Serves the server on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    server: SharedServer,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server.start();
    let router = server.router();
    tryvoga_edge::serve(listener, Arc::clone(&server.edge), router, shutdown).await
}

/// The listening socket of `serve` and `edge`. The backlog is 4096 rather than the 128 that
/// `TcpListener::bind` asks for: a crowd reconnecting after a blip (thousands of subscribers
/// within a second) would otherwise overflow the accept queue, and each dropped SYN costs its
/// client a one-second retransmission. With `share_port`, other processes may bind the same
/// address (`SO_REUSEPORT`) and the kernel hands each new connection to one of them.
/// The connections per client address `--max-conns-per-ip` allows unless told: an eighth
/// of the descriptors this process may open, so that no one address can take them all (at
/// least 64, so a household behind one NAT or a busy proxy is not cut off).
pub fn default_conns_per_ip() -> usize {
    let files = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1 << 20);
    usize::try_from(files / 8).unwrap_or(usize::MAX).max(64)
}

/// `--max-conns-per-ip` as given (0: no limit), or the default.
pub fn conns_per_ip(given: Option<usize>) -> usize {
    given.unwrap_or_else(default_conns_per_ip)
}

pub fn bind(
    addr: std::net::SocketAddr,
    share_port: bool,
) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if share_port {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    socket.listen(4096)
}
