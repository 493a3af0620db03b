//! `tryvoga serve --replay <CSV> --speed N [--from D]`: plays a published alert record as live
//! events while the server runs, each alert marked with origin `replay`. For demonstrations
//! and load tests; the replayed alerts join the database, so use a scratch one.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::Args;
use tryvoga_core::Registry;
use tryvoga_history::read_sirens;
use tryvoga_store::Store;

#[derive(Args, Debug, Clone)]
pub struct ReplayArgs {
    /// Replay this siren record (Vadimkin's official or volunteer CSV) as live events.
    #[arg(long, value_name = "CSV")]
    replay: Option<PathBuf>,
    /// How many times faster than it happened: 3600 plays an hour a second.
    #[arg(long, default_value_t = 3600.0, requires = "replay")]
    speed: f64,
    /// Start the replay at this moment of the record (YYYY-MM-DD or RFC 3339, UTC); alerts
    /// already on then start at once.
    #[arg(long, value_name = "WHEN", requires = "replay")]
    from: Option<String>,
}

/// Starts the replay in the background, if one was asked for. Must be called inside the
/// server's runtime.
pub fn start(args: &ReplayArgs, store: &Store) -> Result<()> {
    let Some(file) = &args.replay else {
        return Ok(());
    };
    if !(args.speed.is_finite() && args.speed > 0.0) {
        return Err(anyhow!(
            "--speed must be a positive number, not {}",
            args.speed
        ));
    }
    let from = args
        .from
        .as_deref()
        .map(|f| crate::stats::parse_time("--from", f))
        .transpose()?;
    let data = read_sirens(file, Registry::embedded(), &mut |_| {})?;
    for skip in &data.skipped {
        tracing::warn!(file = %data.file, line = skip.line, reason = %skip.reason, "row not replayed");
    }
    tracing::info!(
        file = %data.file,
        alerts = data.rows.len(),
        speed = args.speed,
        "replaying"
    );
    let store = store.clone();
    let speed = args.speed;
    tokio::spawn(async move {
        tryvoga_history::replay::run(store, data.rows, speed, from).await;
    });
    Ok(())
}
