//! Durable alert commands: C keep-alive connections each raise and end alerts on regions of
//! their own, against the release `tryvoga serve` on a fresh database, for a bounded time.
//! Every answer counted is a 2xx, which tryvoga sends only after the transaction holding the
//! command is on disk. In the same run, the disk's raw rate of one-page write + fdatasync in
//! the same directory: commands per fsync is what group commit wins.
//!
//! Also the pieces the other HTTP benchmarks share: starting tryvoga, and a small
//! hand-rolled HTTP/1.1 keep-alive client (one request in flight per connection).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::procinfo;
use crate::targets::free_port;
use crate::wire;

// ----- tryvoga as a child process -----------------------------------------------------------

/// A release `tryvoga serve` on a fresh database in a scratch directory, killed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    pub token: String,
    pub dir: PathBuf,
    pub version: String,
}

impl Server {
    /// Starts `tryvoga serve` with `extra` arguments, as targets.rs does: the first run prints
    /// the admin token, then `serving on`.
    pub fn start(exe: &Path, tag: &str, extra: &[&str]) -> Result<Server> {
        let server = Server::start_on(exe, tag, None, extra)?;
        if server.token.is_empty() {
            bail!("tryvoga printed no admin token");
        }
        Ok(server)
    }

    /// Starts `tryvoga serve` on `db` (default: a fresh SQLite file in the scratch
    /// directory). The token is empty when the record already had one (a second node).
    pub fn start_on(exe: &Path, tag: &str, db: Option<&str>, extra: &[&str]) -> Result<Server> {
        let dir = std::env::temp_dir().join(format!(
            "tryvoga-bench-{tag}-{}-{}",
            std::process::id(),
            wire::now_ns()
        ));
        std::fs::create_dir_all(&dir)?;
        let port = free_port()?;
        let mut child = Command::new(exe)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--db"])
            .arg(db.map_or_else(|| dir.join("bench.db"), PathBuf::from))
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
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
        let version = Command::new(exe)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let mut server = Server {
            child,
            port,
            token: String::new(),
            dir,
            version,
        };
        server.token = token.unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!("tryvoga exited before listening: {status}");
            }
            if Instant::now() > deadline {
                bail!("tryvoga is not listening on {port} after 20 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server but keeps its directory (for the fsync probe).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ----- a keep-alive HTTP/1.1 client ----------------------------------------------------------

pub fn get_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
}

pub fn post_request(path: &str, token: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One connection; answers must carry a Content-Length (tryvoga's do).
pub struct Conn {
    port: u16,
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn open(port: u16) -> Result<Conn> {
        Ok(Conn {
            port,
            stream: connect(port).await?,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends one request and reads its answer: status and body.
    pub async fn call(&mut self, request: &[u8]) -> Result<(u16, Vec<u8>)> {
        let (status, _, body) = self.call_with_head(request).await?;
        Ok((status, body))
    }

    /// Sends one request and reads its answer: status, the head's text and the body.
    pub async fn call_with_head(&mut self, request: &[u8]) -> Result<(u16, String, Vec<u8>)> {
        self.reopen_if_closed().await?;
        self.stream.write_all(request).await?;
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end])
                    .context("response head")?
                    .to_string();
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
                let total = end + 4 + length;
                while self.buf.len() < total {
                    self.fill().await?;
                }
                let body = self.buf[end + 4..total].to_vec();
                self.buf.drain(..total);
                return Ok((status, head, body));
            }
            self.fill().await?;
        }
    }

    /// A server lets a kept-alive connection go after it has idled for a while (tryvoga after
    /// 30 s, as any HTTP client expects); such a connection is replaced before a request is
    /// sent on it, so that no request is ever sent twice.
    async fn reopen_if_closed(&mut self) -> Result<()> {
        let mut probe = [0u8; 1];
        match self.stream.try_read(&mut probe) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            Ok(n) if n > 0 => bail!("the server sent bytes that answer no request"),
            // Closed by the server (Ok(0)) or reset.
            _ => {
                self.stream = connect(self.port).await?;
                self.buf.clear();
                Ok(())
            }
        }
    }

    async fn fill(&mut self) -> Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

async fn connect(port: u16) -> Result<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A whole number field of a JSON object answer, read without a full parse.
pub fn json_u64(body: &[u8], field: &str) -> Option<u64> {
    let key = format!("\"{field}\":");
    let at = body.windows(key.len()).position(|w| w == key.as_bytes())? + key.len();
    let digits: Vec<u8> = body[at..]
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// Region ids of one level (`oblast`, `raion`, `hromada`) from `/api/v1/regions?level=`.
pub async fn region_ids(conn: &mut Conn, level: &str) -> Result<Vec<u32>> {
    let (status, body) = conn
        .call(&get_request(&format!("/api/v1/regions?level={level}")))
        .await?;
    if status != 200 {
        bail!("GET /api/v1/regions?level={level}: HTTP {status}");
    }
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(v["regions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_u64().map(|id| id as u32))
        .collect())
}

pub const TYPES: [&str; 5] = [
    "air_raid",
    "artillery_shelling",
    "urban_fights",
    "chemical",
    "nuclear",
];

// ----- the benchmark -------------------------------------------------------------------------

#[derive(clap::Args, Debug)]
pub struct CommandsArgs {
    /// Concurrent keep-alive connections, each one command in flight.
    #[arg(long, default_value_t = 256)]
    pub(crate) clients: usize,
    /// Measured seconds (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    pub(crate) seconds: u64,
    /// Seconds of the raw fsync probe.
    #[arg(long, default_value_t = 3)]
    pub(crate) fsync_seconds: u64,
    /// The tryvoga binary (default: beside this one).
    #[arg(long)]
    pub(crate) tryvoga: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also PostgreSQL, in the same run: raw fsync, SQLite one node, PostgreSQL one node and
    /// two nodes on one database (clients split across them), each on a fresh record.
    #[arg(long)]
    pub(crate) postgres: bool,
}

#[derive(Debug, Serialize)]
pub struct CommandsResult {
    pub version: String,
    pub clients: usize,
    pub seconds: f64,
    pub commands: u64,
    pub commands_per_sec: f64,
    pub refused: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Events in the log at the end: every acknowledged command appended one.
    pub log_seq: u64,
    pub server_cpu_us_per_command: f64,
    pub fsync_per_sec: f64,
    pub fsync_p50_ms: f64,
    /// commands/s over raw fsyncs/s: how many commands one fsync carries.
    pub commands_per_fsync: f64,
    pub directory: String,
}

#[derive(Default)]
struct ClientTally {
    ok: u64,
    refused: u64,
    latencies_us: Vec<u32>,
}

async fn client(
    port: u16,
    token: String,
    keys: Vec<(u32, &'static str)>,
    measure_from: Instant,
    until: Instant,
) -> Result<ClientTally> {
    let mut conn = Conn::open(port).await?;
    let mut tally = ClientTally::default();
    let record = |t0: Instant, ok: bool, tally: &mut ClientTally| {
        let now = Instant::now();
        if t0 >= measure_from && now <= until {
            if ok {
                tally.ok += 1;
                tally.latencies_us.push((now - t0).as_micros() as u32);
            } else {
                tally.refused += 1;
            }
        }
    };
    for &(region, kind) in keys.iter().cycle() {
        if Instant::now() >= until {
            break;
        }
        let t0 = Instant::now();
        let (status, body) = conn
            .call(&post_request(
                "/api/v1/alerts",
                &token,
                &format!("{{\"region\":{region},\"type\":\"{kind}\"}}"),
            ))
            .await?;
        record(t0, status == 201, &mut tally);
        if status != 201 {
            eprintln!(
                "start on {region}/{kind}: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            );
            continue;
        }
        let id = json_u64(&body, "id").context("no alert id in the answer")?;
        let t0 = Instant::now();
        let (status, body) = conn
            .call(&post_request(
                &format!("/api/v1/alerts/{id}/end"),
                &token,
                "",
            ))
            .await?;
        record(t0, status == 200, &mut tally);
        if status != 200 {
            eprintln!(
                "end of {id}: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    Ok(tally)
}

/// One thread writes a page and fdatasyncs it, over and over, cycling through a 4 MiB file as
/// SQLite's WAL does after a checkpoint. Returns syncs per second and the median sync time.
pub fn fsync_rate(dir: &Path, seconds: u64) -> Result<(f64, f64)> {
    use std::os::unix::fs::FileExt;
    let path = dir.join("fsync-probe");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)?;
    const PAGES: u64 = 1024;
    let page = [0x5au8; 4096];
    for i in 0..PAGES {
        file.write_all_at(&page, i * 4096)?;
    }
    file.sync_all()?;
    let start = Instant::now();
    let mut times = Vec::new();
    let mut i = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        let t = Instant::now();
        file.write_all_at(&page, (i % PAGES) * 4096)?;
        file.sync_data()?;
        times.push(t.elapsed().as_micros() as u64);
        i += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_file(&path);
    times.sort_unstable();
    let p50 = times.get(times.len() / 2).copied().unwrap_or(0) as f64 / 1000.0;
    Ok((times.len() as f64 / elapsed, p50))
}

pub fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    sorted_us[((sorted_us.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
}

pub fn tryvoga_path(given: Option<PathBuf>) -> Result<PathBuf> {
    Ok(given.unwrap_or(std::env::current_exe()?.with_file_name("tryvoga")))
}

/// What one measured run of the clients saw.
pub struct Drive {
    pub ok: u64,
    pub refused: u64,
    /// Latencies of the acknowledged commands, sorted.
    pub latencies_us: Vec<u32>,
    /// The log's head afterwards.
    pub log_seq: u64,
    /// CPU time of each group of `pids` over the run.
    pub cpu: Vec<Duration>,
}

/// `clients` connections spread over `ports` in turn (all on one record, so one token), each
/// starting and ending alerts on (region, type) pairs of its own, for one second of warm-up
/// and `measured` counted; the CPU of each group of `pids` over that time. `tick` hears the fraction done.
pub fn drive(
    ports: &[u16],
    token: &str,
    clients: usize,
    measured: Duration,
    pids: &[&dyn Fn() -> Vec<u32>],
    tick: &(dyn Fn(f64) + Sync),
) -> Result<Drive> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let warmup = Duration::from_secs(1);
    rt.block_on(async {
        let mut setup = Conn::open(ports[0]).await?;
        let mut regions = Vec::new();
        for level in ["oblast", "raion", "hromada"] {
            regions.extend(region_ids(&mut setup, level).await?);
        }
        // Every (region, type) pair belongs to one client, so no start meets an active alert.
        let keys: Vec<(u32, &'static str)> = TYPES
            .iter()
            .flat_map(|t| regions.iter().map(move |&r| (r, *t)))
            .collect();
        let clients = clients.clamp(1, keys.len());
        let start = Instant::now();
        let (measure_from, until) = (start + warmup, start + warmup + measured);
        let cpu_of = |pids: &[u32]| -> Duration {
            pids.iter()
                .filter_map(|&p| procinfo::cpu_time(p))
                .sum::<Duration>()
        };
        let watched: Vec<Vec<u32>> = pids.iter().map(|p| p()).collect();
        let cpu_before: Vec<Duration> = watched.iter().map(|w| cpu_of(w)).collect();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let mine: Vec<_> = keys.iter().skip(c).step_by(clients).copied().collect();
            tasks.push(tokio::spawn(client(
                ports[c % ports.len()],
                token.to_string(),
                mine,
                measure_from,
                until,
            )));
        }
        let total = (warmup + measured).as_secs_f64();
        let all = async {
            let mut tallies = Vec::new();
            for t in tasks {
                tallies.push(t.await??);
            }
            Ok::<_, anyhow::Error>(tallies)
        };
        tokio::pin!(all);
        let mut every = tokio::time::interval(Duration::from_millis(200));
        let tallies = loop {
            tokio::select! {
                done = &mut all => break done?,
                _ = every.tick() => tick((start.elapsed().as_secs_f64() / total).min(1.0)),
            }
        };
        // The processes as they are now, backends made during the run included.
        let cpu = watched
            .iter()
            .zip(pids)
            .zip(&cpu_before)
            .map(|((then, now), before)| {
                let mut all = then.clone();
                all.extend(now().into_iter().filter(|p| !then.contains(p)));
                cpu_of(&all).saturating_sub(*before)
            })
            .collect();
        let (_, body) = setup.call(&get_request("/api/v1/alerts/active")).await?;
        let log_seq = json_u64(&body, "seq").unwrap_or(0);
        let ok: u64 = tallies.iter().map(|t| t.ok).sum();
        let refused: u64 = tallies.iter().map(|t| t.refused).sum();
        let mut latencies_us: Vec<u32> = tallies.into_iter().flat_map(|t| t.latencies_us).collect();
        latencies_us.sort_unstable();
        Ok(Drive {
            ok,
            refused,
            latencies_us,
            log_seq,
            cpu,
        })
    })
}

pub fn run(args: CommandsArgs) -> Result<()> {
    if args.postgres {
        return crate::commands_pg::run(&args);
    }
    let exe = tryvoga_path(args.tryvoga.clone())?;
    let mut server = Server::start(&exe, "commands", &[])?;
    let measured = Duration::from_secs(args.seconds.max(1));
    let pid = server.pid();
    let d = drive(
        &[server.port],
        &server.token,
        args.clients,
        measured,
        &[&|| vec![pid]],
        &|_| {},
    )?;
    server.stop();
    let (fsyncs, fsync_p50) = fsync_rate(&server.dir, args.fsync_seconds)?;
    let (ok, refused, lat, log_seq) = (d.ok, d.refused, d.latencies_us, d.log_seq);
    let cpu = d.cpu.first().copied().unwrap_or_default();
    let secs = measured.as_secs_f64();
    let rate = ok as f64 / secs;
    let r = CommandsResult {
        version: server.version.clone(),
        clients: args.clients,
        seconds: secs,
        commands: ok,
        commands_per_sec: rate,
        refused,
        p50_ms: percentile_ms(&lat, 0.5),
        p99_ms: percentile_ms(&lat, 0.99),
        max_ms: percentile_ms(&lat, 1.0),
        log_seq,
        server_cpu_us_per_command: cpu.as_micros() as f64 / ok.max(1) as f64,
        fsync_per_sec: fsyncs,
        fsync_p50_ms: fsync_p50,
        commands_per_fsync: rate / fsyncs.max(1e-9),
        directory: server.dir.display().to_string(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "{:>7} {:>9} {:>10} {:>8} {:>8} {:>8} {:>9} {:>9} {:>10}",
            "clients",
            "commands",
            "per sec",
            "p50 ms",
            "p99 ms",
            "max ms",
            "cpu us/c",
            "fsync/s",
            "cmds/fsync"
        );
        println!(
            "{:>7} {:>9} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>9.1} {:>9.0} {:>10.1}",
            r.clients,
            r.commands,
            r.commands_per_sec,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.server_cpu_us_per_command,
            r.fsync_per_sec,
            r.commands_per_fsync
        );
        println!(
            "{} ; log at seq {} ; fsync probe in {} (p50 {:.2} ms)",
            r.version, r.log_seq, r.directory, r.fsync_p50_ms
        );
    }
    if refused > 0 {
        bail!("{refused} commands were refused (expected none)");
    }
    if ok == 0 {
        bail!("no command was acknowledged");
    }
    Ok(())
}
