//! Streams asked for on a connection that already carried another request, as browsers and
//! apps reuse their connections: they reach the router rather than the front door, and must be
//! served the same protocol there (SSE, and WebSocket through an upgrade).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// A connection that has already been answered one ordinary request, as a browser loading the
/// page would have made, and a reader of it positioned after that answer.
fn used_connection(server: &Server) -> (TcpStream, BufReader<TcpStream>) {
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut socket = TcpStream::connect(&addr).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(socket, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
    let mut reader = BufReader::new(socket.try_clone().expect("clone"));
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("head");
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().expect("length");
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).expect("body");
    (socket, reader)
}

#[test]
fn a_stream_asked_for_on_a_reused_connection_is_served_too() {
    let (_dir, server, admin) = fresh();
    let (mut socket, mut reader) = used_connection(&server);
    // The stream on the same connection.
    write!(socket, "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
    let mut status = String::new();
    reader.read_line(&mut status).expect("status");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(start_alert(&server, &admin, json!(31)).status, 201);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut seen = String::new();
    while Instant::now() < deadline && !seen.contains("event: alert.started") {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            break;
        }
        seen.push_str(&line);
    }
    assert!(seen.contains("event: alert.started"), "{seen}");
}

#[test]
fn a_websocket_asked_for_on_a_reused_connection_is_upgraded_and_follows_the_log() {
    let (_dir, server, admin) = fresh();
    // One event before the subscription, to be caught up from the log.
    assert_eq!(start_alert(&server, &admin, json!(31)).status, 201);
    let (socket, _reader) = used_connection(&server);
    let url = format!(
        "{}/api/v1/ws?after=0",
        server.base.replace("http://", "ws://")
    );
    let (mut ws, response) = tungstenite::client(url.as_str(), socket).expect("handshake");
    assert_eq!(response.status().as_u16(), 101);
    let mut read_json = || -> Value {
        loop {
            match ws.read().expect("message") {
                tungstenite::Message::Text(t) => {
                    return serde_json::from_str(t.as_str()).expect("JSON");
                }
                tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    let hello = read_json();
    assert_eq!(hello["kind"], "hello");
    assert_eq!(hello["after"], 0);
    let caught_up = read_json();
    assert_eq!(caught_up["kind"], "alert.started");
    assert_eq!(caught_up["seq"], 1);
    assert_eq!(start_alert(&server, &admin, json!(14)).status, 201);
    let live = read_json();
    assert_eq!(live["kind"], "alert.started");
    assert_eq!(live["seq"], 2);
    ws.send(tungstenite::Message::Ping(b"hi".to_vec().into()))
        .expect("ping");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < deadline, "no pong");
        if let tungstenite::Message::Pong(p) = ws.read().expect("pong") {
            assert_eq!(&p[..], b"hi");
            break;
        }
    }
    ws.close(None).expect("close");
}
