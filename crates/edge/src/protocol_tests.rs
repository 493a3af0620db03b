//! Unit tests of the stream protocol: how a cursor gathers frames off its ring, and how the
//! client's WebSocket frames are read.

use super::*;

fn frame(seq: u64) -> Arc<Frame> {
    Arc::new(Frame::new(
        seq,
        "alert.started",
        Some(RegionId(14)),
        None,
        "{}",
    ))
}

fn cursor(position: u64) -> (broadcast::Sender<Arc<Frame>>, Cursor) {
    let (tx, rx) = broadcast::channel(8);
    let cursor = Cursor {
        rx,
        filter: Filter::default(),
        position,
        grant: crate::gate::Grant::lasting(),
    };
    (tx, cursor)
}

fn seqs(batch: &Batch) -> Vec<u64> {
    batch.frames().iter().map(|f| f.seq).collect()
}

#[test]
fn a_subscriber_that_keeps_up_gets_one_frame_and_follows() {
    let (_tx, mut c) = cursor(4);
    let (batch, then) = c.gather(Ok(frame(5)));
    assert!(matches!(batch, Batch::One(_)));
    assert_eq!(then, Then::Follow);
    assert_eq!(c.position, 5);
}

#[test]
fn everything_waiting_goes_in_one_batch_and_what_was_sent_is_skipped() {
    let (tx, mut c) = cursor(4);
    for seq in [4, 6, 7] {
        tx.send(frame(seq)).unwrap();
    }
    let (batch, then) = c.gather(Ok(frame(5)));
    assert_eq!(seqs(&batch), [5, 6, 7]);
    assert_eq!(then, Then::Follow);
    assert_eq!(c.position, 7);
}

#[test]
fn a_gap_sends_the_subscriber_to_the_log_and_heartbeats_pass_through() {
    let (tx, mut c) = cursor(4);
    tx.send(Arc::new(Frame::heartbeat())).unwrap();
    tx.send(frame(7)).unwrap();
    let (batch, then) = c.gather(Ok(frame(5)));
    assert_eq!(seqs(&batch), [5, 0]);
    assert_eq!(then, Then::CatchUp);
    assert_eq!(c.position, 5, "the missing 6 is read from the log, then 7");
}

#[test]
fn imported_history_moves_the_position_without_a_write() {
    let (_tx, mut c) = cursor(4);
    let (batch, then) = c.gather(Ok(Arc::new(Frame::history_run(5, 900))));
    assert!(batch.is_empty());
    assert_eq!(then, Then::Follow);
    assert_eq!(c.position, 900);
}

#[test]
fn filtered_frames_advance_the_position_but_are_not_sent() {
    let (_tx, mut c) = cursor(4);
    c.filter = Filter::new(Registry::embedded(), Some(vec![RegionId(31)]), None);
    let (batch, then) = c.gather(Ok(frame(5)));
    assert!(batch.is_empty());
    assert_eq!((then, c.position), (Then::Follow, 5));
}

#[test]
fn a_full_batch_stops_at_its_size_and_a_lapped_ring_is_lagged() {
    let (tx, mut c) = cursor(0);
    let mut rx = tx.subscribe();
    for seq in 2..=(BATCH as u64 + 1) {
        let _ = tx.send(frame(seq));
        let _ = rx.try_recv();
    }
    // The ring holds 8: everything before the last 8 was lost to this cursor.
    let (batch, then) = c.gather(Ok(frame(1)));
    assert_eq!(seqs(&batch), [1]);
    assert_eq!(then, Then::Lagged);
    assert_eq!(
        c.gather(Err(RecvError::Closed)).1,
        Then::Closed,
        "a hub that is gone ends the subscriber"
    );
}

#[test]
fn notices_are_json_with_the_position_to_resume_from() {
    let dropped = Wire::Sse.dropped(42);
    assert_eq!(
        &dropped[..],
        b"event: dropped\ndata: {\"kind\":\"dropped\",\"reason\":\"too slow\",\"resume_after\":42}\n\n"
    );
    let failed = Wire::Sse.failed(7, "disk \"gone\"\n");
    let data = std::str::from_utf8(&failed).unwrap();
    let json = data
        .strip_prefix("event: error\ndata: ")
        .and_then(|d| d.strip_suffix("\n\n"))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
    assert_eq!(v["kind"], "error");
    assert_eq!(v["resume_after"], 7);
    assert_eq!(v["message"], "disk \"gone\"\n");
}

#[test]
fn the_header_position_wins_and_a_position_beyond_the_log_follows_from_now() {
    let q = StreamQuery::parse("after=3").unwrap();
    assert_eq!(q.position(Some("9"), 100).unwrap(), 9);
    assert_eq!(q.position(None, 100).unwrap(), 3);
    assert_eq!(q.position(Some("500"), 100).unwrap(), 100);
    assert!(q.position(Some("x"), 100).is_err());
    assert!(StreamQuery::parse("nonsense=1").is_err());
}

/// A client frame: FIN, `opcode`, masked with `mask`.
fn client_frame(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

#[test]
fn a_ping_split_across_reads_is_answered_with_its_payload() {
    let mut r = ClientReader::new(Wire::WebSocket);
    let ping = client_frame(0x9, b"hello", [1, 2, 3, 4]);
    assert_eq!(r.feed(&ping[..3]), ClientSaid::Nothing);
    assert_eq!(r.feed(&ping[3..]), ClientSaid::Ping(b"hello".to_vec()));
}

#[test]
fn data_frames_are_skipped_even_when_longer_than_a_read() {
    let mut r = ClientReader::new(Wire::WebSocket);
    let data = client_frame(0x1, &[b'x'; 300], [9, 9, 9, 9]);
    assert_eq!(r.feed(&data[..100]), ClientSaid::Nothing);
    assert_eq!(r.feed(&data[100..]), ClientSaid::Nothing);
    let ping = client_frame(0x9, b"", [0, 0, 0, 0]);
    assert_eq!(r.feed(&ping), ClientSaid::Ping(Vec::new()));
}

#[test]
fn close_unmasked_or_oversized_control_frames_end_the_stream() {
    let close = client_frame(0x8, &[0x03, 0xe8], [5, 6, 7, 8]);
    assert_eq!(
        ClientReader::new(Wire::WebSocket).feed(&close),
        ClientSaid::Goodbye
    );
    assert_eq!(
        ClientReader::new(Wire::WebSocket).feed(&[0x89, 0x00]),
        ClientSaid::Goodbye,
        "clients must mask"
    );
    let big_ping = client_frame(0x9, &[0u8; 126], [1, 1, 1, 1]);
    assert_eq!(
        ClientReader::new(Wire::WebSocket).feed(&big_ping),
        ClientSaid::Goodbye
    );
    assert_eq!(
        ClientReader::new(Wire::Sse).feed(b"anything"),
        ClientSaid::Nothing,
        "an SSE client is only heard hanging up"
    );
}

#[test]
fn websocket_accept_matches_rfc_6455_example() {
    assert_eq!(
        websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    assert!(websocket_handshake(Some("websocket"), Some("k"), Some("13")).is_ok());
    assert!(websocket_handshake(None, Some("k"), Some("13")).is_err());
    assert!(websocket_handshake(Some("websocket"), Some("k"), Some("8")).is_err());
}
