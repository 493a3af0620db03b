//! `tryvoga chart nights --out FILE.svg|png`: weapons launched against destroyed per night, from
//! the attack reports in the database file, or as the server draws it
//! (`GET /api/v1/charts/nights.svg`).

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use tryvoga_api::reports::nights_chart;
use tryvoga_charts::Format;

use crate::stats::{open_shared, period};
use crate::{Place, Target};

#[derive(Args)]
pub struct NightsArgs {
    /// Where to write the chart: a .svg or .png file.
    #[arg(long)]
    out: PathBuf,
    /// Start of the period (YYYY-MM-DD, midnight UTC, or RFC 3339); a year before --to by default.
    #[arg(long)]
    from: Option<String>,
    /// End of the period, excluded; now by default.
    #[arg(long)]
    to: Option<String>,
    #[command(flatten)]
    target: Target,
}

pub fn run(args: NightsArgs) -> Result<()> {
    let format = Format::from_path(&args.out)
        .ok_or_else(|| anyhow!("--out {}: name a .svg or a .png file", args.out.display()))?;
    let (from, to) = period(args.from.as_deref(), args.to.as_deref())?;
    let bytes = match args.target.place()? {
        Place::File(db) => {
            let store = open_shared(&db)?;
            let nights = store.queries().nights(from, to)?;
            tryvoga_charts::render(&nights_chart(&nights, from, to), format)?
        }
        Place::Server(client) => {
            if format != Format::Svg {
                return Err(anyhow!(
                    "the server serves charts as SVG; name a .svg file, or draw a PNG from the \
                     database with --db"
                ));
            }
            client.get_bytes(&format!(
                "/api/v1/charts/nights.svg?from={}&to={}",
                from.format("%Y-%m-%dT%H:%M:%SZ"),
                to.format("%Y-%m-%dT%H:%M:%SZ")
            ))?
        }
    };
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    if args.target.json {
        crate::output::print_json(&serde_json::json!({
            "file": args.out.display().to_string(),
            "bytes": bytes.len(),
        }));
    } else {
        println!("{}", args.out.display());
    }
    Ok(())
}
