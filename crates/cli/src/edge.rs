//! `tryvoga edge`: a stateless fan-out process. It follows the log as the JetStream stream
//! carries it (the relays of the serve nodes fill it), folds it into a state replica, and
//! serves what the state answers: the streams (SSE, WebSocket, resuming from the stream's
//! retained history), `/api/v1/alerts/active`, the regions, the log's pages, the IoT strings
//! and the compatibility reads. Commands, tokens' management and the pages are the serve
//! nodes'. Several edges share one port on a machine (`SO_REUSEPORT`), so the kernel spreads
//! connections over them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use tryvoga_api::replica::EdgeReads;
use tryvoga_bus::EventSource;
use tryvoga_bus::nats::{DEFAULT_STREAM, NatsConfig, NatsSource};
use tryvoga_compat::record::ReplicaRecord;
use tryvoga_compat::{Compat, CompatOptions};
use tryvoga_core::Registry;
use tryvoga_edge::Edge;
use tryvoga_edge::gate::Open;
use tryvoga_edge::replica::Replica;
use tryvoga_store::{AnswerCache, Reader};

#[derive(Args)]
pub struct EdgeArgs {
    /// The NATS server(s) holding the log's stream, e.g. nats://127.0.0.1:4222 (comma-separated
    /// for a cluster).
    #[arg(long, env = "TRYVOGA_NATS")]
    nats: String,
    /// The stream's name: the one the serve nodes relay to.
    #[arg(long, default_value = DEFAULT_STREAM, env = "TRYVOGA_NATS_STREAM")]
    stream: String,
    /// Address to listen on; several edges on one machine may share it.
    #[arg(long, default_value = "127.0.0.1:8090", env = "TRYVOGA_LISTEN")]
    listen: SocketAddr,
    /// The record (a PostgreSQL URL, or the SQLite file of a one-machine setup), read only: for
    /// the compatibility APIs' tokens and history. Without it those APIs are served only when
    /// public, and their history answers 503.
    #[arg(long, env = "TRYVOGA_DB")]
    db: Option<PathBuf>,
    /// Serve a compatibility API without tokens: alerts-in-ua, ukrainealarm or all
    /// (repeatable).
    #[arg(long, value_name = "API", value_parser = ["alerts-in-ua", "ukrainealarm", "all"])]
    compat_public: Vec<String>,
    /// Requests a minute each client may make to the compatibility APIs on this edge; 0 for
    /// no limit.
    #[arg(long, value_name = "N", default_value_t = 0)]
    compat_rate_limit: u32,
    /// Threads that write to stream subscribers; 0 for two per core.
    #[arg(long, value_name = "N", default_value_t = 0)]
    fanout_threads: usize,
}

pub fn run(args: EdgeArgs) -> Result<()> {
    crate::logging();
    let rt = crate::runtime()?;
    rt.block_on(async move {
        let registry = Registry::embedded();
        let reader = match &args.db {
            Some(db) => Some(
                Reader::open(db)
                    .with_context(|| format!("opening {} to read", crate::serve::shown(db)))?,
            ),
            None => None,
        };
        let config = NatsConfig::new(&args.nats, &args.stream);
        let source = Arc::new(
            NatsSource::connect(&config)
                .await
                .with_context(|| format!("following the stream {} at {}", args.stream, args.nats))?,
        );
        let events: Arc<dyn EventSource> = source.clone();
        let replica = Replica::new();
        tokio::spawn(Arc::clone(&replica).run(Arc::clone(&events)));
        let edge = Edge::new(
            Arc::clone(&events),
            registry,
            Arc::new(Open),
            args.fanout_threads,
        );
        let following = Arc::clone(&source);
        let reads = Arc::new(EdgeReads {
            registry,
            replica: Arc::clone(&replica),
            source: Arc::clone(&events),
            connected: Arc::new(move || following.connected()),
            hub: Arc::clone(&edge.hub),
            started: Instant::now(),
            read_cache: AnswerCache::default(),
        });
        let compat = Compat::over(
            CompatOptions {
                public_alerts_in_ua: crate::serve::public_api(&args.compat_public, "alerts-in-ua"),
                public_ukrainealarm: crate::serve::public_api(&args.compat_public, "ukrainealarm"),
                rate_limit_per_minute: args.compat_rate_limit,
            },
            Arc::new(ReplicaRecord { replica, reader }),
            registry,
            Arc::clone(&events),
            None,
        );
        let router = tryvoga_api::finish(
            tryvoga_api::replica::routes(reads)
                .merge(tryvoga_compat::routes(compat))
                .merge(tryvoga_edge::routes(Arc::clone(&edge))),
        );
        let listener = tryvoga::server::bind(args.listen, true)
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        tracing::info!(stream = %args.stream, nats = %args.nats, seq = events.head(), "edge serving on http://{addr}");
        println!("edge serving on http://{addr}");
        edge.start();
        tryvoga_edge::serve(listener, edge, router, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok(())
    })
}
