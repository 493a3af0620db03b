//! The WebSocket frame reader never panics and never holds more than a frame header's worth of
//! bytes it cannot use, whatever a client sends and however the bytes are split across reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tryvoga_edge::protocol::{ClientReader, ClientSaid, Wire};

fuzz_target!(|data: &[u8]| {
    // The first byte chooses where the input is split, as reads of a socket split it.
    let Some((&split, rest)) = data.split_first() else { return };
    let split = usize::from(split).min(rest.len());
    let (a, b) = rest.split_at(split);
    let mut reader = ClientReader::new(Wire::WebSocket);
    for chunk in [a, b] {
        if reader.feed(chunk) == ClientSaid::Goodbye {
            return;
        }
    }
    assert!(reader.pending_len() <= 14 + 125, "kept {} bytes", reader.pending_len());
});
