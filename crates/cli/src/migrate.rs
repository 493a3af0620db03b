//! `tryvoga migrate --from FILE.db --to postgres://…`: moves a record from the embedded SQLite
//! file to PostgreSQL, for a city that has become a country. The copy and its check are the
//! store's; this command draws the progress and brings the signing key along, so that the
//! nodes serving the new record sign with the key its events are already signed with.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use tryvoga_outputs::signing;
use tryvoga_store::postgres::{is_url, redacted};

use crate::output::{bar, print_json};

#[derive(Args)]
pub struct MigrateArgs {
    /// The SQLite record to copy (left as it is).
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
    /// The empty PostgreSQL database to copy it into.
    #[arg(
        long,
        value_name = "URL",
        env = "TRYVOGA_MIGRATE_TO",
        hide_env_values = true
    )]
    to: String,
    /// Where the new record's signing key goes (default: where `serve --db URL` looks).
    #[arg(long, value_name = "PATH")]
    signing_key: Option<PathBuf>,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
}

pub fn run(args: MigrateArgs) -> Result<()> {
    if !is_url(&args.to) {
        bail!("--to must be a postgres:// URL, not {:?}", args.to);
    }
    let started = Instant::now();
    let progress = bar(0, "copied");
    let shown = redacted(&args.to);
    let draw = progress.clone();
    let migrated =
        tryvoga_store::migrate::sqlite_to_postgres(&args.from, &args.to, move |done, total| {
            draw.set_length(total);
            draw.set_position(done);
        })
        .with_context(|| format!("migrating {} to {shown}", args.from.display()))?;
    progress.finish_and_clear();
    let from_key = signing::key_path(&args.from);
    let to_key = args
        .signing_key
        .clone()
        .unwrap_or_else(|| signing::key_path(std::path::Path::new(&args.to)));
    let key_copied = if from_key.exists() && !to_key.exists() {
        std::fs::copy(&from_key, &to_key)
            .with_context(|| format!("copying {} to {}", from_key.display(), to_key.display()))?;
        true
    } else {
        false
    };
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        print_json(&serde_json::json!({
            "events": migrated.events,
            "rows": migrated.rows,
            "head": migrated.head,
            "digest": migrated.digest,
            "signing_key": to_key,
            "seconds": seconds,
        }));
    } else {
        println!(
            "copied {} events (to seq {}) and {} rows in all into {shown} in {seconds:.1} s; \
             payload digest {}",
            migrated.events, migrated.head, migrated.rows, migrated.digest
        );
        if key_copied {
            println!("signing key copied to {}", to_key.display());
        } else if to_key.exists() {
            println!("signing key: {}", to_key.display());
        }
    }
    Ok(())
}
