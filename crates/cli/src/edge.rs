//! `tryvoga edge`: a stateless fan-out process. It follows the log as the JetStream stream
//! carries it (the relays of the serve nodes fill it), folds it into a state replica, and
//! serves what the state answers: the streams (SSE, WebSocket, resuming from the stream's
//! retained history), `/api/v1/alerts/active`, the regions, the log's pages, the IoT strings
//! and the compatibility reads. Commands, tokens' management and the pages are the serve
//! nodes'. Several edges share one port on a machine (`SO_REUSEPORT`), so the kernel spreads
//! connections over them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
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
use tryvoga_edge::hot::{HotAnswer, HotReads};
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
    /// Connections one client address may hold open at once; more are refused with 429 as
    /// they arrive. 0 for no limit. Default: an eighth of the open-file limit, at least 64.
    #[arg(long, value_name = "N", env = "TRYVOGA_MAX_CONNS_PER_IP")]
    max_conns_per_ip: Option<usize>,
    /// Answer every read through the router, none from the front door's per-state bytes (to
    /// compare the two).
    #[arg(long, hide = true)]
    no_hot_reads: bool,
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
        edge.conn_limit
            .set_max(tryvoga::server::conns_per_ip(args.max_conns_per_ip));
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
        let hot: Arc<dyn HotReads> = Arc::new(Hot {
            reads: Arc::clone(&reads),
            compat: Arc::clone(&compat),
            pid: std::process::id().to_string(),
            built: RwLock::new(HashMap::new()),
        });
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
        let hot = (!args.no_hot_reads).then_some(hot);
        tryvoga_edge::serve_with(listener, edge, router, hot, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok(())
    })
}

const ACTIVE: &str = "/api/v1/alerts/active";

/// The reads the front door answers itself ([`tryvoga_edge::hot`]): the active alerts without
/// a query (public on an edge), and the IoT strings over every oblast or uid when the
/// alerts.in.ua API is public here with no request budget ([`tryvoga_compat::alerts_in_ua::
/// hot_iot`] decides). Each answer's head and body are built once per state (and, for the IoT
/// strings, per `Last-Modified` second, which moves once after a change) and shared.
struct Hot {
    reads: Arc<EdgeReads>,
    compat: tryvoga_compat::Shared,
    pid: String,
    built: RwLock<HashMap<&'static str, Built>>,
}

struct Built {
    /// Held, so that pointer equality names this state and no other.
    state: Arc<tryvoga_core::State>,
    key: i64,
    answer: Arc<HotAnswer>,
}

impl Hot {
    fn lookup(
        &self,
        path: &str,
        state: &Arc<tryvoga_core::State>,
        key: i64,
    ) -> Option<Arc<HotAnswer>> {
        let built = self.built.read().ok()?;
        let b = built.get(path)?;
        (Arc::ptr_eq(&b.state, state) && b.key == key).then(|| Arc::clone(&b.answer))
    }

    fn keep(
        &self,
        path: &'static str,
        state: Arc<tryvoga_core::State>,
        key: i64,
        answer: &Arc<HotAnswer>,
    ) {
        if let Ok(mut built) = self.built.write() {
            built.insert(
                path,
                Built {
                    state,
                    key,
                    answer: Arc::clone(answer),
                },
            );
        }
    }

    fn active(&self) -> Option<Arc<HotAnswer>> {
        // While catching up the router answers 503.
        if !self.reads.replica.ready() {
            return None;
        }
        let view = self.reads.replica.view();
        if let Some(a) = self.lookup(ACTIVE, &view.state, view.last_event_ms) {
            return Some(a);
        }
        let parts = tryvoga_api::alerts::active_parts(
            &view.state,
            view.last_event_ms,
            &self.reads.read_cache,
        )
        .ok()?;
        // The headers of `active_answer` and of the edge's handler, which adds its pid.
        let common = [
            ("etag", parts.etag.as_str()),
            ("last-modified", parts.last_modified.as_str()),
            ("cache-control", "no-cache"),
            ("x-tryvoga-edge", self.pid.as_str()),
        ];
        let mut ok = vec![("content-type", "application/json")];
        ok.extend(common);
        let answer = Arc::new(HotAnswer::new(&ok, parts.body, Some(&parts.etag), &common));
        self.keep(ACTIVE, Arc::clone(&view.state), view.last_event_ms, &answer);
        Some(answer)
    }

    fn iot(&self, path: &str) -> Option<Arc<HotAnswer>> {
        let path = tryvoga_compat::alerts_in_ua::hot_iot_paths().find(|p| *p == path)?;
        let stamp = tryvoga_compat::last_modified(&self.compat);
        let state = self.compat.record.state();
        if let Some(a) = self.lookup(path, &state, stamp.header) {
            return Some(a);
        }
        let iot = tryvoga_compat::alerts_in_ua::hot_iot(&self.compat, path)?;
        let headers = [
            ("content-type", "application/json"),
            ("last-modified", iot.last_modified.as_str()),
        ];
        let answer = Arc::new(HotAnswer::new(&headers, iot.body, None, &[]));
        self.keep(path, iot.state, iot.stamp.header, &answer);
        Some(answer)
    }
}

impl HotReads for Hot {
    fn answer(&self, path: &str) -> Option<Arc<HotAnswer>> {
        if path == ACTIVE {
            self.active()
        } else {
            self.iot(path)
        }
    }
}
