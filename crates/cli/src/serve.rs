//! `tryvoga serve`: opens the record, makes the first admin token on a new database, and
//! serves until interrupted.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use tryvoga_bus::EventSource;
use tryvoga_core::{Registry, Role};
use tryvoga_store::{NewToken, StoreError};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "TRYVOGA_LISTEN")]
    listen: SocketAddr,
    /// The database file, created if missing; or a PostgreSQL URL (`postgres://…`), which any
    /// number of nodes may serve at once.
    #[arg(long, default_value = "./tryvoga.db", env = "TRYVOGA_DB")]
    db: PathBuf,
    /// Require a token for reads too.
    #[arg(long)]
    private_reads: bool,
    #[command(flatten)]
    outputs: crate::outputs::OutputArgs,
    #[command(flatten)]
    replay: crate::replay::ReplayArgs,
    /// Serve a compatibility API without tokens: alerts-in-ua, ukrainealarm or all
    /// (repeatable). Otherwise its clients send a Tryvoga token.
    #[arg(long, value_name = "API", value_parser = ["alerts-in-ua", "ukrainealarm", "all"])]
    compat_public: Vec<String>,
    /// Requests a minute each client (token or address) may make to the compatibility APIs;
    /// 0 for no limit.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        env = "TRYVOGA_COMPAT_RATE_LIMIT"
    )]
    compat_rate_limit: u32,
    /// Threads that write to stream subscribers, apart from those serving requests, so that an
    /// issuer's command is answered while an event goes out to every subscriber; 0 for two per
    /// core.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        env = "TRYVOGA_FANOUT_THREADS"
    )]
    fanout_threads: usize,
    /// Connections one client address may hold open at once; more are refused with 429 as
    /// they arrive. 0 for no limit. Default: an eighth of the open-file limit, at least 64.
    #[arg(long, value_name = "N", env = "TRYVOGA_MAX_CONNS_PER_IP")]
    max_conns_per_ip: Option<usize>,
    /// Relay every committed event to this NATS server's JetStream stream, for edges
    /// (`tryvoga edge`) to follow: e.g. nats://127.0.0.1:4222. Every node of a record may
    /// relay; the stream takes each event once, in order.
    #[arg(long, value_name = "URL", env = "TRYVOGA_NATS")]
    nats: Option<String>,
    /// The stream's name.
    #[arg(long, default_value = tryvoga_bus::nats::DEFAULT_STREAM, env = "TRYVOGA_NATS_STREAM")]
    nats_stream: String,
}

pub fn run(args: ServeArgs) -> Result<()> {
    crate::logging();
    let rt = crate::runtime()?;
    rt.block_on(async move {
        let registry = Registry::embedded();
        let outputs = args.outputs.options(registry)?;
        let app = tryvoga::server::open_with(
            &args.db,
            registry,
            tryvoga::server::Options {
                public_reads: !args.private_reads,
                compat: tryvoga_compat::CompatOptions {
                    public_alerts_in_ua: public_api(&args.compat_public, "alerts-in-ua"),
                    public_ukrainealarm: public_api(&args.compat_public, "ukrainealarm"),
                    rate_limit_per_minute: args.compat_rate_limit,
                },
                fanout_threads: args.fanout_threads,
                max_conns_per_ip: tryvoga::server::conns_per_ip(args.max_conns_per_ip),
            },
            outputs,
        )
        .with_context(|| format!("opening {}", shown(&args.db)))?;
        let listener = tryvoga::server::bind(args.listen, false)
            .with_context(|| format!("listening on {}", args.listen))?;
        crate::replay::start(&args.replay, &app.store)?;
        if let Some(url) = &args.nats {
            let config = tryvoga_bus::nats::NatsConfig::new(url, &args.nats_stream);
            let relay = tryvoga_bus::nats::Relay::new(config, app.source.clone());
            tracing::info!(nats = %url, stream = %args.nats_stream, "relaying the log to JetStream");
            tokio::spawn(relay.run());
        }
        // The first admin token is made only now, when nothing is left that could stop this
        // start (the port is ours): a start that failed must not have shown, and used up, the
        // one token the operator gets.
        let tokens = app.store.queries().token_count()?;
        if tokens == 0 {
            let made = app
                .store
                .create_token(NewToken {
                    name: "admin".into(),
                    role: Role::Admin,
                    regions: Vec::new(),
                })
                .await;
            match made {
                Ok((_, secret)) => {
                    // Printed once, on the first run only: the database keeps just its hash.
                    println!("First run: created the admin token (shown only this once):");
                    println!("admin token: {secret}");
                }
                // Another node of the same record started at the same moment and made it.
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let addr = listener.local_addr()?;
        tracing::info!(
            db = %shown(&args.db),
            regions = registry.len(),
            seq = app.source.head(),
            "serving on http://{addr}"
        );
        println!("serving on http://{addr}");
        tryvoga::server::serve(listener, app, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok(())
    })
}

pub fn public_api(chosen: &[String], api: &str) -> bool {
    chosen.iter().any(|c| c == api || c == "all")
}

/// The record's location as logs show it: a PostgreSQL URL without its password.
pub fn shown(db: &std::path::Path) -> String {
    tryvoga_store::redacted_url(&db.display().to_string())
}
