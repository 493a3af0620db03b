//! `tryvoga alert start|end|cancel|list`, through a server or offline on the database file.

use anyhow::{Result, anyhow};
use clap::Subcommand;
use serde_json::{Value, json};
use tryvoga_core::{Actor, AlertId, AlertLevel, AlertStatus, AlertType, Command, Registry, Role};
use tryvoga_store::{Access, CommandError, Store};

use crate::offline::RecordKey;
use crate::output::{ALERT_HEADER, alert_rows, print_json, stdout_is_terminal, table};
use crate::{Place, Target};

#[derive(Subcommand)]
pub enum AlertCommand {
    /// Raise an alert; prints its id (alone when stdout is not a terminal).
    Start {
        /// The region: id, KATOTTG or ISO code, or name in Ukrainian or English.
        #[arg(long)]
        region: String,
        #[arg(long = "type", default_value = "air_raid")]
        alert_type: String,
        /// red (missiles, ballistics) or yellow (drones).
        #[arg(long)]
        level: Option<String>,
        /// actual, exercise or test.
        #[arg(long, default_value = "actual")]
        status: String,
        #[arg(long)]
        note: Option<String>,
        /// Retrying with the same key never raises the alert twice.
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        key: RecordKey,
    },
    /// End an alert normally.
    End {
        id: u64,
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        key: RecordKey,
    },
    /// Cancel an alert as a false alarm; it stays in the record, flagged.
    Cancel {
        id: u64,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        key: RecordKey,
    },
    /// List the active alerts.
    List {
        #[command(flatten)]
        target: Target,
    },
}

/// Whoever can write the database file acts with an admin's powers; the audit names them so.
fn offline_actor() -> Actor {
    Actor {
        name: "offline-cli".into(),
        role: Role::Admin,
        scope: Vec::new(),
    }
}

fn offline(
    db: &std::path::Path,
    record_key: &RecordKey,
    command: Command,
    idempotency_key: Option<String>,
) -> Result<Value> {
    let store = crate::offline::open(db, record_key)?;
    let rt = crate::runtime()?;
    let accepted = rt
        .block_on(store.command(offline_actor(), command, idempotency_key))
        .map_err(|e| match e {
            CommandError::Refused(r) => anyhow!("{}: {r}", r.code()),
            other => anyhow!(other),
        })?;
    let alert = accepted
        .event
        .body
        .alert()
        .ok_or_else(|| anyhow!("the command produced no alert"))?;
    Ok(serde_json::to_value(alert)?)
}

fn show_alert(alert: &Value, json: bool, verb: &str) {
    if json {
        print_json(alert);
    } else if stdout_is_terminal() {
        println!(
            "{verb} alert {}: {} in {} ({})",
            alert["id"],
            alert["type"].as_str().unwrap_or(""),
            alert["region"]["name_uk"].as_str().unwrap_or(""),
            alert["region"]["name_en"].as_str().unwrap_or("")
        );
    } else {
        println!("{}", alert["id"]);
    }
}

pub fn run(cmd: AlertCommand) -> Result<()> {
    match cmd {
        AlertCommand::Start {
            region,
            alert_type,
            level,
            status,
            note,
            idempotency_key,
            target,
            key,
        } => {
            let alert = match target.place()? {
                Place::Server(client) => {
                    let mut body =
                        json!({ "region": region, "type": alert_type, "status": status });
                    if let Some(l) = &level {
                        body["level"] = json!(l);
                    }
                    if let Some(n) = &note {
                        body["note"] = json!(n);
                    }
                    client.post("/api/v1/alerts", &body, idempotency_key.as_deref())?
                }
                Place::File(db) => {
                    let region = Registry::embedded().resolve(&region).map_err(|e| {
                        let names: Vec<String> = e
                            .candidates()
                            .iter()
                            .map(|c| format!("{} {} ({})", c.id, c.name_uk, c.oblast))
                            .collect();
                        anyhow!("--region: {e}; candidates: {}", names.join("; "))
                    })?;
                    let command = Command::StartAlert {
                        region: region.id,
                        alert_type: alert_type.parse::<AlertType>()?,
                        level: level.as_deref().map(str::parse::<AlertLevel>).transpose()?,
                        status: status.parse::<AlertStatus>()?,
                        note,
                    };
                    offline(&db, &key, command, idempotency_key)?
                }
            };
            show_alert(&alert, target.json, "Started");
            Ok(())
        }
        AlertCommand::End { id, target, key } => {
            let alert = match target.place()? {
                Place::Server(client) => {
                    client.post(&format!("/api/v1/alerts/{id}/end"), &json!({}), None)?
                }
                Place::File(db) => offline(&db, &key, Command::EndAlert { id: AlertId(id) }, None)?,
            };
            show_alert(&alert, target.json, "Ended");
            Ok(())
        }
        AlertCommand::Cancel {
            id,
            reason,
            target,
            key,
        } => {
            let alert = match target.place()? {
                Place::Server(client) => client.post(
                    &format!("/api/v1/alerts/{id}/cancel"),
                    &json!({ "reason": reason }),
                    None,
                )?,
                Place::File(db) => offline(
                    &db,
                    &key,
                    Command::CancelAlert {
                        id: AlertId(id),
                        reason,
                    },
                    None,
                )?,
            };
            show_alert(&alert, target.json, "Cancelled");
            Ok(())
        }
        AlertCommand::List { target } => {
            let active: Value = match target.place()? {
                Place::Server(client) => client.get("/api/v1/alerts/active")?,
                Place::File(db) => {
                    let store = Store::open(
                        &db,
                        Registry::embedded(),
                        Access::Shared,
                        Box::new(|_, _| {}),
                    )?;
                    let state = store.state();
                    let alerts: Vec<_> = state.active().collect();
                    json!({ "seq": state.last_seq(), "alerts": alerts })
                }
            };
            if target.json {
                print_json(&active);
                return Ok(());
            }
            let alerts = active["alerts"].as_array().cloned().unwrap_or_default();
            if alerts.is_empty() {
                println!("No active alerts.");
            } else {
                table(ALERT_HEADER, &alert_rows(&alerts));
            }
            Ok(())
        }
    }
}
