//! Reading throughput per reader, in bytes of input per second, on the shared test material:
//! `cargo bench -p tryvoga-ingest --bench readers`.

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tryvoga_ingest::Gazetteer;
use tryvoga_ingest::channel::{Message, read_messages, rebuild_intervals};
use tryvoga_ingest::news::read_news_documents;
use tryvoga_ingest::summary::read_summary;

fn shared(rel: &str) -> Option<String> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    std::fs::read_to_string(p).ok()
}

fn texts_of_jsonl(s: &str) -> Vec<(String, Option<chrono::DateTime<chrono::Utc>>)> {
    s.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Message::from_json(&v))
        .map(|m| {
            let at = m.posted();
            (m.text, at)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let regions = Gazetteer::embedded();
    let mut g = c.benchmark_group("readers");
    g.sample_size(10);

    if let Some(export) = shared("data/messages/air_alert_ua_telegram_export_2022-2024.jsonl") {
        // The first 5,000 messages: the channel reader over message texts.
        let messages: Vec<Message> = export
            .lines()
            .take(5_000)
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| Message::from_json(&v))
            .collect();
        let bytes: usize = messages.iter().map(|m| m.text.len()).sum();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function("channel", |b| {
            b.iter(|| read_messages(&messages, regions, None))
        });
        g.bench_function("channel_rebuild_intervals", |b| {
            b.iter(|| rebuild_intervals(&messages, regions))
        });
    }
    if let Some(s) = shared("data/messages/kpszsu_summaries_sample_2026.jsonl") {
        let texts = texts_of_jsonl(&s);
        let bytes: usize = texts.iter().map(|t| t.0.len()).sum();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function("summary", |b| {
            b.iter(|| {
                for (t, at) in &texts {
                    let _ = read_summary(t, regions, *at);
                }
            })
        });
    }
    if let (Some(a), Some(b)) = (
        shared("corpus/news/liveblog-2024-11-13-a.txt"),
        shared("corpus/news/liveblog-2024-11-13-b.txt"),
    ) {
        g.throughput(Throughput::Bytes((a.len() + b.len()) as u64));
        g.bench_function("news", |bch| {
            bch.iter(|| read_news_documents(&[&a, &b], regions))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
