//! `tryvoga chart monthly|heatmap|oblasts --out FILE`: the charts of the record as SVG or PNG
//! (by the file's extension), drawn here from the database file, or fetched from a running
//! server, which serves them as SVG.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use chrono::Utc;
use clap::{Args, Subcommand};
use tryvoga_charts::Format;
use tryvoga_core::{AlertType, Registry};
use tryvoga_history::figures;

use crate::stats::{encode, open_shared, period, query, resolve};
use crate::{Place, Target};

#[derive(Subcommand)]
pub enum ChartCommand {
    /// Hours under alert per month for a region.
    Monthly {
        #[arg(long)]
        region: String,
        #[command(flatten)]
        common: Common,
    },
    /// Alert starts by hour of day and weekday (Kyiv time), for a region or the whole country.
    Heatmap {
        #[arg(long)]
        region: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Oblasts ranked by hours under alert.
    Oblasts {
        #[command(flatten)]
        common: Common,
    },
    /// Weapons launched and destroyed per night, from the attack reports.
    Nights(crate::nights::NightsArgs),
}

#[derive(Args)]
pub struct Common {
    /// Where to write the chart: a .svg or .png file.
    #[arg(long)]
    out: PathBuf,
    /// Start of the period (YYYY-MM-DD, midnight UTC, or RFC 3339); a year before --to by default.
    #[arg(long)]
    from: Option<String>,
    /// End of the period, excluded; now by default.
    #[arg(long)]
    to: Option<String>,
    /// Only alerts of this type.
    #[arg(long = "type")]
    alert_type: Option<String>,
    #[command(flatten)]
    target: Target,
}

pub fn run(cmd: ChartCommand) -> Result<()> {
    let cmd = match cmd {
        ChartCommand::Nights(args) => return crate::nights::run(args),
        other => other,
    };
    // Nights went their own way above; the arms below only satisfy the match.
    let (common, region) = match &cmd {
        ChartCommand::Nights(_) => return Err(anyhow!("nights are drawn by chart nights")),
        ChartCommand::Monthly { region, common } => (common, Some(region.as_str())),
        ChartCommand::Heatmap { region, common } => (common, region.as_deref()),
        ChartCommand::Oblasts { common } => (common, None),
    };
    let format = Format::from_path(&common.out)
        .ok_or_else(|| anyhow!("--out {}: name a .svg or a .png file", common.out.display()))?;
    let (from, to) = period(common.from.as_deref(), common.to.as_deref())?;
    let alert_type = common
        .alert_type
        .as_deref()
        .map(str::parse::<AlertType>)
        .transpose()?;
    let bytes = match common.target.place()? {
        Place::File(db) => {
            let region = region.map(resolve).transpose()?;
            let store = open_shared(&db)?;
            let registry = Registry::embedded();
            let now = Utc::now();
            let read = |c: &dyn tryvoga_store::Queries| -> Result<_, tryvoga_store::StoreError> {
                Ok(match &cmd {
                    ChartCommand::Nights(_) => {
                        return Err(tryvoga_store::StoreError::Invalid(
                            "nights are drawn by chart nights".into(),
                        ));
                    }
                    ChartCommand::Monthly { .. } => {
                        let region = region.ok_or_else(|| {
                            tryvoga_store::StoreError::Invalid("--region is needed".into())
                        })?;
                        let s =
                            figures::region_stats(c, registry, region, alert_type, from, to, now)?;
                        figures::monthly_chart(&s)
                    }
                    ChartCommand::Heatmap { .. } => {
                        let counts = figures::starts_heatmap(
                            c, registry, region, alert_type, from, to, now,
                        )?;
                        figures::heatmap_chart(region, counts, from, to)
                    }
                    ChartCommand::Oblasts { .. } => {
                        let ranking =
                            figures::oblast_ranking(c, registry, alert_type, from, to, now)?;
                        figures::ranking_chart(&ranking, from, to)
                    }
                })
            };
            let chart = read(store.queries().as_ref())?;
            tryvoga_charts::render(&chart, format)?
        }
        Place::Server(client) => {
            if format != Format::Svg {
                return Err(anyhow!(
                    "the server serves charts as SVG; name a .svg file, or draw a PNG from the \
                     database with --db"
                ));
            }
            let q = query(from, to, alert_type);
            let path = match (&cmd, region) {
                (ChartCommand::Monthly { .. }, Some(r)) => {
                    format!("/api/v1/regions/{}/charts/monthly.svg?{q}", encode(r))
                }
                (ChartCommand::Heatmap { .. }, Some(r)) => {
                    format!("/api/v1/charts/heatmap.svg?region={}&{q}", encode(r))
                }
                (ChartCommand::Heatmap { .. }, None) => format!("/api/v1/charts/heatmap.svg?{q}"),
                _ => format!("/api/v1/charts/oblasts.svg?{q}"),
            };
            client.get_bytes(&path)?
        }
    };
    std::fs::write(&common.out, &bytes)
        .with_context(|| format!("writing {}", common.out.display()))?;
    if common.target.json {
        crate::output::print_json(&serde_json::json!({
            "file": common.out.display().to_string(),
            "bytes": bytes.len(),
        }));
    } else {
        println!("{}", common.out.display());
    }
    Ok(())
}
