//! The record through the real `tryvoga` binary: importing the official CSV (idempotently,
//! every row accounted for), its statistics against figures computed here from the CSV, the
//! charts as files, and a replay at high speed arriving on the SSE stream marked `replay`
//! while imported history never does.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

mod common;

use common::BIN;

fn sirens_dir() -> PathBuf {
    let shared = std::env::var_os("TRYVOGA_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let dir = shared.join("data/vadimkin-air-raid-sirens");
    assert!(
        dir.join("official_data_en.csv").is_file(),
        "the shared data is missing: expected {}; set TRYVOGA_SHARED to the shared folder",
        dir.display()
    );
    dir
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run tryvoga");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_json(args: &[&str]) -> Value {
    let (ok, stdout, stderr) = run(args);
    assert!(ok, "tryvoga {args:?} failed: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// `(oblast, started, finished)` of every row, read with no CSV library.
fn csv_rows(path: &Path) -> Vec<(String, DateTime<Utc>, DateTime<Utc>)> {
    let parse = |s: &str| {
        DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%:z")
            .expect("a time")
            .with_timezone(&Utc)
    };
    std::fs::read_to_string(path)
        .expect("readable")
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.trim_end_matches('\r').split(',').collect();
            (f[0].to_string(), parse(f[4]), parse(f[5]))
        })
        .collect()
}

#[test]
fn import_stats_and_charts_through_the_binary() {
    let csv = sirens_dir().join("official_data_en.csv");
    let csv_arg = csv.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let db_arg = db.to_str().unwrap();

    let first = run_json(&["import", "sirens", csv_arg, "--db", db_arg, "--json"]);
    assert_eq!(first["rows"], 43_031);
    assert_eq!(first["imported"], 43_031);
    assert_eq!(first["skipped"].as_array().unwrap().len(), 0, "{first}");
    assert_eq!(first["notes"][0]["line"], 18, "the swapped row is named");
    let again = run_json(&["import", "sirens", csv_arg, "--db", db_arg, "--json"]);
    assert_eq!(again["imported"], 0);
    assert_eq!(again["already_present"], 43_031);

    // The people's summary names every skipped row; here, a file with two bad rows.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "oblast,raion,hromada,level,started_at,finished_at,source\n\
         Kyiv City,,,oblast,2021-01-01 00:00:00+00:00,2021-01-01 01:00:00+00:00,official\n\
         Atlantis oblast,,,oblast,2021-01-01 00:00:00+00:00,2021-01-01 01:00:00+00:00,official\n\
         Kyiv City,,,oblast,2021-01-02 00:00:00+00:00,soon,official\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = run(&["import", "sirens", bad.to_str().unwrap(), "--db", db_arg]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("imported:        1"), "{stdout}");
    assert!(
        stdout.contains("skipped line 3:") && stdout.contains("Atlantis"),
        "{stdout}"
    );
    assert!(
        stdout.contains("skipped line 4:") && stdout.contains("finished_at"),
        "{stdout}"
    );
    assert!(
        !stdout.contains('\u{1b}'),
        "no escape codes when not a terminal"
    );

    // Figures for Kyiv City in 2023, computed here from the CSV.
    let from: DateTime<Utc> = "2023-01-01T00:00:00Z".parse().unwrap();
    let to: DateTime<Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
    let kyiv: Vec<_> = csv_rows(&csv)
        .into_iter()
        .filter(|(o, s, _)| o == "Kyiv City" && *s >= from && *s < to)
        .collect();
    let total: i64 = kyiv.iter().map(|(_, s, e)| (*e - *s).num_seconds()).sum();
    let stats = run_json(&[
        "stats",
        "--region",
        "Kyiv City",
        "--from",
        "2023-01-01",
        "--to",
        "2024-01-01",
        "--db",
        db_arg,
        "--json",
    ]);
    assert_eq!(stats["count"], kyiv.len() as u64);
    assert_eq!(stats["total_seconds"], total);
    assert_eq!(stats["region"]["id"], 31);
    let (ok, table, stderr) = run(&[
        "stats",
        "--region",
        "31",
        "--from",
        "2023-01-01",
        "--to",
        "2024-01-01",
        "--db",
        db_arg,
    ]);
    assert!(ok, "{stderr}");
    assert!(table.contains("alerts on the region") && table.contains(&kyiv.len().to_string()));
    let (ok, _, stderr) = run(&["stats", "--region", "Atlantis", "--db", db_arg]);
    assert!(!ok && stderr.contains("Atlantis"), "{stderr}");

    for (args, magic) in [
        (
            vec!["chart", "monthly", "--region", "31", "--out", "m.png"],
            &b"\x89PNG"[..],
        ),
        (
            vec!["chart", "heatmap", "--region", "31", "--out", "h.svg"],
            &b"<svg"[..],
        ),
        (vec!["chart", "oblasts", "--out", "o.png"], &b"\x89PNG"[..]),
    ] {
        let out = dir.path().join(args[args.len() - 1]);
        let mut full: Vec<&str> = args[..args.len() - 1].to_vec();
        full.push(out.to_str().unwrap());
        full.extend(["--from", "2023-01-01", "--to", "2024-01-01", "--db", db_arg]);
        let (ok, _, stderr) = run(&full);
        assert!(ok, "{full:?}: {stderr}");
        let bytes = std::fs::read(&out).unwrap();
        assert!(bytes.starts_with(magic), "{full:?}");
    }
}

/// The real server on a free port; its address without the scheme, for bare sockets.
fn serve(db: &Path, extra: &[&str]) -> (common::Server, String) {
    let server = common::Server::start_with(db, extra);
    let addr = server.base.trim_start_matches("http://").to_string();
    (server, addr)
}

/// Reads Server-Sent Events with a bare socket until `enough` says stop or time runs out;
/// returns `(event kind, data)` pairs.
fn read_stream(
    addr: &str,
    path: &str,
    limit: Duration,
    enough: impl Fn(&[(String, Value)]) -> bool,
) -> Vec<(String, Value)> {
    let mut socket = TcpStream::connect(addr).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    // HTTP/1.0: the body comes unchunked and ends when the server closes.
    write!(
        socket,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let deadline = Instant::now() + limit;
    let mut buffer = Vec::new();
    let mut events = Vec::new();
    let mut chunk = [0u8; 16384];
    while Instant::now() < deadline && !enough(&events) {
        match socket.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("reading the stream: {e}"),
        }
        // Whole events end with a blank line.
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = buffer.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&block);
            let kind = text.lines().find_map(|l| l.strip_prefix("event: "));
            let data = text.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(kind), Some(data)) = (kind, data) {
                let value = serde_json::from_str(data).unwrap_or(Value::Null);
                events.push((kind.to_string(), value));
            }
        }
    }
    events
}

#[test]
fn a_fast_replay_reaches_the_stream_marked_replay_and_imports_never_do() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    // Some history first: it must stay out of the stream.
    let csv = sirens_dir().join("official_data_en.csv");
    let head: String = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .take(301)
        .map(|l| format!("{}\n", l.trim_end_matches('\r')))
        .collect();
    let part = dir.path().join("part.csv");
    std::fs::write(&part, head).unwrap();
    let imported = run_json(&[
        "import",
        "sirens",
        part.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(imported["imported"], 300);

    // The last days of the record at a million times real time: a day in under 0.1 s.
    let (_server, addr) = serve(
        &db,
        &[
            "--replay",
            csv.to_str().unwrap(),
            "--speed",
            "1000000",
            "--from",
            "2024-04-15",
        ],
    );
    let events = read_stream(
        &addr,
        "/api/v1/stream?after=0",
        Duration::from_secs(60),
        |events| events.iter().filter(|(k, _)| k == "alert.ended").count() >= 20,
    );
    let started: Vec<&Value> = events
        .iter()
        .filter(|(k, _)| k == "alert.started")
        .map(|(_, v)| v)
        .collect();
    let ended = events.iter().filter(|(k, _)| k == "alert.ended").count();
    assert!(
        started.len() >= 20 && ended >= 20,
        "{} started, {ended} ended",
        started.len()
    );
    for (kind, v) in &events {
        assert_eq!(v["alert"]["origin"], "replay", "{kind}: {v}");
        assert_eq!(v["issuer"], "replay");
    }
    // Replayed alerts carry their record time in the past no more: they are live now.
    let first = started[0]["alert"]["started_at"].as_str().unwrap();
    let first: DateTime<Utc> = first.parse().unwrap();
    assert!(Utc::now() - first < chrono::Duration::minutes(5), "{first}");
    // The imported rows are in the log (sequences 1-300) but were never streamed.
    assert!(
        events
            .iter()
            .all(|(_, v)| v["seq"].as_u64().unwrap_or(0) > 300)
    );
}
