//! Invariant 4 on real sockets: a subscriber that stops reading is cut loose before the ring
//! laps it, having received a contiguous prefix, while the publisher never waits and a prompt
//! subscriber receives every event in order.

mod inproc;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use tryvoga_core::{
    Alert, AlertId, AlertStatus, AlertType, Event, EventBody, Origin, RegionId, Registry,
};
use tryvoga_edge::hub::RING;

fn event(seq: u64) -> Event {
    let region = Registry::embedded()
        .get(RegionId(31))
        .expect("Kyiv")
        .to_ref();
    Event {
        seq,
        at: Utc::now(),
        issuer: Some("test".into()),
        sig: None,
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
                // Large events fill a stalled socket's buffers sooner.
                note: Some("x".repeat(1000)),
                issuer: Some("test".into()),
                seq,
                origin: Origin::Live,
            },
        },
    }
}

/// Opens a stream and returns the reader positioned after the response head and hello.
fn open_stream(addr: std::net::SocketAddr, small_buffer: bool) -> BufReader<TcpStream> {
    open_stream_at(addr, small_buffer, "/api/v1/stream")
}

fn open_stream_at(
    addr: std::net::SocketAddr,
    small_buffer: bool,
    path: &str,
) -> BufReader<TcpStream> {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    if small_buffer {
        socket.set_recv_buffer_size(4096).expect("rcvbuf");
    }
    socket.connect(&addr.into()).expect("connect");
    let mut stream: TcpStream = socket.into();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .expect("request");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    // Head, blank line, then the hello block (retry line, comment, blank line).
    let mut blank_lines = 0;
    while blank_lines < 2 {
        line.clear();
        reader.read_line(&mut line).expect("read head");
        if line.trim().is_empty() {
            blank_lines += 1;
        }
    }
    reader
}

/// Reads `id:` lines until the stream ends or `until` is reached.
fn read_ids(reader: &mut BufReader<TcpStream>, until: u64, progress: &AtomicU64) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return ids,
            Ok(_) => {}
        }
        // A subscriber cut loose may be cut in the middle of a frame: a line without its end
        // is not a line (an SSE client dispatches only complete events).
        if !line.ends_with('\n') {
            return ids;
        }
        if let Some(id) = line.strip_prefix("id: ") {
            let id: u64 = id.trim().parse().expect("numeric id");
            ids.push(id);
            progress.store(id, Ordering::Release);
            if id >= until {
                return ids;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_is_cut_loose_and_nobody_waits_for_it() {
    let (_dir, app, addr) = inproc::serve(tryvoga::server::Options::default()).await;

    let total = 2 * RING as u64;
    let prompt_progress = Arc::new(AtomicU64::new(0));
    let (ids_prompt, ids_slow, publish_time) = tokio::task::spawn_blocking({
        let app = app.clone();
        let progress = prompt_progress.clone();
        move || {
            let mut prompt = open_stream(addr, false);
            let mut slow = open_stream(addr, true);
            let reader = std::thread::spawn({
                let progress = progress.clone();
                move || read_ids(&mut prompt, total, &progress)
            });
            std::thread::sleep(Duration::from_millis(200));
            let started = Instant::now();
            for seq in 1..=total {
                app.hub.publish(&[event(seq)]);
                // Keep the prompt subscriber within the ring: it is prompt, not infinitely fast.
                while seq > progress.load(Ordering::Acquire) + RING as u64 / 2 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            let publish_time = started.elapsed();
            let ids_prompt = reader.join().expect("prompt reader");
            let ids_slow = read_ids(&mut slow, total, &AtomicU64::new(0));
            (ids_prompt, ids_slow, publish_time)
        }
    })
    .await
    .expect("clients");

    assert_eq!(
        ids_prompt,
        (1..=total).collect::<Vec<u64>>(),
        "every event, in order"
    );
    assert!(publish_time < Duration::from_secs(20), "{publish_time:?}");
    assert!(
        !ids_slow.is_empty() && (ids_slow.len() as u64) < total,
        "{}",
        ids_slow.len()
    );
    assert_eq!(
        ids_slow,
        (1..=ids_slow.len() as u64).collect::<Vec<u64>>(),
        "the stalled subscriber got a contiguous prefix before it was cut loose"
    );
    assert_eq!(app.hub.dropped.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_that_fall_behind_catch_up_in_order_on_every_fanout_thread() {
    let (_dir, app, addr) = inproc::serve(tryvoga::server::Options {
        fanout_threads: 3,
        ..Default::default()
    })
    .await;

    // Far more than the socket buffers hold (1 KB each), well inside the ring: a paused
    // reader's frames pile up, go out in batches that the socket takes only in part, and must
    // still arrive whole and in order.
    let total = RING as u64 / 4;
    let ids = tokio::task::spawn_blocking({
        let app = app.clone();
        move || {
            // Six subscribers, two on each of the three fan-out threads.
            let mut streams: Vec<_> = (0..6).map(|_| open_stream(addr, true)).collect();
            std::thread::sleep(Duration::from_millis(200));
            for seq in 1..=total {
                app.hub.publish(&[event(seq)]);
            }
            // Nobody has read a byte so far.
            std::thread::sleep(Duration::from_millis(500));
            let readers: Vec<_> = streams
                .drain(..)
                .map(|mut s| {
                    std::thread::spawn(move || read_ids(&mut s, total, &AtomicU64::new(0)))
                })
                .collect();
            readers
                .into_iter()
                .map(|r| r.join().expect("reader"))
                .collect::<Vec<_>>()
        }
    })
    .await
    .expect("clients");

    assert_eq!(app.hub.rings(), 3);
    for got in ids {
        assert_eq!(
            got,
            (1..=total).collect::<Vec<u64>>(),
            "every event, in order"
        );
    }
    assert_eq!(
        app.hub.dropped.load(Ordering::Relaxed),
        0,
        "nobody was dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_resuming_past_the_end_of_the_log_gets_what_comes_next() {
    let (_dir, app, addr) = inproc::serve(tryvoga::server::Options::default()).await;
    let ids = tokio::task::spawn_blocking({
        let app = app.clone();
        move || {
            // An id from a database that has since been replaced: far beyond this log.
            let mut stream = open_stream_at(addr, false, "/api/v1/stream?after=5000");
            std::thread::sleep(Duration::from_millis(200));
            app.hub.publish(&[event(1)]);
            app.hub.publish(&[event(2)]);
            read_ids(&mut stream, 2, &AtomicU64::new(0))
        }
    })
    .await
    .expect("client");
    assert_eq!(ids, vec![1, 2], "not passed over as if already sent");
}
