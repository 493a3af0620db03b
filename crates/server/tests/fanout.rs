//! Invariant 4: a subscriber that falls a whole ring behind is told where to resume and
//! dropped, while the publisher never waits for it and a prompt subscriber misses nothing.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use chrono::Utc;
use http_body_util::BodyExt;
use tower::ServiceExt;
use tryvoga_core::{
    Alert, AlertId, AlertStatus, AlertType, Event, EventBody, Origin, RegionId, Registry,
};
use tryvoga_server::hub::RING;

fn event(seq: u64) -> Event {
    let region = Registry::embedded()
        .get(RegionId(31))
        .expect("Kyiv")
        .to_ref();
    Event {
        seq,
        at: Utc::now(),
        issuer: Some("test".into()),
        body: EventBody::AlertStarted {
            alert: Alert {
                id: AlertId(seq),
                region,
                alert_type: AlertType::AirRaid,
                level: None,
                status: AlertStatus::Actual,
                started_at: Utc::now(),
                ended_at: None,
                cancelled: false,
                cancel_reason: None,
                note: None,
                issuer: Some("test".into()),
                seq,
                origin: Origin::Live,
            },
        },
        sig: None,
    }
}

async fn next_text(body: &mut Body) -> String {
    let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("a frame within 5 s")
        .expect("stream open")
        .expect("frame ok");
    String::from_utf8(frame.into_data().expect("data frame").to_vec()).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_a_ring_behind_is_dropped_with_a_resume_hint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = tryvoga_server::open(
        &dir.path().join("t.db"),
        Registry::embedded(),
        tryvoga_server::Options::default(),
    )
    .expect("open");
    let router = tryvoga_server::api::router(app.clone());
    let request = || {
        Request::get("/api/v1/stream")
            .body(Body::empty())
            .expect("request")
    };
    let mut slow = router.clone().oneshot(request()).await.expect("response").into_body();
    let mut prompt = router.oneshot(request()).await.expect("response").into_body();
    assert!(next_text(&mut slow).await.starts_with("retry:"));
    assert!(next_text(&mut prompt).await.starts_with("retry:"));

    // The prompt subscriber reads as events arrive; the slow one reads nothing meanwhile.
    let total = RING as u64 + 100;
    let publisher = std::thread::spawn({
        let hub = app.hub.clone();
        move || {
            let started = std::time::Instant::now();
            for seq in 1..=total {
                hub.publish(&[event(seq)]);
                if seq % 512 == 0 {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            started.elapsed()
        }
    });
    let mut received = 0u64;
    let mut last = 0u64;
    while received < total {
        let text = next_text(&mut prompt).await;
        for block in text.split("\n\n").filter(|b| b.starts_with("id: ")) {
            let id: u64 = block[4..block.find('\n').expect("line")].parse().expect("seq");
            assert_eq!(id, last + 1, "the prompt subscriber sees every event in order");
            last = id;
            received += 1;
        }
    }
    let publish_time = publisher.join().expect("publisher");
    assert!(publish_time < Duration::from_secs(5), "the publisher never waited");

    let text = next_text(&mut slow).await;
    assert!(text.contains("event: dropped"), "{text}");
    assert!(text.contains("\"resume_after\":0"), "{text}");
    assert!(slow.frame().await.is_none(), "the slow subscriber's stream ends");
    assert_eq!(
        app.hub.dropped.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}
