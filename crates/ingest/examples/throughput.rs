//! Runs one reader over the shared test material a number of times and prints the bytes read,
//! so CPU time (e.g. from `perf stat -e task-clock`) gives a throughput independent of other
//! load on the machine: `throughput channel|summary|news [ITERATIONS]`.

use std::path::PathBuf;

use tryvoga_ingest::Gazetteer;
use tryvoga_ingest::channel::{Message, read_messages};
use tryvoga_ingest::news::read_news_documents;
use tryvoga_ingest::summary::read_summary;

fn shared(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    std::fs::read_to_string(p).unwrap_or_default()
}

fn messages(rel: &str) -> Vec<Message> {
    shared(rel)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Message::from_json(&v))
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_default();
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let g = Gazetteer::embedded();
    let mut bytes = 0usize;
    match which.as_str() {
        "channel" => {
            let ms = messages("data/messages/air_alert_ua_telegram_export_2022-2024.jsonl");
            for _ in 0..n {
                bytes += ms.iter().map(|m| m.text.len()).sum::<usize>();
                std::hint::black_box(read_messages(&ms, g, None));
            }
        }
        "summary" => {
            let ms = messages("data/messages/kpszsu_summaries_sample_2026.jsonl");
            for _ in 0..n {
                for m in &ms {
                    bytes += m.text.len();
                    std::hint::black_box(read_summary(&m.text, g, m.posted()));
                }
            }
        }
        "news" => {
            let a = shared("corpus/news/liveblog-2024-11-13-a.txt");
            let b = shared("corpus/news/liveblog-2024-11-13-b.txt");
            for _ in 0..n {
                bytes += a.len() + b.len();
                std::hint::black_box(read_news_documents(&[&a, &b], g));
            }
        }
        _ => {
            eprintln!("usage: throughput channel|summary|news [ITERATIONS]");
            std::process::exit(2);
        }
    }
    println!("{bytes}");
}
