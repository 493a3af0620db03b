//! The systems under test: how to start each one on loopback, where its subscribers connect,
//! and how to publish one message through it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::subscribe::Proto;
use crate::wire;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Target {
    TryvogaSse,
    TryvogaWs,
    Nats,
    Mosquitto,
    Raw,
}

impl std::str::FromStr for Target {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Target> {
        Ok(match s.trim() {
            "tryvoga-sse" => Target::TryvogaSse,
            "tryvoga-ws" => Target::TryvogaWs,
            "nats" => Target::Nats,
            "mosquitto" => Target::Mosquitto,
            "raw" => Target::Raw,
            other => bail!(
                "unknown target {other:?}: expected tryvoga-sse, tryvoga-ws, nats, mosquitto or raw"
            ),
        })
    }
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::TryvogaSse => "tryvoga-sse",
            Target::TryvogaWs => "tryvoga-ws",
            Target::Nats => "nats",
            Target::Mosquitto => "mosquitto",
            Target::Raw => "raw",
        }
    }
}

pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(port: u16, child: &mut Child) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("exited before listening: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("nothing listening on port {port} after 20 s")
}

/// A running system under test.
pub struct Running {
    pub child: Child,
    pub version: String,
    /// Where subscribers connect, with what protocol and path.
    pub subscribe: (SocketAddr, Proto, String),
    publisher: Publisher,
    _dir: tempdir::Dir,
}

enum Publisher {
    /// POST /api/v1/alerts on a kept-alive connection.
    Tryvoga {
        port: u16,
        conn: TcpStream,
        token: String,
        next_region: usize,
    },
    Nats(TcpStream),
    Mqtt(TcpStream),
    Raw(TcpStream),
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub mod tempdir {
    /// A scratch directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> std::io::Result<Dir> {
            let p = std::env::temp_dir().join(format!(
                "tryvoga-bench-{tag}-{}-{}",
                std::process::id(),
                crate::wire::now_ns()
            ));
            std::fs::create_dir_all(&p)?;
            Ok(Dir(p))
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn tool_version(cmd: &str, arg: &str) -> String {
    Command::new(cmd)
        .arg(arg)
        .output()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_else(|_| format!("{cmd}: not found"))
}

fn require(cmd: &str, package: &str) -> Result<PathBuf> {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"] {
        let p = Path::new(dir).join(cmd);
        if p.exists() {
            return Ok(p);
        }
    }
    Err(anyhow!(
        "{cmd} is not installed: apt-get install {package} (the benchmark needs the real peer)"
    ))
}

/// The Oblast ids the tryvoga publisher raises alerts on, one per message, so that no start
/// conflicts with an earlier one during a run.
const OBLASTS: &[u32] = &[
    3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31,
];

pub struct StartOptions<'a> {
    pub tryvoga: &'a Path,
    pub me: &'a Path,
}

pub fn start(target: Target, opts: &StartOptions<'_>) -> Result<Running> {
    let dir = tempdir::Dir::new(target.name())?;
    match target {
        Target::TryvogaSse | Target::TryvogaWs => start_tryvoga(target, opts, dir, &[]),
        Target::Nats => {
            let exe = require("nats-server", "nats-server")?;
            let (client_port, ws_port) = (free_port()?, free_port()?);
            let conf = dir.0.join("nats.conf");
            std::fs::write(
                &conf,
                format!(
                    "listen: 127.0.0.1:{client_port}\nmax_connections: 100000\nmax_payload: 1048576\n\
                     websocket {{\n  listen: \"127.0.0.1:{ws_port}\"\n  no_tls: true\n}}\n"
                ),
            )?;
            let mut child = Command::new(&exe)
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            wait_for_port(ws_port, &mut child)?;
            wait_for_port(client_port, &mut child)?;
            let mut conn = TcpStream::connect(("127.0.0.1", client_port))?;
            conn.set_nodelay(true)?;
            conn.write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n")?;
            Ok(Running {
                child,
                version: tool_version(&exe.to_string_lossy(), "--version"),
                subscribe: (
                    SocketAddr::from(([127, 0, 0, 1], ws_port)),
                    Proto::NatsWs,
                    "/".into(),
                ),
                publisher: Publisher::Nats(conn),
                _dir: dir,
            })
        }
        Target::Mosquitto => {
            let exe = require("mosquitto", "mosquitto")?;
            let (mqtt_port, ws_port) = (free_port()?, free_port()?);
            let conf = dir.0.join("mosquitto.conf");
            std::fs::write(
                &conf,
                format!(
                    "per_listener_settings false\nallow_anonymous true\npersistence false\n\
                     log_dest none\nmax_connections -1\nmax_queued_messages 1000\n\
                     listener {mqtt_port} 127.0.0.1\nprotocol mqtt\n\
                     listener {ws_port} 127.0.0.1\nprotocol websockets\n"
                ),
            )?;
            let mut child = Command::new(&exe)
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            wait_for_port(ws_port, &mut child)?;
            wait_for_port(mqtt_port, &mut child)?;
            let mut conn = TcpStream::connect(("127.0.0.1", mqtt_port))?;
            conn.set_nodelay(true)?;
            conn.write_all(&wire::mqtt_connect("bench-publisher"))?;
            let mut connack = [0u8; 4];
            conn.read_exact(&mut connack)?;
            let version = tool_version(&exe.to_string_lossy(), "-h");
            Ok(Running {
                child,
                version,
                subscribe: (
                    SocketAddr::from(([127, 0, 0, 1], ws_port)),
                    Proto::MqttWs,
                    "/".into(),
                ),
                publisher: Publisher::Mqtt(conn),
                _dir: dir,
            })
        }
        Target::Raw => {
            let (port, control) = (free_port()?, free_port()?);
            let mut child = Command::new(opts.me)
                .args([
                    "raw-server",
                    "--port",
                    &port.to_string(),
                    "--control",
                    &control.to_string(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()?;
            wait_for_port(control, &mut child)?;
            wait_for_port(port, &mut child)?;
            let conn = TcpStream::connect(("127.0.0.1", control))?;
            conn.set_nodelay(true)?;
            Ok(Running {
                child,
                version: "raw TCP write loop (tryvoga-bench raw-server)".into(),
                subscribe: (
                    SocketAddr::from(([127, 0, 0, 1], port)),
                    Proto::Raw,
                    "/".into(),
                ),
                publisher: Publisher::Raw(conn),
                _dir: dir,
            })
        }
    }
}

/// `tryvoga serve` on a fresh database in `dir`, with `extra` arguments (e.g. `--nats URL`),
/// publishing through `POST /api/v1/alerts`; subscribers go to its own stream endpoint unless
/// the caller points `subscribe` elsewhere (the edges benchmark does).
pub fn start_tryvoga(
    target: Target,
    opts: &StartOptions<'_>,
    dir: tempdir::Dir,
    extra: &[&str],
) -> Result<Running> {
    let port = free_port()?;
    let mut child = Command::new(opts.tryvoga)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--db"])
        .arg(dir.0.join("bench.db"))
        // The subscribers come from a handful of loopback addresses, thousands each.
        .args(["--max-conns-per-ip", "0"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", opts.tryvoga.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut token = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(t) = line.strip_prefix("admin token: ") {
            token = Some(t.trim().to_string());
        }
        if line.starts_with("serving on") {
            break;
        }
    }
    let token = token.context("tryvoga printed no admin token")?;
    wait_for_port(port, &mut child)?;
    let (proto, path) = if target == Target::TryvogaSse {
        (Proto::Sse, "/api/v1/stream")
    } else {
        (Proto::Ws, "/api/v1/ws")
    };
    let conn = TcpStream::connect(("127.0.0.1", port))?;
    conn.set_nodelay(true)?;
    Ok(Running {
        child,
        version: tool_version(&opts.tryvoga.to_string_lossy(), "--version"),
        subscribe: (SocketAddr::from(([127, 0, 0, 1], port)), proto, path.into()),
        publisher: Publisher::Tryvoga {
            port,
            conn,
            token,
            next_region: 0,
        },
        _dir: dir,
    })
}

/// A payload of `size` bytes carrying the marker, for the peers; tryvoga's own events are
/// about this size.
pub fn padded_payload(marker: &str, size: usize) -> Vec<u8> {
    let mut p = format!("{{\"kind\":\"alert.started\",\"note\":\"{marker}\",\"pad\":\"");
    while p.len() + 2 < size {
        p.push('x');
    }
    p.push_str("\"}");
    p.into_bytes()
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The admin token of a tryvoga target, for benchmarks that publish on their own
    /// connections (`sustained`); `None` for the peers.
    pub fn tryvoga_token(&self) -> Option<&str> {
        match &self.publisher {
            Publisher::Tryvoga { token, .. } => Some(token),
            _ => None,
        }
    }

    /// Publishes one message carrying `marker`; returns once the system has accepted it
    /// (for tryvoga: once the alert is durable and acknowledged).
    pub fn publish(&mut self, marker: &str, size: usize) -> Result<()> {
        match &mut self.publisher {
            Publisher::Tryvoga {
                port,
                conn,
                token,
                next_region,
            } => {
                // Opened before the subscribers, which can take longer to connect than the
                // server lets a kept-alive connection idle.
                reopen_if_closed(conn, *port)?;
                let region = OBLASTS[*next_region % OBLASTS.len()];
                let round = *next_region / OBLASTS.len();
                *next_region += 1;
                // Cycle types so that a region can take a new alert on each round.
                let types = [
                    "air_raid",
                    "artillery_shelling",
                    "urban_fights",
                    "chemical",
                    "nuclear",
                ];
                let alert_type = types[round % types.len()];
                let body = format!(
                    "{{\"region\":{region},\"type\":\"{alert_type}\",\"note\":\"{marker}\"}}"
                );
                let req = format!(
                    "POST /api/v1/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
                     Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                conn.write_all(req.as_bytes())?;
                let status = read_http_response(conn)?;
                if status != 201 {
                    bail!("tryvoga refused the alert: HTTP {status}");
                }
            }
            Publisher::Nats(conn) => {
                let payload = padded_payload(marker, size);
                let mut msg = format!("PUB bench {}\r\n", payload.len()).into_bytes();
                msg.extend_from_slice(&payload);
                msg.extend_from_slice(b"\r\n");
                conn.write_all(&msg)?;
            }
            Publisher::Mqtt(conn) => {
                conn.write_all(&wire::mqtt_publish("bench", &padded_payload(marker, size)))?;
            }
            Publisher::Raw(conn) => {
                let mut p = padded_payload(marker, size);
                p.push(b'\n');
                conn.write_all(&p)?;
            }
        }
        Ok(())
    }
}

/// Reads one HTTP/1.1 response with a Content-Length body; returns the status.
/// Replaces a kept-alive connection that the server has let go (it idled too long) before a
/// request is sent on it, so that no request is ever sent twice.
fn reopen_if_closed(conn: &mut TcpStream, port: u16) -> Result<()> {
    conn.set_nonblocking(true)?;
    let mut probe = [0u8; 1];
    let state = conn.peek(&mut probe);
    conn.set_nonblocking(false)?;
    match state {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
        Ok(n) if n > 0 => bail!("tryvoga sent bytes that answer no request"),
        // Closed by the server (Ok(0)) or reset.
        _ => {
            *conn = TcpStream::connect(("127.0.0.1", port))?;
            conn.set_nodelay(true)?;
            Ok(())
        }
    }
}

fn read_http_response(conn: &mut TcpStream) -> Result<u16> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte)? == 0 {
            bail!("connection closed");
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("bad status line")?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body)?;
    Ok(status)
}
