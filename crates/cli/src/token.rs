//! `tryvoga token create|list|revoke`, offline on the database file or through a server.

use anyhow::{Result, anyhow};
use clap::Subcommand;
use serde_json::{Value, json};
use tryvoga_core::{RegionId, Registry, Role};
use tryvoga_store::{Access, NewToken, Store};

use crate::output::{print_json, stdout_is_terminal, table};
use crate::{Place, Target};

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Make a token; prints the secret (alone when stdout is not a terminal).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["admin", "issuer", "reader", "grid"])]
        role: String,
        /// Regions an issuer (or grid) token may act on, comma-separated ids, codes or names.
        #[arg(long, default_value = "")]
        regions: String,
        #[command(flatten)]
        target: Target,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Revoke a token by name.
    Revoke {
        name: String,
        #[command(flatten)]
        target: Target,
    },
}

fn open_shared(db: &std::path::Path) -> Result<Store> {
    Ok(Store::open(
        db,
        Registry::embedded(),
        Access::Shared,
        Box::new(|_, _| {}),
    )?)
}

fn region_list(text: &str) -> Result<Vec<RegionId>> {
    let registry = Registry::embedded();
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            registry.resolve(name).map(|r| r.id).map_err(|e| {
                let mut msg = format!("--regions: {e}");
                for c in e.candidates() {
                    msg.push_str(&format!(
                        "\n  {:>6}  {} / {} ({})",
                        c.id, c.name_uk, c.name_en, c.oblast
                    ));
                }
                anyhow!(msg)
            })
        })
        .collect()
}

pub fn run(cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create {
            name,
            role,
            regions,
            target,
        } => {
            let role: Role = role.parse()?;
            let regions = region_list(&regions)?;
            let created: Value = match target.place()? {
                Place::File(db) => {
                    let store = open_shared(&db)?;
                    let rt = crate::runtime()?;
                    let (info, secret) = rt.block_on(store.create_token(NewToken {
                        name,
                        role,
                        regions,
                    }))?;
                    let mut v = serde_json::to_value(info)?;
                    v["token"] = Value::String(secret);
                    v
                }
                Place::Server(client) => client.post(
                    "/api/v1/tokens",
                    &json!({ "name": name, "role": role.as_str(), "regions": regions }),
                    None,
                )?,
            };
            let secret = created["token"].as_str().unwrap_or_default();
            if target.json {
                print_json(&created);
            } else if stdout_is_terminal() {
                println!(
                    "Created {} token {:?}. Keep it secret; it is not shown again:",
                    created["role"].as_str().unwrap_or(""),
                    created["name"].as_str().unwrap_or("")
                );
                println!("{secret}");
            } else {
                println!("{secret}");
            }
            Ok(())
        }
        TokenCommand::List { target } => {
            let tokens: Value = match target.place()? {
                Place::File(db) => {
                    let store = open_shared(&db)?;
                    serde_json::to_value(store.queries().tokens()?)?
                }
                Place::Server(client) => client.get("/api/v1/tokens")?["tokens"].clone(),
            };
            if target.json {
                print_json(&tokens);
                return Ok(());
            }
            let registry = Registry::embedded();
            let rows: Vec<Vec<String>> = tokens
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let regions: Vec<String> = t["regions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r.as_u64())
                        .map(|id| {
                            registry
                                .get(RegionId(id as u32))
                                .map_or(id.to_string(), |r| format!("{} ({id})", r.name_uk))
                        })
                        .collect();
                    vec![
                        t["name"].as_str().unwrap_or("").to_string(),
                        t["role"].as_str().unwrap_or("").to_string(),
                        regions.join(", "),
                        if t["revoked_at"].is_null() {
                            "live"
                        } else {
                            "revoked"
                        }
                        .to_string(),
                    ]
                })
                .collect();
            table(&["NAME", "ROLE", "REGIONS", "STATE"], &rows);
            Ok(())
        }
        TokenCommand::Revoke { name, target } => {
            match target.place()? {
                Place::File(db) => {
                    let store = open_shared(&db)?;
                    let rt = crate::runtime()?;
                    if !rt.block_on(store.revoke_token(&name))? {
                        return Err(anyhow!("no live token is named {name:?}"));
                    }
                    // A server running on this file trusts a token it has checked for this
                    // long: once this command returns, no server accepts the token.
                    std::thread::sleep(tryvoga_store::TOKEN_TRUST);
                }
                Place::Server(client) => {
                    client.delete(&format!("/api/v1/tokens/{}", urlencode(&name)))?;
                }
            }
            if stdout_is_terminal() {
                println!("Revoked {name:?}.");
            }
            Ok(())
        }
    }
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
