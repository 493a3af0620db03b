//! Times each reader on every file given, slowest first: a tool for finding slow inputs (such as
//! those a fuzzer keeps). `cargo run --release -p tryvoga-ingest --example timing -- FILES...`

use std::time::Instant;

use tryvoga_ingest::{Gazetteer, Kind, read_text};

fn main() {
    let g = Gazetteer::embedded();
    let mut rows = Vec::new();
    for f in std::env::args().skip(1) {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for kind in [Kind::News, Kind::Summary, Kind::Channel] {
            let t = Instant::now();
            let _ = read_text(&text, kind, g);
            rows.push((t.elapsed().as_secs_f64() * 1e3, text.len(), kind, f.clone()));
        }
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (ms, len, kind, f) in rows.iter().take(10) {
        println!("{ms:8.2} ms {len:6} B {kind:?} {f}");
    }
}
