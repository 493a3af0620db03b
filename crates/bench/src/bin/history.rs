//! `history-bench`: the historical record's two costs that users wait for.
//!
//! - `import`: reading and importing the whole official record (43,031 rows) into a fresh
//!   database, as `tryvoga import sirens` does, several times; min / median / max.
//! - `query`: a one-year history query for one region, over and over on the imported record:
//!   through the store (the query as the API runs it) and through HTTP against the server
//!   in this process; p50 / p90 / p99 / max.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use tryvoga_core::Registry;
use tryvoga_store::HistoryQuery;
use tryvoga_store::{Access, Store};

#[derive(Parser)]
#[command(
    name = "history-bench",
    about = "Import time and history query latency"
)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Time the import of the official record into a fresh database.
    Import {
        /// The CSV (default: the shared official_data_en.csv).
        #[arg(long)]
        csv: Option<PathBuf>,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Latency of a one-year history query for one region.
    Query {
        #[arg(long)]
        csv: Option<PathBuf>,
        /// The region: id, code or name.
        #[arg(long, default_value = "Kyiv City")]
        region: String,
        #[arg(long, default_value = "2023-01-01T00:00:00Z")]
        from: String,
        #[arg(long, default_value = "2024-01-01T00:00:00Z")]
        to: String,
        /// Alerts per page: 1000 returns a whole year of Kyiv in one page.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[arg(long, default_value_t = 2000)]
        iterations: usize,
    },
}

fn default_csv() -> PathBuf {
    std::env::var_os("TRYVOGA_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("data/vadimkin-air-raid-sirens/official_data_en.csv")
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Top::Import { csv, runs } => import(csv.unwrap_or_else(default_csv), runs),
        Top::Query {
            csv,
            region,
            from,
            to,
            limit,
            iterations,
        } => query(
            csv.unwrap_or_else(default_csv),
            &region,
            parse(&from)?,
            parse(&to)?,
            limit,
            iterations,
        ),
    }
}

fn parse(t: &str) -> Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(t)
        .with_context(|| format!("{t:?} is not an RFC 3339 time"))?
        .with_timezone(&Utc))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Reads and imports `csv` into a new database at `db`; returns the rows imported.
fn load(
    rt: &tokio::runtime::Runtime,
    csv: &std::path::Path,
    db: &std::path::Path,
) -> Result<usize> {
    let data = tryvoga_history::read_sirens(csv, Registry::embedded(), &mut |_| {})?;
    let store = Store::open(
        db,
        Registry::embedded(),
        Access::Exclusive,
        Box::new(|_, _| {}),
    )?;
    let summary = rt.block_on(tryvoga_history::import(&store, &data, &mut |_| {}))?;
    if !summary.skipped.is_empty() {
        return Err(anyhow!("{} rows were skipped", summary.skipped.len()));
    }
    Ok(summary.imported)
}

fn import(csv: PathBuf, runs: usize) -> Result<()> {
    let rt = runtime()?;
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..runs.max(1) {
        let dir = tempfile::tempdir()?;
        let t = Instant::now();
        rows = load(&rt, &csv, &dir.path().join("bench.db"))?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "import {} ({rows} rows), {} runs: min {:.3} s, median {:.3} s, max {:.3} s",
        csv.display(),
        times.len(),
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
    Ok(())
}

/// p50 / p90 / p99 / max of microsecond samples, in milliseconds.
fn percentiles(mut us: Vec<u64>) -> String {
    us.sort_unstable();
    let at = |p: f64| us[((us.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0;
    format!(
        "p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}

fn query(
    csv: PathBuf,
    region: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: usize,
    iterations: usize,
) -> Result<()> {
    let rt = runtime()?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.db");
    load(&rt, &csv, &db)?;
    let region = Registry::embedded()
        .resolve(region)
        .map_err(|e| anyhow!("--region: {e}"))?;

    // Through the store, on its pool of read connections, as a handler runs it.
    let store = Store::open(
        &db,
        Registry::embedded(),
        Access::Shared,
        Box::new(|_, _| {}),
    )?;
    let q = HistoryQuery {
        regions: Some(vec![region.id]),
        types: None,
        status: None,
        from: Some(from),
        to: Some(to),
        after: None,
        limit,
    };
    let mut returned = 0;
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations.max(1) {
        let t = Instant::now();
        let (alerts, _) = store.queries().history(&q)?;
        samples.push(t.elapsed().as_micros() as u64);
        returned = alerts.len();
    }
    println!(
        "store: one-year history of {} ({returned} alerts, limit {limit}), {} queries: {}",
        region.name_en,
        samples.len(),
        percentiles(samples)
    );
    drop(store);

    // Through HTTP: the server in this process, a keep-alive client, JSON decoded.
    let app = rt.block_on(async {
        tryvoga::server::open(
            &db,
            Registry::embedded(),
            tryvoga::server::Options::default(),
        )
    })?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    rt.spawn(tryvoga::server::serve(
        listener,
        app,
        std::future::pending(),
    ));
    let url = format!(
        "http://{addr}/api/v1/alerts?region={}&from={}&to={}&limit={limit}",
        region.id,
        from.to_rfc3339().replace('+', "%2B"),
        to.to_rfc3339().replace('+', "%2B")
    );
    let agent = ureq::AgentBuilder::new().build();
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations.max(1) {
        let t = Instant::now();
        let body: serde_json::Value = agent.get(&url).call()?.into_json()?;
        samples.push(t.elapsed().as_micros() as u64);
        returned = body["alerts"].as_array().map_or(0, Vec::len);
    }
    println!(
        "http:  GET /api/v1/alerts one year of {} ({returned} alerts), {} requests: {}",
        region.name_en,
        samples.len(),
        percentiles(samples)
    );
    Ok(())
}
