//! Paths to the shared test material and the temporary region lookup built from the crosswalk.
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

/// The region-id crosswalk, as a cross-check of the registry.
pub fn crosswalk() -> Gazetteer {
    Gazetteer::from_crosswalk_csv(&read_shared("data/region-ids/region_ids_crosswalk.csv"))
}
