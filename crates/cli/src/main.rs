//! The `tryvoga` command: serve the API, manage tokens, raise and clear alerts.

mod alert;
mod channel;
mod chart;
mod client;
mod edge;
mod import;
mod ingest;
mod migrate;
mod nights;
mod offline;
mod output;
mod outputs;
mod region;
mod replay;
mod serve;
mod stats;
mod token;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tryvoga", version, about = "Real-time civil air-raid alerts")]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Run the server: API, stream and fan-out.
    Serve(serve::ServeArgs),
    /// Manage issuer, reader and admin tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Raise, end, cancel and list alerts.
    #[command(subcommand)]
    Alert(alert::AlertCommand),
    /// Change a region's settings (its time to shelter).
    #[command(subcommand)]
    Region(region::RegionCommand),
    /// Check the signatures of a saved stream, events file, CAP message or CAP feed.
    Verify(verify::VerifyArgs),
    /// Load a published alert record as past alerts.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Read official texts into alerts, threats and attack reports; record the reports.
    #[command(subcommand)]
    Ingest(ingest::IngestCommand),
    /// A region's figures over a period: alerts, durations, time under alert.
    Stats(stats::StatsArgs),
    /// Draw the record as SVG or PNG.
    #[command(subcommand)]
    Chart(chart::ChartCommand),
    /// Copy a SQLite record into an empty PostgreSQL database, signatures intact.
    Migrate(migrate::MigrateArgs),
    /// Run a stateless edge: follow the log's NATS JetStream stream and serve the streams and
    /// the reads the state answers.
    Edge(edge::EdgeArgs),
}

/// Where a command reads or writes the record: a database file, or a running server.
#[derive(Args, Clone, Debug)]
pub struct Target {
    /// Work offline on this database file (wins over --server).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Go through this running server.
    #[arg(long, env = "TRYVOGA_SERVER")]
    pub server: Option<String>,
    /// The token to present to the server.
    #[arg(long, env = "TRYVOGA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON for machines instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub enum Place {
    File(PathBuf),
    Server(client::Client),
}

impl Target {
    pub fn place(&self) -> anyhow::Result<Place> {
        match (&self.db, &self.server) {
            (Some(db), _) => Ok(Place::File(db.clone())),
            (None, Some(url)) => Ok(Place::Server(client::Client::new(url, self.token.clone()))),
            (None, None) => Err(anyhow::anyhow!(
                "say where the record is: --db PATH, or --server URL (or TRYVOGA_SERVER)"
            )),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Top::Serve(args) => serve::run(args),
        Top::Token(cmd) => token::run(cmd),
        Top::Alert(cmd) => alert::run(cmd),
        Top::Region(cmd) => region::run(cmd),
        Top::Verify(args) => verify::run(args),
        Top::Import(cmd) => import::run(cmd),
        Top::Ingest(cmd) => ingest::run(cmd),
        Top::Stats(args) => stats::run(args),
        Top::Chart(cmd) => chart::run(cmd),
        Top::Migrate(args) => migrate::run(args),
        Top::Edge(args) => edge::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, `info` unless `RUST_LOG` says otherwise: for the long-running commands.
pub fn logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// A runtime for the commands that talk to the store directly.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
