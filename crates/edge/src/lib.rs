//! The edge: where subscribers meet the log. The front door accepts every connection and hands
//! stream subscriptions to the fan-out threads, everything else to the router it is given; the
//! hub serialises each event once per wire format into shared frames; the feed keeps the hub in
//! step with an [`EventSource`]. The edge knows events and a source, nothing of SQL, the
//! writer or the API's rules: who may read is asked of a [`ReadGate`].

pub mod error;
mod fallback;
mod fanout;
pub mod feed;
mod framing;
pub mod frontdoor;
pub mod gate;
pub mod hot;
pub mod hub;
pub mod limits;
pub mod protocol;
pub mod replica;
mod subscriber;

use std::sync::Arc;

use tryvoga_bus::EventSource;
use tryvoga_core::Registry;

pub use error::ApiError;
pub use fallback::routes;
pub use frontdoor::{serve, serve_with};
pub use gate::ReadGate;
pub use hub::Hub;

/// What the edge serves from.
pub struct Edge {
    pub hub: Arc<Hub>,
    pub source: Arc<dyn EventSource>,
    pub registry: &'static Registry,
    pub gate: Arc<dyn ReadGate>,
    /// Open connections per client address (`--max-conns-per-ip`); none until set.
    pub conn_limit: limits::ConnLimit,
}

impl Edge {
    /// An edge over `source` with `fanout_threads` fan-out threads (0: two per core), its hub
    /// starting at the source's head.
    pub fn new(
        source: Arc<dyn EventSource>,
        registry: &'static Registry,
        gate: Arc<dyn ReadGate>,
        fanout_threads: usize,
    ) -> Arc<Edge> {
        let threads = match fanout_threads {
            // The fan-out threads spend most of their time in the kernel's send path, and two
            // per core reached the last of 19,000 subscribers sooner than one per core
            // (BENCHMARKS.md).
            0 => 2 * std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let hub = Arc::new(Hub::new(threads));
        hub.start_at(source.head());
        Arc::new(Edge {
            hub,
            source,
            registry,
            gate,
            conn_limit: limits::ConnLimit::default(),
        })
    }

    /// Starts feeding the hub from the source, on the current runtime.
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        let follow = self.source.follow();
        tokio::spawn(feed::run(
            Arc::clone(&self.source),
            Arc::clone(&self.hub),
            follow,
        ))
    }
}
