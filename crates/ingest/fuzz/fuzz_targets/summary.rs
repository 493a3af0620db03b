//! The Air Force summary reader never panics, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tryvoga_ingest::summary::read_summary;
use tryvoga_ingest::{Gazetteer, Kind, read_text};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let regions = Gazetteer::embedded();
    // A fixed reference time, so the period's date arithmetic runs too.
    let reference = chrono::DateTime::from_timestamp(1_788_000_000, 0);
    let _ = read_summary(text, regions, reference);
    let _ = read_text(text, Kind::Summary, regions);
});
