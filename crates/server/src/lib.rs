//! The HTTP face of Tryvoga: the native API, the stream and the fan-out behind it. Handlers
//! adapt requests to core commands and store queries; no business rule lives here.

pub mod api;
pub mod app;
pub mod cap;
pub mod compat;
pub mod delivery;
pub mod error;
pub mod fanout;
pub mod frontdoor;
pub mod hub;
pub mod mqtt;
pub mod outputs;
pub mod pages;
pub mod readcache;
pub mod signing;
pub mod subscriber;
pub mod webhooks;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;
use tryvoga_core::Registry;
use tryvoga_store::{Access, Store, StoreError, queries};

pub use app::{App, SharedApp};
pub use hub::Hub;

#[derive(Debug, Clone)]
pub struct Options {
    pub public_reads: bool,
    /// Who may read the alerts.in.ua and ukrainealarm APIs, and how often.
    pub compat: compat::CompatOptions,
    /// Threads that write to stream subscribers, apart from the ones serving requests; 0 for
    /// two per core.
    pub fanout_threads: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            public_reads: true,
            compat: compat::CompatOptions::default(),
            fanout_threads: 0,
        }
    }
}

/// Opens the record at `db` for serving: the store, with the fan-out hub as its publisher.
pub fn open(
    db: &Path,
    registry: &'static Registry,
    options: Options,
) -> Result<SharedApp, StoreError> {
    open_with(db, registry, options, outputs::OutputOptions::default())
}

/// As [`open`], with the outputs configured. Every event is signed with the key at
/// `outputs.signing_key` (or beside the database), made on first start.
pub fn open_with(
    db: &Path,
    registry: &'static Registry,
    options: Options,
    outputs: outputs::OutputOptions,
) -> Result<SharedApp, StoreError> {
    let key_path = outputs
        .signing_key
        .clone()
        .unwrap_or_else(|| signing::key_path(db));
    let fanout_threads = match options.fanout_threads {
        // The fan-out threads spend most of their time in the kernel's send path, and two per
        // core reached the last of 19,000 subscribers sooner than one per core (BENCHMARKS.md).
        0 => 2 * std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let hub = Arc::new(Hub::new(fanout_threads));
    let publisher = Arc::clone(&hub);
    let mut key = None;
    let store = Store::open_sealed(
        db,
        registry,
        Access::Exclusive,
        Box::new(move |events, _| publisher.publish(events)),
        |newest_sig| {
            let record_key = signing::record_key(&key_path, newest_sig, signing::KeyUse::Serve)
                .map_err(StoreError::Invalid)?;
            let record_key = key.insert(Arc::new(record_key));
            Ok(Some(record_key.sealer()))
        },
    )?;
    let key = key.ok_or_else(|| StoreError::Invalid("the signing key was not read".into()))?;
    let (last_seq, last_ms) = store.read(|c| {
        let seq = queries::last_seq(c)?;
        let ms: Option<i64> = c.query_row("SELECT MAX(at_ms) FROM events", [], |r| r.get(0))?;
        Ok((seq, ms.unwrap_or(0)))
    })?;
    // Nothing is published before the first command, so setting the start position after
    // opening cannot race with the writer.
    hub.start_at(last_seq, last_ms);
    Ok(Arc::new(App {
        store,
        registry,
        hub,
        started: Instant::now(),
        public_reads: options.public_reads,
        compat: compat::Compat::new(options.compat),
        outputs: outputs::Outputs::new(outputs, key),
        read_cache: readcache::ReadCache::default(),
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
            let key = signing::record_key(&key_path, newest_sig, signing::KeyUse::Offline)
                .map_err(StoreError::Invalid)?;
            Ok(Some(Arc::new(key).sealer()))
        },
    )
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: SharedApp,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    compat::start(&app);
    outputs::start(&app);
    let router = api::router(app.clone());
    frontdoor::serve(listener, app, router, shutdown).await
}
