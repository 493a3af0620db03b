//! `tryvoga region set REGION --time-to-shelter SECONDS` (or `--clear-time-to-shelter`):
//! through a server (`PUT /api/v1/regions/{region}/time-to-shelter`, an admin token) or
//! offline on the database file, as a `region.updated` event either way.

use anyhow::{Result, anyhow};
use clap::Subcommand;
use serde_json::{Value, json};
use tryvoga_core::{Actor, Command, EventBody, Registry, Role};
use tryvoga_store::CommandError;

use crate::offline::RecordKey;
use crate::output::print_json;
use crate::{Place, Target};

#[derive(Subcommand)]
pub enum RegionCommand {
    /// Set a region's time to shelter; prints the region's settings.
    Set {
        /// The region: id, KATOTTG or ISO code, or name in Ukrainian or English.
        region: String,
        /// Seconds from the start of an alert to reach shelter (0 to 3600).
        #[arg(long, conflicts_with = "clear_time_to_shelter")]
        time_to_shelter: Option<u32>,
        /// Remove the region's own time to shelter (it then takes its parent's, if any).
        #[arg(long)]
        clear_time_to_shelter: bool,
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        key: RecordKey,
    },
}

pub fn run(cmd: RegionCommand) -> Result<()> {
    let RegionCommand::Set {
        region,
        time_to_shelter,
        clear_time_to_shelter,
        target,
        key,
    } = cmd;
    if time_to_shelter.is_none() && !clear_time_to_shelter {
        return Err(anyhow!(
            "say what to set: --time-to-shelter SECONDS or --clear-time-to-shelter"
        ));
    }
    let answer: Value = match target.place()? {
        Place::Server(client) => client.put(
            &format!("/api/v1/regions/{region}/time-to-shelter"),
            &json!({ "seconds": time_to_shelter }),
        )?["region"]
            .clone(),
        Place::File(db) => {
            let region = Registry::embedded()
                .resolve(&region)
                .map_err(|e| anyhow!("region: {e}"))?;
            let store = crate::offline::open(&db, &key)?;
            let actor = Actor {
                name: "offline-cli".into(),
                role: Role::Admin,
                scope: Vec::new(),
            };
            let command = Command::SetTimeToShelter {
                region: region.id,
                seconds: time_to_shelter,
            };
            let accepted = crate::runtime()?
                .block_on(store.command(actor, command, None))
                .map_err(|e| match e {
                    CommandError::Refused(r) => anyhow!("{}: {r}", r.code()),
                    other => anyhow!(other),
                })?;
            match accepted.event.body {
                EventBody::RegionUpdated {
                    region,
                    time_to_shelter,
                } => json!({ "region": region, "time_to_shelter": time_to_shelter }),
                _ => return Err(anyhow!("the command produced another event")),
            }
        }
    };
    if target.json {
        print_json(&answer);
    } else {
        println!(
            "{} ({}): time to shelter {}",
            answer["region"]["name_uk"].as_str().unwrap_or(""),
            answer["region"]["id"],
            match answer["time_to_shelter"].as_u64() {
                Some(s) => format!("{s} s"),
                None => "not set".into(),
            }
        );
    }
    Ok(())
}
