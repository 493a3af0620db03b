//! The channel reader never panics, whatever the bytes: as one message, as pasted messages, as
//! a JSON-lines export, and when rebuilding intervals.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tryvoga_ingest::channel::{Message, rebuild_intervals};
use tryvoga_ingest::{Gazetteer, Kind, read_text};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let regions = Gazetteer::embedded();
    let _ = read_text(text, Kind::Channel, regions);
    let messages: Vec<Message> = text.split("\n\n").map(Message::from_text).collect();
    let _ = rebuild_intervals(&messages, regions);
});
