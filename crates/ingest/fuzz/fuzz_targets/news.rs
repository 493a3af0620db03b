//! The news reader never panics, whatever the bytes: alone and as two captures read together.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tryvoga_ingest::news::{read_news, read_news_documents};
use tryvoga_ingest::{Gazetteer, Kind, read_text};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let regions = Gazetteer::embedded();
    let _ = read_news(text, regions);
    let mut mid = text.len() / 2;
    while !text.is_char_boundary(mid) {
        mid -= 1;
    }
    let (a, b) = text.split_at(mid);
    let _ = read_news_documents(&[a, b], regions);
    let _ = read_text(text, Kind::Auto, regions);
});
