//! The front door against misbehaving and reconnecting clients, on real sockets: a browser's
//! reconnect resumes where it left off, clients that never read cannot hold up anyone else's
//! catch-up, and a client that trickles or withholds its request is let go.

mod inproc;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tryvoga::server::SharedServer;
use tryvoga_core::{Actor, AlertStatus, AlertType, Command, RegionId, Role};

/// Raises and ends an alert on Kyiv `pairs` times (two events each), with a note of
/// `note_len` characters of 4 bytes each, so that the log fills socket buffers sooner.
async fn record_events(app: &SharedServer, pairs: usize, note_len: usize) {
    let duty = Actor {
        name: "duty".into(),
        role: Role::Admin,
        scope: Vec::new(),
    };
    for _ in 0..pairs {
        let started = app
            .store
            .command(
                duty.clone(),
                Command::StartAlert {
                    region: RegionId(31),
                    alert_type: AlertType::AirRaid,
                    level: None,
                    status: AlertStatus::Actual,
                    note: Some("🚨".repeat(note_len)),
                },
                None,
            )
            .await
            .expect("start");
        let id = started.event.body.alert().expect("an alert").id;
        app.store
            .command(duty.clone(), Command::EndAlert { id }, None)
            .await
            .expect("end");
    }
}

/// Sends `request` on a new connection whose receive buffer is `recv_buffer` bytes if given.
fn send(addr: SocketAddr, request: &str, recv_buffer: Option<usize>) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).expect("rcvbuf");
    }
    socket.connect(&addr.into()).expect("connect");
    let mut stream: TcpStream = socket.into();
    stream.write_all(request.as_bytes()).expect("request");
    stream
}

/// Reads SSE `id:` lines until one is at least `until`, or `within` has passed.
fn ids_until(reader: &mut BufReader<TcpStream>, until: u64, within: Duration) -> Vec<u64> {
    reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let end = Instant::now() + within;
    let mut ids = Vec::new();
    let mut line = String::new();
    while Instant::now() < end {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {
                if let Some(id) = line.strip_prefix("id: ") {
                    let id: u64 = id.trim().parse().expect("numeric id");
                    ids.push(id);
                    if id >= until {
                        break;
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("reading the stream: {e}"),
        }
    }
    ids
}

/// Reads until the server closes the connection; how long that took, or `None` if it was
/// still open after `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut sink = [0u8; 4096];
    while started.elapsed() < within {
        match stream.read(&mut sink) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_browser_resumes_from_its_last_event_id_not_from_the_urls_after() {
    let (_dir, app, addr) = inproc::serve(tryvoga::server::Options::default()).await;
    record_events(&app, 3, 10).await;
    // EventSource reconnects to the URL it was given, `?after=` and all, adding the id of the
    // last event it saw: here it saw all six.
    let request = "GET /api/v1/stream?after=0 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 6\r\n\r\n";
    let lean = BufReader::new(send(addr, request, None));
    // The same on a kept-alive connection, which hyper serves rather than the lean path.
    let mut reused = send(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", None);
    let mut reused_reader = BufReader::new(reused.try_clone().expect("clone"));
    let mut line = String::new();
    let mut length = 0;
    loop {
        line.clear();
        reused_reader.read_line(&mut line).expect("health head");
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().expect("length");
        }
        if line.trim().is_empty() {
            break;
        }
    }
    let mut body = vec![0u8; length];
    reused_reader.read_exact(&mut body).expect("health body");
    reused
        .write_all(request.as_bytes())
        .expect("second request");

    tokio::time::sleep(Duration::from_millis(300)).await;
    record_events(&app, 1, 10).await;
    let (lean_ids, reused_ids) = tokio::task::spawn_blocking(move || {
        let mut lean = lean;
        (
            ids_until(&mut lean, 8, Duration::from_secs(10)),
            ids_until(&mut reused_reader, 8, Duration::from_secs(10)),
        )
    })
    .await
    .expect("readers");
    assert_eq!(lean_ids, vec![7, 8], "nothing seen before is sent again");
    assert_eq!(reused_ids, vec![7, 8], "nor on a reused connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_do_not_hold_up_anyone_elses_catch_up() {
    let (_dir, app, addr) = inproc::serve(tryvoga::server::Options::default()).await;
    // 1,400 events of ~4 KB: more than the socket buffers of a client that does not read
    // can hold (the kernel lets a sender's buffer grow to 4 MB here), so catch-up blocks in
    // the middle of a page.
    record_events(&app, 700, 1000).await;
    let hoarders: Vec<TcpStream> = (0..8)
        .map(|_| {
            send(
                addr,
                "GET /api/v1/stream?after=0 HTTP/1.1\r\nHost: x\r\n\r\n",
                Some(4096),
            )
        })
        .collect();
    // Let them start their catch-up and block on their full sockets.
    tokio::time::sleep(Duration::from_secs(1)).await;

    // A phone that missed the last event reconnects.
    let started = Instant::now();
    let phone = send(
        addr,
        "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 1399\r\n\r\n",
        None,
    );
    let ids = tokio::task::spawn_blocking(move || {
        ids_until(&mut BufReader::new(phone), 1400, Duration::from_secs(40))
    })
    .await
    .expect("reader");
    let took = started.elapsed();
    assert_eq!(ids, vec![1400], "the phone gets what it missed");
    assert!(
        took < Duration::from_secs(5),
        "and does not wait for clients that never read: {took:?}"
    );
    drop(hoarders);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_head_ending_in_bare_newlines_is_served_at_once() {
    let (_dir, _app, addr) = inproc::serve(tryvoga::server::Options::default()).await;
    let started = Instant::now();
    let stream = send(addr, "GET /api/v1/stream HTTP/1.1\nHost: x\n\n", None);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut status = String::new();
    BufReader::new(stream)
        .read_line(&mut status)
        .expect("status line");
    assert!(status.starts_with("HTTP/1.1 200"), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_trickles_or_withholds_its_request_is_let_go() {
    let (_dir, _app, addr) = inproc::serve(tryvoga::server::Options::default()).await;
    // A stream request one byte every 2 s: the head must be whole within 10 s, not each byte.
    let trickler = std::thread::spawn(move || {
        let mut stream = send(addr, "GET /api/v1/stream HTTP/1.1\r\n", None);
        let mut writer = stream.try_clone().expect("clone");
        let feeding = std::thread::spawn(move || {
            for _ in 0..30 {
                std::thread::sleep(Duration::from_secs(2));
                if writer.write_all(b"X").is_err() {
                    break;
                }
            }
        });
        let closed = closed_within(&mut stream, Duration::from_secs(20));
        drop(stream);
        let _ = feeding.join();
        closed
    });
    // An API client that asks once, then keeps its connection without asking again.
    let idler = std::thread::spawn(move || {
        let mut stream = send(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", None);
        closed_within(&mut stream, Duration::from_secs(45))
    });
    let trickled = trickler.join().expect("trickler");
    let idled = idler.join().expect("idler");
    let trickled = trickled.expect("a trickled head is let go");
    assert!(trickled < Duration::from_secs(13), "{trickled:?}");
    let idled = idled.expect("an idle API connection is let go");
    assert!(
        idled > Duration::from_secs(20),
        "not before its time: {idled:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_framed_two_ways_is_refused_and_nothing_after_it_is_read() {
    let (_dir, _app, addr) = inproc::serve(tryvoga::server::Options::default()).await;
    // The classic smuggle: by Content-Length the body is "0\r\n\r\n", by chunked it is empty and
    // the GET after it would be a second request that a proxy in front never saw.
    let smuggled = "GET /api/v1/regions/31 HTTP/1.1\r\nHost: x\r\n\r\n";
    for (method, path) in [
        ("POST", "/api/v1/alerts"),
        ("GET", "/healthz"),
        ("GET", "/api/v1/alerts/active"),
        ("GET", "/api/v1/stream"),
        ("GET", "/api/v1/ws"),
    ] {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\
             Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
        );
        let stream = tokio::task::spawn_blocking(move || {
            let mut stream = send(addr, &request, None);
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            answer
        })
        .await
        .expect("client");
        assert!(
            stream.starts_with("HTTP/1.1 400"),
            "{method} {path}: {stream:?}"
        );
        assert!(
            stream.contains("Transfer-Encoding"),
            "{method} {path}: the refusal says why: {stream:?}"
        );
        assert_eq!(
            stream.matches("HTTP/1.1 ").count(),
            1,
            "{method} {path}: the request behind the body was answered: {stream:?}"
        );
    }
    // The same after a good request on a kept-alive connection: refused, and the connection
    // closed after the refusal, not after the smuggled request.
    let answer = tokio::task::spawn_blocking(move || {
        let request = format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nPOST /api/v1/alerts HTTP/1.1\r\nHost: x\r\n\
             Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n{smuggled}"
        );
        let mut stream = send(addr, &request, None);
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    })
    .await
    .expect("client");
    // Bodies carry no line break at their end, so the status lines are found by their start.
    let statuses: Vec<&str> = answer
        .match_indices("HTTP/1.1 ")
        .map(|(at, _)| &answer[at + 9..at + 12])
        .collect();
    assert_eq!(statuses, ["200", "400"], "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_body_is_answered_408_within_its_deadline() {
    let (_dir, _app, addr) = inproc::serve(tryvoga::server::Options::default()).await;
    let started = Instant::now();
    let stalled = tokio::task::spawn_blocking(move || {
        let mut stream = send(
            addr,
            "POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 60000\r\n\r\n{",
            None,
        );
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        (answer, started.elapsed())
    });
    // Meanwhile everyone else is answered as usual.
    let other = tokio::task::spawn_blocking(move || {
        let mut stream = send(
            addr,
            "GET /api/v1/alerts/active HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            None,
        );
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    })
    .await
    .expect("reader");
    assert!(other.starts_with("HTTP/1.1 200"), "{other:?}");
    let (answer, took) = stalled.await.expect("stalled client");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("request_timeout"), "{answer:?}");
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(15),
        "answered after {took:?}"
    );
}
