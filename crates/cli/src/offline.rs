//! Writing the record with no server (`--db`): which key signs the events such a command
//! appends. A server signs every event it appends; a command that writes the database file
//! itself must sign with the same key, or every reader's `tryvoga verify` fails on its events.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;
use tryvoga_core::Registry;
use tryvoga_store::{Store, StoreError};

/// The record's event signing key, for commands that append events to the database file.
#[derive(Args, Clone, Debug, Default)]
pub struct RecordKey {
    /// With a database file: the record's event signing key, if `serve` is given one with
    /// --signing-key (default: beside the database, made there if missing, as `serve` does).
    #[arg(
        id = "signing_key",
        long = "signing-key",
        value_name = "PATH",
        env = "TRYVOGA_SIGNING_KEY"
    )]
    pub path: Option<PathBuf>,
}

/// The store at `db`, held by this process alone, signing every event it appends.
pub fn open(db: &Path, key: &RecordKey) -> Result<Store, StoreError> {
    tryvoga::server::open_offline(db, Registry::embedded(), key.path.as_deref())
}

/// As [`open`], for an import: a database a server holds is refused with what to do about it.
pub fn open_for_import(db: &Path, key: &RecordKey) -> anyhow::Result<Store> {
    open(db, key).map_err(|e| match e {
        StoreError::Busy(path) => anyhow!(
            "{} is in use by a running server; stop it first: an import writes the \
             database file directly",
            path.display()
        ),
        other => anyhow!(other).context(format!("opening {}", db.display())),
    })
}
