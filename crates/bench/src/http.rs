//! Reads under `wrk`: tryvoga's `/api/v1/alerts/active` and the alerts.in.ua IoT strings,
//! beside nginx (Debian) serving the very same bytes from files, with one worker process and
//! with `worker_processes auto`, in the same run. Installs nothing: a missing `wrk` or `nginx`
//! is an error naming its Debian package.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::commands::{Conn, Server, TYPES, get_request, post_request, region_ids};
use crate::targets::free_port;

#[derive(clap::Args, Debug)]
pub struct HttpArgs {
    /// Seconds of `wrk` per endpoint and server.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// wrk connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// The tryvoga binary (default: beside this one).
    #[arg(long)]
    tryvoga: Option<PathBuf>,
    /// Measure `tryvoga edge` instead of the serve node: nats-server with JetStream, a serve
    /// node relaying to it (the alerts are raised there), an edge answering the hot reads from
    /// its front door and, beside it, an edge answering them through hyper
    /// (`--no-hot-reads`); the v2 IoT strings too.
    #[arg(long)]
    edge: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// The endpoints measured; the same paths are files under nginx's root.
const ENDPOINTS: &[&str] = &[
    "/api/v1/alerts/active",
    "/v1/iot/active_air_raid_alerts_by_oblast.json",
    "/v1/iot/active_air_raid_alerts.json",
];

/// With `--edge`, the v2 strings as well.
const V2_ENDPOINTS: &[&str] = &[
    "/v2/iot/active_air_raid_alerts_by_oblast.json",
    "/v2/iot/active_air_raid_alerts.json",
];

#[derive(Debug, Serialize, Clone)]
pub struct WrkResult {
    pub server: String,
    pub path: String,
    pub body_bytes: usize,
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
}

#[derive(Debug, Serialize)]
pub struct HttpReport {
    pub tryvoga: String,
    pub nginx: String,
    pub wrk: String,
    pub wrk_args: String,
    pub results: Vec<WrkResult>,
    pub ratios: Vec<Ratio>,
}

#[derive(Debug, Serialize)]
pub struct Ratio {
    pub path: String,
    pub server: String,
    pub ours_over_nginx_1: f64,
    pub ours_over_nginx_auto: f64,
}

fn need(cmd: &str, package: &str) -> Result<PathBuf> {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(cmd);
        if p.exists() {
            return Ok(p);
        }
    }
    bail!("{cmd} is not installed: apt-get install {package} (this benchmark installs nothing)")
}

fn first_line(cmd: &Path, arg: &str) -> String {
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
        .unwrap_or_default()
}

/// nginx on a free loopback port serving `root`, killed on drop.
struct Nginx {
    child: Child,
    port: u16,
}

impl Drop for Nginx {
    /// SIGTERM, so that the master stops its workers (SIGKILL would orphan them); SIGKILL
    /// only if it has not exited within 5 s.
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_nginx(exe: &Path, dir: &Path, root: &Path, workers: &str) -> Result<Nginx> {
    let port = free_port()?;
    let prefix = dir.join(format!("nginx-{workers}"));
    std::fs::create_dir_all(prefix.join("tmp"))?;
    let p = prefix.display();
    let conf = format!(
        "daemon off;\nworker_processes {workers};\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  types {{ }}\n  default_type application/json;\n  access_log off;\n\
           sendfile on;\n  tcp_nopush on;\n  tcp_nodelay on;\n  open_file_cache max=64;\n\
           keepalive_requests 1000000;\n  keepalive_timeout 65;\n\
           client_body_temp_path {p}/tmp/body;\n  proxy_temp_path {p}/tmp/proxy;\n\
           fastcgi_temp_path {p}/tmp/fastcgi;\n  uwsgi_temp_path {p}/tmp/uwsgi;\n\
           scgi_temp_path {p}/tmp/scgi;\n\
           server {{\n    listen 127.0.0.1:{port};\n    root {root};\n  }}\n}}\n",
        root = root.display()
    );
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let mut child = Command::new(exe)
        .arg("-p")
        .arg(&prefix)
        .arg("-e")
        .arg(prefix.join("error.log"))
        .arg("-c")
        .arg(&conf_path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting nginx")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default();
            bail!("nginx exited: {status}: {log}");
        }
        if Instant::now() > deadline {
            bail!("nginx is not listening after 10 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Nginx { child, port })
}

/// `1.23ms`, `456.78us`, `1.2s` as milliseconds.
fn wrk_ms(text: &str) -> Option<f64> {
    let (num, unit) = text
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| text.split_at(i))?;
    let n: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    })
}

fn run_wrk(wrk: &Path, args: &HttpArgs, server: &str, port: u16, path: &str) -> Result<WrkResult> {
    let url = format!("http://127.0.0.1:{port}{path}");
    let out = Command::new(wrk)
        .args([
            &format!("-t{}", args.threads),
            &format!("-c{}", args.connections),
            &format!("-d{}s", args.duration),
            "--latency",
            &url,
        ])
        .stdin(Stdio::null())
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed on {url}: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut r = WrkResult {
        server: server.into(),
        path: path.into(),
        body_bytes: 0,
        requests_per_sec: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        errors: 0,
    };
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", n, ..] => r.requests_per_sec = n.parse().unwrap_or(0.0),
            ["50%", v, ..] => r.p50_ms = wrk_ms(v).unwrap_or(0.0),
            ["99%", v, ..] => r.p99_ms = wrk_ms(v).unwrap_or(0.0),
            ["Non-2xx", "or", "3xx", "responses:", n, ..] => r.errors += n.parse().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                r.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    if r.requests_per_sec == 0.0 {
        bail!("could not read wrk's output for {url}: {text}");
    }
    Ok(r)
}

/// Waits until the edge on `port` has applied `seq`.
async fn caught_up(port: u16, seq: u64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut conn) = Conn::open(port).await
            && let Ok((200, body)) = conn.call(&get_request("/healthz")).await
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
            && v["seq"].as_u64() >= Some(seq)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the edge on port {port} did not reach seq {seq} in 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Raises a realistic night: air raids on 8 oblasts and on 20 raions elsewhere (4 of them
/// shelling instead), one of the oblasts at level yellow.
async fn raise_alerts(server: &Server) -> Result<usize> {
    let mut conn = Conn::open(server.port).await?;
    let oblasts = region_ids(&mut conn, "oblast").await?;
    let raions = region_ids(&mut conn, "raion").await?;
    let chosen: Vec<u32> = oblasts.iter().copied().take(8).collect();
    let mut bodies: Vec<String> = chosen
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let level = if i == 0 { ",\"level\":\"yellow\"" } else { "" };
            format!("{{\"region\":{r},\"type\":\"air_raid\"{level}}}")
        })
        .collect();
    // Raions of other oblasts: the oblast strings show them as partial.
    let mut region_oblast = Vec::new();
    let (status, body) = conn
        .call(&get_request("/api/v1/regions?level=raion"))
        .await?;
    if status == 200 {
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        for r in v["regions"].as_array().into_iter().flatten() {
            if let (Some(id), Some(ob)) = (r["id"].as_u64(), r["oblast"].as_u64()) {
                region_oblast.push((id as u32, ob as u32));
            }
        }
    }
    let others: Vec<u32> = if region_oblast.is_empty() {
        raions.into_iter().take(20).collect()
    } else {
        region_oblast
            .into_iter()
            .filter(|(_, ob)| !chosen.contains(ob))
            .map(|(id, _)| id)
            .step_by(3)
            .take(20)
            .collect()
    };
    for (i, r) in others.iter().enumerate() {
        let kind = if i % 5 == 4 { TYPES[1] } else { TYPES[0] };
        bodies.push(format!("{{\"region\":{r},\"type\":\"{kind}\"}}"));
    }
    for body in &bodies {
        let (status, answer) = conn
            .call(&post_request("/api/v1/alerts", &server.token, body))
            .await?;
        if status != 201 {
            bail!(
                "raising {body}: HTTP {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
    }
    Ok(bodies.len())
}

pub fn run(args: HttpArgs) -> Result<()> {
    let wrk = need("wrk", "wrk")?;
    let nginx = need("nginx", "nginx")?;
    let exe = crate::commands::tryvoga_path(args.tryvoga.clone())?;
    // With --edge: the stream, and the edges (killed on drop, after the serve node).
    let nats_dir = crate::targets::tempdir::Dir::new("http-nats")?;
    let nats = if args.edge {
        Some(crate::edges::start_nats(&nats_dir.0)?)
    } else {
        None
    };
    let mut serve_args = vec!["--compat-public", "all"];
    if let Some((_, url)) = &nats {
        serve_args.extend(["--nats", url.as_str()]);
    }
    let server = Server::start(&exe, "http", &serve_args)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let raised = rt.block_on(raise_alerts(&server))?;
    let mut edges = Vec::new();
    // (name, port) of the servers measured, ours first.
    let mut ours: Vec<(&str, u16)> = vec![("tryvoga", server.port)];
    let mut endpoints: Vec<&str> = ENDPOINTS.to_vec();
    if let Some((_, url)) = &nats {
        let seq = rt.block_on(async {
            let mut conn = Conn::open(server.port).await?;
            let (_, body) = conn.call(&get_request("/api/v1/alerts/active")).await?;
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            v["seq"].as_u64().context("the serve node's seq")
        })?;
        ours.clear();
        for (name, extra) in [
            ("edge", &["--compat-public", "all"][..]),
            (
                "edge-hyper",
                &["--compat-public", "all", "--no-hot-reads"][..],
            ),
        ] {
            let port = free_port()?;
            edges.push(crate::edges::start_edge(&exe, url, port, extra)?);
            rt.block_on(caught_up(port, seq))?;
            ours.push((name, port));
        }
        endpoints.extend(V2_ENDPOINTS);
    }
    let root = server.dir.join("www");
    let bodies = rt.block_on(async {
        // The bytes of the first of ours, for nginx.
        let mut conn = Conn::open(ours[0].1).await?;
        let mut bodies = Vec::new();
        for path in &endpoints {
            let (status, body) = conn.call(&get_request(path)).await?;
            if status != 200 {
                bail!("GET {path}: HTTP {status}");
            }
            bodies.push(body);
        }
        Ok::<_, anyhow::Error>(bodies)
    })?;
    for (path, body) in endpoints.iter().zip(&bodies) {
        let file = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().context("path")?)?;
        std::fs::write(&file, body)?;
    }
    let nginx_1 = start_nginx(&nginx, &server.dir, &root, "1")?;
    let nginx_auto = start_nginx(&nginx, &server.dir, &root, "auto")?;
    let mut results = Vec::new();
    let mut ratios = Vec::new();
    for (path, body) in endpoints.iter().zip(&bodies) {
        let mut row = Vec::new();
        let servers = ours
            .iter()
            .copied()
            .chain([("nginx-1", nginx_1.port), ("nginx-auto", nginx_auto.port)]);
        for (name, port) in servers {
            let mut r = run_wrk(&wrk, &args, name, port, path)?;
            r.body_bytes = body.len();
            row.push(r);
        }
        let (n1, nauto) = (&row[row.len() - 2], &row[row.len() - 1]);
        for r in &row[..row.len() - 2] {
            ratios.push(Ratio {
                path: path.to_string(),
                server: r.server.clone(),
                ours_over_nginx_1: r.requests_per_sec / n1.requests_per_sec.max(1e-9),
                ours_over_nginx_auto: r.requests_per_sec / nauto.requests_per_sec.max(1e-9),
            });
        }
        results.extend(row);
    }
    drop(edges);
    let report = HttpReport {
        tryvoga: server.version.clone(),
        nginx: first_line(&nginx, "-v"),
        wrk: first_line(&wrk, "-v"),
        wrk_args: format!(
            "-t{} -c{} -d{}s --latency",
            args.threads, args.connections, args.duration
        ),
        results,
        ratios,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} alerts active; {} ; {} ; wrk {}",
            raised, report.nginx, report.wrk, report.wrk_args
        );
        println!(
            "{:<46} {:<11} {:>6} {:>10} {:>8} {:>8} {:>6}",
            "path", "server", "bytes", "req/s", "p50 ms", "p99 ms", "errors"
        );
        for r in &report.results {
            println!(
                "{:<46} {:<11} {:>6} {:>10.0} {:>8.2} {:>8.2} {:>6}",
                r.path, r.server, r.body_bytes, r.requests_per_sec, r.p50_ms, r.p99_ms, r.errors
            );
        }
        for r in &report.ratios {
            println!(
                "{}: {} / nginx(1 worker) {:.2}x, / nginx(auto) {:.2}x",
                r.path, r.server, r.ours_over_nginx_1, r.ours_over_nginx_auto
            );
        }
    }
    let failed: Vec<String> = report
        .results
        .iter()
        .filter(|r| r.errors > 0)
        .map(|r| format!("{} {}", r.server, r.path))
        .collect();
    if !failed.is_empty() {
        bail!("errors under load: {failed:?}");
    }
    Ok(())
}
