//! `tryvoga-bench chaos`: what Tryvoga promises about durability, order and delivery, tried
//! against the real `tryvoga serve` by breaking it. Each scenario starts its own server on a
//! fresh database in a scratch directory, prints its figures on one line, and stops every
//! process it started (and unmounts what it mounted) on success and on failure; a watchdog
//! ends the whole run, and everything in it, at `--timeout-secs` or on SIGINT/SIGTERM.
//!
//! - `kill9`: issuers send commands with idempotent retries while the server is killed with
//!   SIGKILL over and over; then every acknowledged command is in the log exactly once, the
//!   log is gapless, `PRAGMA integrity_check` says ok and `tryvoga verify` every signature.
//! - `resume`: SSE subscribers cut mid-burst resume with `Last-Event-ID` and miss nothing;
//!   then the same across a SIGKILL and restart of the server.
//! - `slow`: subscribers that never read are cut loose and do not slow the readers (their
//!   delivery time with and without the stuck ones).
//! - `disk`: the database on a small tmpfs filled until writes fail: 503s (no other 5xx, no
//!   panic), reads still served, writes succeed again once space is freed, nothing lost.
//! - `stop`: SIGSTOP for some seconds, then SIGCONT: nothing acknowledged lost, subscribers get
//!   everything.
//! - `fsync`: from an `strace -f -yy` of the server, every reply to a command is written after
//!   the fdatasync of the WAL that followed the command's WAL write.
//!
//! `--profile ci` is the size `.ci/steps/65-reliability.sh` runs (a few minutes on two
//! cores, debug build); `--profile long` (the default) is more kills, more issuers, longer.
//! Progress bars on a terminal (stderr); otherwise only the figures.

mod check;
mod client;
mod disk;
mod fsync;
mod kill;
mod node;
mod resume;
mod slow;
mod stop;
mod stream;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// What CI runs: about 20 kills, 48 issuers, a 10 s stop.
    Ci,
    /// The longer version: 200 kills, 128 issuers, a 30 s stop, bigger bursts.
    Long,
}

pub const SCENARIOS: [&str; 6] = ["kill9", "resume", "slow", "disk", "stop", "fsync"];

#[derive(clap::Args, Debug)]
pub struct ChaosArgs {
    #[arg(long, value_enum, default_value_t = Profile::Long)]
    profile: Profile,
    /// Comma-separated, run in this order: kill9, resume, slow, disk, stop, fsync.
    #[arg(long, default_value = "kill9,resume,slow,disk,stop,fsync")]
    scenarios: String,
    /// kill9: how many times the server is killed.
    #[arg(long)]
    kills: Option<u32>,
    /// kill9: concurrent issuers.
    #[arg(long)]
    issuers: Option<usize>,
    /// resume, slow, stop: reading subscribers.
    #[arg(long)]
    subscribers: Option<usize>,
    /// slow: subscribers that never read.
    #[arg(long)]
    stuck: Option<usize>,
    /// resume: commands per phase.
    #[arg(long)]
    burst: Option<usize>,
    /// stop: seconds between SIGSTOP and SIGCONT.
    #[arg(long)]
    stop_secs: Option<u64>,
    /// disk: size of the tmpfs the database lives on, in MiB.
    #[arg(long)]
    tmpfs_mb: Option<u64>,
    /// The whole run is ended (every process it started) after this many seconds.
    #[arg(long)]
    timeout_secs: Option<u64>,
    /// The tryvoga binary (default: beside this one).
    #[arg(long)]
    tryvoga: Option<PathBuf>,
    /// Print every scenario's figures as JSON at the end.
    #[arg(long)]
    json: bool,
    /// Tell each step on stderr as it begins, with the time since the run started.
    #[arg(long)]
    verbose: bool,
}

/// How big each scenario is.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub kills: u32,
    pub kill_min_ms: u64,
    pub kill_max_ms: u64,
    pub issuers: usize,
    pub stream_issuers: usize,
    pub subscribers: usize,
    pub stuck: usize,
    pub burst: usize,
    pub slow_burst: usize,
    pub stop_secs: u64,
    pub tmpfs_mb: u64,
    pub disk_issuers: usize,
    pub timeout_secs: u64,
}

impl Sizes {
    fn of(args: &ChaosArgs) -> Sizes {
        let mut s = match args.profile {
            Profile::Ci => Sizes {
                kills: 20,
                kill_min_ms: 300,
                kill_max_ms: 1200,
                issuers: 48,
                stream_issuers: 16,
                subscribers: 8,
                stuck: 32,
                burst: 1500,
                // Enough ~1.5 KB events to fill a stuck subscriber's socket (the kernel
                // queues up to 4 MiB to it) and then three quarters of the ring (4,096
                // frames), where it is let go.
                slow_burst: 7000,
                stop_secs: 10,
                tmpfs_mb: 16,
                disk_issuers: 8,
                timeout_secs: 330,
            },
            Profile::Long => Sizes {
                kills: 200,
                kill_min_ms: 200,
                kill_max_ms: 1500,
                issuers: 128,
                stream_issuers: 32,
                subscribers: 32,
                stuck: 200,
                burst: 6000,
                slow_burst: 12000,
                stop_secs: 30,
                tmpfs_mb: 64,
                disk_issuers: 32,
                timeout_secs: 3600,
            },
        };
        if let Some(v) = args.kills {
            s.kills = v;
        }
        if let Some(v) = args.issuers {
            s.issuers = v.max(1);
        }
        if let Some(v) = args.subscribers {
            s.subscribers = v.max(1);
        }
        if let Some(v) = args.stuck {
            s.stuck = v;
        }
        if let Some(v) = args.burst {
            s.burst = v.max(2);
        }
        if let Some(v) = args.stop_secs {
            s.stop_secs = v;
        }
        if let Some(v) = args.tmpfs_mb {
            s.tmpfs_mb = v.max(1);
        }
        if let Some(v) = args.timeout_secs {
            s.timeout_secs = v;
        }
        s
    }
}

/// What a scenario needs.
pub struct Ctx {
    pub exe: PathBuf,
    pub sizes: Sizes,
    tty: bool,
    verbose: bool,
    started: Instant,
}

impl Ctx {
    /// With `--verbose`, says on stderr what is about to happen.
    pub fn step(&self, what: &str) {
        if self.verbose {
            eprintln!("[{:7.2} s] {what}", self.started.elapsed().as_secs_f64());
        }
    }

    /// A progress bar on a terminal, nothing otherwise.
    pub fn bar(&self, len: u64, what: &str) -> ProgressBar {
        if !self.tty {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) =
            ProgressStyle::with_template("{msg:>28} [{bar:30}] {pos}/{len} {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

/// A scenario's figures, and what it found wrong.
pub struct Outcome {
    pub line: String,
    pub figures: Value,
    pub detail: Option<String>,
    pub failures: Vec<String>,
}

impl Outcome {
    pub fn new(line: String, figures: Value) -> Outcome {
        Outcome {
            line,
            figures,
            detail: None,
            failures: Vec::new(),
        }
    }

    /// Notes a failure unless `ok`.
    pub fn expect(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(what());
        }
    }
}

/// The clients' runtime: one worker, so that the scenario's own thread can block on starting
/// and killing servers while the issuers and subscribers run.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?)
}

pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

pub fn run(args: ChaosArgs) -> Result<()> {
    let sizes = Sizes::of(&args);
    let chosen: Vec<&str> = args
        .scenarios
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(bad) = chosen.iter().find(|s| !SCENARIOS.contains(s)) {
        bail!(
            "unknown scenario {bad:?}: expected some of {}",
            SCENARIOS.join(", ")
        );
    }
    let exe = crate::commands::tryvoga_path(args.tryvoga.clone())?;
    if !exe.is_file() {
        bail!("no tryvoga binary at {}", exe.display());
    }
    node::watchdog(Duration::from_secs(sizes.timeout_secs));
    let ctx = Ctx {
        exe,
        sizes,
        tty: std::io::stderr().is_terminal() && !args.verbose,
        verbose: args.verbose,
        started: Instant::now(),
    };
    let started = ctx.started;
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for name in chosen {
        let t = Instant::now();
        let outcome = match name {
            "kill9" => kill::run(&ctx),
            "resume" => resume::run(&ctx),
            "slow" => slow::run(&ctx),
            "disk" => disk::run(&ctx),
            "stop" => stop::run(&ctx),
            _ => fsync::run(&ctx),
        };
        match outcome {
            Ok(o) => {
                println!("{name}: {}", o.line);
                if let Some(d) = &o.detail {
                    println!("{d}");
                }
                let ok = o.failures.is_empty();
                for f in &o.failures {
                    println!("{name}: FAILED: {f}");
                }
                if !ok {
                    failed.push(name);
                }
                results.push(json!({"scenario": name, "ok": ok, "failures": o.failures, "figures": o.figures}));
            }
            Err(e) => {
                println!(
                    "{name}: FAILED after {:.1} s: {e:#}",
                    t.elapsed().as_secs_f64()
                );
                failed.push(name);
                results
                    .push(json!({"scenario": name, "ok": false, "failures": [format!("{e:#}")]}));
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    println!(
        "chaos: {} of {} scenarios ok in {:.1} s",
        results.len() - failed.len(),
        results.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        bail!("failed: {}", failed.join(", "));
    }
    Ok(())
}
