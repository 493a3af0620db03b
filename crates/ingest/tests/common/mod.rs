//! Paths to the shared test material and the region lookup the readers use.
#![allow(dead_code)]

use std::path::PathBuf;

use tryvoga_ingest::places::Gazetteer;

/// `../shared` relative to the repository root.
pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

pub fn read_shared(rel: &str) -> String {
    let p = shared().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// The project's registry (oblasts, raions, hromadas).
pub fn gazetteer() -> &'static Gazetteer {
    Gazetteer::embedded()
}
