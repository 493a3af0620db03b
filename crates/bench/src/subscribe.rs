//! A subscriber process: opens many connections of one protocol from its own source address,
//! reports when all are subscribed, then records each marker's delivery latency until told to
//! stop, and prints them as one JSON line.

use std::cell::RefCell;
use std::io::{BufRead, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::wire::{self, Scanner};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Proto {
    /// Server-Sent Events over HTTP/1.1.
    Sse,
    /// Tryvoga's own WebSocket stream.
    Ws,
    /// NATS over WebSocket.
    NatsWs,
    /// MQTT 3.1.1 over WebSocket.
    MqttWs,
    /// Plain TCP: the server writes the payload, nothing else.
    Raw,
}

#[derive(clap::Args, Debug, Clone)]
pub struct SubscribeArgs {
    #[arg(long, value_enum)]
    pub proto: Proto,
    #[arg(long)]
    pub addr: SocketAddr,
    #[arg(long, default_value = "/")]
    pub path: String,
    #[arg(long)]
    pub count: usize,
    /// Source address 127.0.0.<this>, so that many processes do not share one port range.
    #[arg(long, default_value_t = 2)]
    pub source: u8,
    /// Connections being set up at once.
    #[arg(long, default_value_t = 128)]
    pub parallel: usize,
    /// SSE only: follow each connection's `id:` lines and report whether every connection's
    /// sequences were contiguous (no gap, no repeat), and how many each got.
    #[arg(long)]
    pub check_seq: bool,
}

/// The `id:` lines of one SSE connection: how many, the first and last, and how many broke
/// the chain (not the previous plus one).
#[derive(Default, Clone)]
pub struct SeqTrack {
    /// The start of a line that the last read cut (at most `KEEP` bytes of it).
    partial: Vec<u8>,
    pub first: Option<u64>,
    pub last: Option<u64>,
    pub count: u64,
    pub broken: u64,
}

impl SeqTrack {
    /// "id: " and up to 20 digits.
    const KEEP: usize = 32;

    pub fn feed(&mut self, bytes: &[u8]) {
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', bytes) {
            let segment = &bytes[start..nl];
            if self.partial.is_empty() {
                self.line(segment);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&segment[..segment.len().min(Self::KEEP)]);
                self.line(&line);
            }
            start = nl + 1;
        }
        let rest = &bytes[start..];
        let room = Self::KEEP.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&rest[..rest.len().min(room)]);
    }

    fn line(&mut self, line: &[u8]) {
        let Some(digits) = line.strip_prefix(b"id: ") else {
            return;
        };
        let Some(seq) = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.trim().parse::<u64>().ok())
        else {
            return;
        };
        self.count += 1;
        match self.last {
            Some(prev) if seq != prev + 1 => self.broken += 1,
            None => self.first = Some(seq),
            _ => {}
        }
        self.last = Some(seq);
    }
}

type Seqs = Rc<RefCell<Vec<SeqTrack>>>;

type Log = Rc<RefCell<Vec<(u64, u64)>>>;

pub fn run(args: SubscribeArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let log: Log = Rc::new(RefCell::new(Vec::with_capacity(args.count * 16)));
        let seqs: Seqs = Rc::new(RefCell::new(if args.check_seq {
            vec![SeqTrack::default(); args.count]
        } else {
            Vec::new()
        }));
        let permits = Rc::new(tokio::sync::Semaphore::new(args.parallel));
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<bool>();
        for i in 0..args.count {
            let (args, log, permits, ready, seqs) = (
                args.clone(),
                log.clone(),
                permits.clone(),
                ready_tx.clone(),
                seqs.clone(),
            );
            tokio::task::spawn_local(async move {
                let permit = permits.acquire().await;
                let conn = open(&args, i).await;
                drop(permit);
                match conn {
                    Ok((stream, leftover)) => {
                        let _ = ready.send(true);
                        let seqs = args.check_seq.then_some((seqs, i));
                        listen(stream, leftover, log, args.proto, seqs).await;
                    }
                    Err(e) => {
                        eprintln!("subscriber {i} from 127.0.0.{}: {e:#}", args.source);
                        let _ = ready.send(false);
                    }
                }
            });
        }
        drop(ready_tx);
        let (mut ok, mut failed) = (0usize, 0usize);
        while ok + failed < args.count {
            match ready_rx.recv().await {
                Some(true) => ok += 1,
                Some(false) => failed += 1,
                None => break,
            }
        }
        println!("ready {ok} {failed}");
        // Wait for "stop" on stdin without blocking the runtime.
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            let _ = stop_tx.send(());
        });
        let _ = stop_rx.await;
        let latencies = log.borrow();
        let seqs = seqs.borrow();
        let seq = seqs.iter().fold(serde_json::Map::new(), |mut m, t| {
            let min = |k: &str, v: u64, m: &mut serde_json::Map<String, serde_json::Value>| {
                let old = m
                    .get(k)
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(u64::MAX);
                m.insert(k.into(), old.min(v).into());
            };
            let max = |k: &str, v: u64, m: &mut serde_json::Map<String, serde_json::Value>| {
                let old = m.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
                m.insert(k.into(), old.max(v).into());
            };
            min("min_count", t.count, &mut m);
            max("max_count", t.count, &mut m);
            let broken = m
                .get("broken_connections")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            m.insert(
                "broken_connections".into(),
                (broken + u64::from(t.broken > 0)).into(),
            );
            if let Some(f) = t.first {
                min("min_first", f, &mut m);
                max("max_first", f, &mut m);
            }
            if let Some(l) = t.last {
                min("min_last", l, &mut m);
                max("max_last", l, &mut m);
            }
            m
        });
        println!(
            "{}",
            serde_json::json!({ "latencies": *latencies, "seq": seq })
        );
        Ok::<_, anyhow::Error>(())
    })?;
    // Dropping thousands of sockets takes a while; the parent has what it needs.
    std::process::exit(0);
}

fn bind_address_no_port(socket: &TcpSocket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a pointer to an int of the stated size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

async fn connect(args: &SubscribeArgs) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    // Let the kernel choose the port at connect time, per destination, not at bind time, so
    // that binding a source address does not exhaust the port range.
    bind_address_no_port(&socket)?;
    socket.bind(SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::new(127, 0, 0, args.source),
        0,
    )))?;
    socket.set_nodelay(true)?;
    Ok(socket.connect(args.addr).await?)
}

/// Reads until `done` says the handshake is complete; returns what was read past it.
async fn read_until(
    stream: &mut TcpStream,
    mut done: impl FnMut(&[u8]) -> Option<usize>,
) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = done(&buf) {
            return Ok(buf.split_off(end));
        }
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk))
            .await
            .context("handshake timed out")??;
        if n == 0 {
            bail!(
                "closed during handshake: {:?}",
                String::from_utf8_lossy(&buf)
            );
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 64 * 1024 {
            bail!("handshake too long");
        }
    }
}

fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

async fn upgrade(stream: &mut TcpStream, path: &str, protocol: Option<&str>) -> Result<Vec<u8>> {
    stream
        .write_all(wire::ws_upgrade(path, protocol).as_bytes())
        .await?;
    let mut head = Vec::new();
    let rest = read_until(stream, |b| {
        let end = head_end(b)?;
        head = b[..end].to_vec();
        Some(end)
    })
    .await?;
    if !head.starts_with(b"HTTP/1.1 101") {
        bail!("upgrade refused: {}", String::from_utf8_lossy(&head));
    }
    Ok(rest)
}

async fn open(args: &SubscribeArgs, index: usize) -> Result<(TcpStream, Vec<u8>)> {
    let mut stream = connect(args).await?;
    let leftover = match args.proto {
        Proto::Sse => {
            stream
                .write_all(wire::http_get(&args.path, "Accept: text/event-stream\r\n").as_bytes())
                .await?;
            // Subscribed once the headers and the stream's first comment have arrived.
            read_until(&mut stream, |b| {
                let end = head_end(b)?;
                if !b.starts_with(b"HTTP/1.1 200") {
                    return Some(0);
                }
                wire::contains(&b[end..], b"\n\n").then_some(b.len())
            })
            .await?
        }
        Proto::Ws => upgrade(&mut stream, &args.path, None).await?,
        Proto::NatsWs => {
            upgrade(&mut stream, &args.path, None).await?;
            let hello =
                b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB bench 1\r\nPING\r\n";
            stream.write_all(&wire::ws_client_frame(0x1, hello)).await?;
            // PONG after SUB means the subscription is registered.
            read_until(&mut stream, |b| {
                wire::contains(b, b"PONG").then_some(b.len())
            })
            .await?
        }
        Proto::MqttWs => {
            upgrade(&mut stream, &args.path, Some("mqtt")).await?;
            let mut packets = wire::mqtt_connect(&format!("b{}-{index}", args.source));
            packets.extend(wire::mqtt_subscribe("bench"));
            stream
                .write_all(&wire::ws_client_frame(0x2, &packets))
                .await?;
            read_until(&mut stream, |b| {
                wire::contains(b, wire::MQTT_SUBACK).then_some(b.len())
            })
            .await?
        }
        Proto::Raw => {
            // The raw server greets each connection once it has it in its list.
            read_until(&mut stream, |b| (!b.is_empty()).then_some(b.len())).await?
        }
    };
    Ok((stream, leftover))
}

thread_local! {
    /// One read buffer for all of a process's connections: they run on one thread and no read
    /// holds it across an await, so a large buffer (few system calls when the server sends many
    /// events in one write) costs nothing per connection.
    static READ_BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0u8; 256 * 1024]);
}

enum Read {
    Data {
        ping: bool,
    },
    /// The socket has nothing more to give until the next readiness event.
    Drained {
        ping: bool,
    },
    End,
}

async fn listen(
    stream: TcpStream,
    leftover: Vec<u8>,
    log: Log,
    proto: Proto,
    seqs: Option<(Seqs, usize)>,
) {
    let mut scanner = Scanner::default();
    let track = |bytes: &[u8]| {
        if let Some((seqs, i)) = &seqs {
            seqs.borrow_mut()[*i].feed(bytes);
        }
    };
    track(&leftover);
    let record = |t: u64| {
        let now = wire::now_ns();
        log.borrow_mut().push((t, now.saturating_sub(t) / 1000));
    };
    scanner.feed(&leftover, record);
    drop(leftover);
    // Readiness by hand: a short read means the socket is drained, so the next wait need not
    // be preceded by a read that fails, which halves the clients' system calls (the same for
    // every target).
    let Ok(socket) = stream.into_std() else {
        return;
    };
    // SAFETY: the `TcpStream` owns its descriptor, which nothing replaces or closes while the
    // `AsyncFd` holds it.
    let Ok(socket) = (unsafe { tokio::io::unix::AsyncFd::register(socket) }) else {
        return;
    };
    loop {
        let Ok(mut ready) = socket.readable().await else {
            return;
        };
        let read = READ_BUFFER.with_borrow_mut(|buf| match socket.get_ref().read(buf) {
            Ok(0) => Read::End,
            Ok(n) => {
                scanner.feed(&buf[..n], record);
                track(&buf[..n]);
                // nats-server closes connections that leave its pings unanswered.
                let ping = proto == Proto::NatsWs && wire::contains(&buf[..n], b"PING\r\n");
                if n < buf.len() {
                    Read::Drained { ping }
                } else {
                    Read::Data { ping }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Read::Drained { ping: false },
            Err(_) => Read::End,
        });
        let ping = match read {
            Read::End => return,
            Read::Data { ping } => ping,
            Read::Drained { ping } => {
                ready.clear_ready();
                ping
            }
        };
        if ping && pong(&socket).await.is_err() {
            return;
        }
    }
}

async fn pong(socket: &tokio::io::unix::AsyncFd<std::net::TcpStream>) -> std::io::Result<()> {
    let pong = wire::ws_client_frame(0x1, b"PONG\r\n");
    let mut written = 0;
    while written < pong.len() {
        let mut ready = socket.writable().await?;
        match ready.try_io(|s| s.get_ref().write(&pong[written..])) {
            Ok(Ok(n)) => written += n,
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => {}
        }
    }
    Ok(())
}
