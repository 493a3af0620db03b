//! One `tryvoga serve` that a scenario starts, kills with SIGKILL, stops with SIGSTOP and
//! starts again on the same port and database, optionally under a wrapper (`strace`). Every
//! process started and every file system mounted is written down in a registry, so that the
//! watchdog can end them if a run overstays its time or is interrupted; a `Node` ends its own
//! processes when it is dropped, on success and on failure.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Processes started by this run and not yet reaped, in the order they were started.
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());
/// File systems mounted by this run and not yet unmounted.
static MOUNTS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// Set by SIGINT or SIGTERM.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn register(pid: u32) {
    if let Ok(mut live) = LIVE.lock() {
        live.push(pid);
    }
}

fn unregister(pid: u32) {
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|&p| p != pid);
    }
}

pub fn register_mount(path: &Path) {
    if let Ok(mut m) = MOUNTS.lock() {
        m.push(path.to_path_buf());
    }
}

pub fn unregister_mount(path: &Path) {
    if let Ok(mut m) = MOUNTS.lock() {
        m.retain(|p| p != path);
    }
}

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Sends `sig` to `pid`; false when there is no such process.
pub fn signal(pid: u32, sig: libc::c_int) -> bool {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
}

/// Ends everything registered: the newest first (a traced server before its tracer), woken
/// first in case it was stopped; then unmounts what was mounted.
pub fn end_everything() {
    let pids: Vec<u32> = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
    for &pid in pids.iter().rev() {
        signal(pid, libc::SIGCONT);
        signal(pid, libc::SIGKILL);
    }
    std::thread::sleep(Duration::from_millis(300));
    let mounts: Vec<PathBuf> = MOUNTS.lock().map(|m| m.clone()).unwrap_or_default();
    for m in mounts {
        let _ = Command::new("umount").arg("-l").arg(&m).status();
    }
}

/// A thread that ends the whole run (every process started, every mount) when `limit` has
/// passed or on SIGINT/SIGTERM, and exits with status 1.
pub fn watchdog(limit: Duration) {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let until = Instant::now() + limit;
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let interrupted = INTERRUPTED.load(Ordering::SeqCst);
            if interrupted || Instant::now() >= until {
                if interrupted {
                    eprintln!("chaos: interrupted; ending every process it started");
                } else {
                    eprintln!(
                        "chaos: over its time limit of {} s; ending every process it started",
                        limit.as_secs()
                    );
                }
                end_everything();
                std::process::exit(1);
            }
        }
    });
}

/// Processes whose parent is `parent` (a wrapper's child: the server under strace).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let rest = &s[s.rfind(')')? + 2..];
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

pub struct Node {
    exe: PathBuf,
    wrapper: Vec<OsString>,
    pub db: PathBuf,
    pub port: u16,
    extra: Vec<String>,
    child: Option<Child>,
    /// The server's own pid when it runs under a wrapper.
    inner: Option<u32>,
    /// The admin token printed on the first start.
    pub admin: Option<String>,
    log: PathBuf,
    /// How long each start took, from spawning to the port answering.
    pub start_times: Vec<Duration>,
}

impl Node {
    /// A node that will serve `db` on a free loopback port, its stderr appended to `log`.
    pub fn new(exe: &Path, db: PathBuf, log: PathBuf, extra: &[&str]) -> Result<Node> {
        Ok(Node {
            exe: exe.to_path_buf(),
            wrapper: Vec::new(),
            db,
            port: crate::targets::free_port()?,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
            inner: None,
            admin: None,
            log,
            start_times: Vec::new(),
        })
    }

    /// Runs the server as the last argument of `wrapper` (e.g. `strace -f -o FILE --`).
    pub fn wrapped(mut self, wrapper: Vec<OsString>) -> Node {
        self.wrapper = wrapper;
        self
    }

    /// Starts the server and waits until it prints `serving on` and its port answers.
    pub fn start(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("the node is already running");
        }
        let t = Instant::now();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let mut cmd = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&self.exe);
                c
            }
            None => Command::new(&self.exe),
        };
        cmd.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", self.port),
            "--db",
        ])
        .arg(&self.db)
        .args(&self.extra)
        .env("RUST_LOG", "warn")
        .env_remove("TRYVOGA_SIGNING_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.exe.display()))?;
        register(child.id());
        let stdout = child.stdout.take().context("stdout")?;
        let wrapper_pid = child.id();
        self.child = Some(child);
        let (tx, rx) = mpsc::channel();
        // Reads stdout to its end, so that the server never writes into a closed pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = t + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(token) = line.strip_prefix("admin token: ") {
                        self.admin = Some(token.trim().to_string());
                    }
                    if line.starts_with("serving on ") {
                        break;
                    }
                }
                Err(_) => {
                    let tail = self.log_tail(20);
                    self.stop();
                    bail!("tryvoga serve did not say `serving on` within 60 s; its log:\n{tail}");
                }
            }
        }
        if !self.wrapper.is_empty() {
            let found = loop {
                if let Some(&pid) = children_of(wrapper_pid).first() {
                    break Some(pid);
                }
                if Instant::now() > deadline {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            let pid = found.context("the wrapper's child (the server) was not found")?;
            register(pid);
            self.inner = Some(pid);
        }
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                self.stop();
                bail!("tryvoga serve is not answering on port {}", self.port);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.start_times.push(t.elapsed());
        Ok(())
    }

    /// The server's pid (not its wrapper's), while it runs.
    pub fn pid(&self) -> Option<u32> {
        if self.wrapper.is_empty() {
            self.child.as_ref().map(Child::id)
        } else {
            self.inner
        }
    }

    /// Sends `sig` to the server.
    pub fn signal(&self, sig: libc::c_int) -> Result<()> {
        let pid = self.pid().context("the node is not running")?;
        if !signal(pid, sig) {
            bail!("could not signal {pid}");
        }
        Ok(())
    }

    /// SIGKILL: no shutdown code runs. Waits until the process is gone.
    pub fn kill9(&mut self) -> Result<()> {
        self.signal(libc::SIGKILL)?;
        self.reap();
        Ok(())
    }

    /// True while the server process has not exited.
    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn reap(&mut self) {
        if let Some(mut child) = self.child.take() {
            if !self.wrapper.is_empty() {
                // The wrapper ends once its child is gone; give it a moment to write out.
                let until = Instant::now() + Duration::from_secs(10);
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let _ = child.kill();
            let _ = child.wait();
            unregister(child.id());
        }
        if let Some(pid) = self.inner.take() {
            unregister(pid);
        }
    }

    /// Ends the server (SIGCONT in case it was stopped, then SIGKILL) and reaps it.
    pub fn stop(&mut self) {
        if let Some(pid) = self.pid() {
            signal(pid, libc::SIGCONT);
            signal(pid, libc::SIGKILL);
        }
        self.reap();
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Lines of the server's log that tell of a panic.
    pub fn panics(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("panicked"))
            .count()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A tmpfs of `mb` MiB mounted at `at` (created), unmounted on drop.
pub struct Mount {
    pub at: PathBuf,
}

impl Mount {
    pub fn tmpfs(at: &Path, mb: u64) -> Result<Mount> {
        std::fs::create_dir_all(at)?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mb}m,mode=0700"),
                "tryvoga-chaos",
            ])
            .arg(at)
            .output()
            .context("running mount (util-linux)")?;
        if !out.status.success() {
            bail!(
                "mount -t tmpfs -o size={mb}m at {} failed (the full-disk scenario needs root, \
                 or CAP_SYS_ADMIN): {}",
                at.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        register_mount(at);
        Ok(Mount {
            at: at.to_path_buf(),
        })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.at)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.at).status();
        }
        unregister_mount(&self.at);
    }
}

/// A scenario's starting point: a server on a fresh database in its own scratch directory,
/// its first admin token, a runtime for the async clients and the regions they may use.
pub struct Fresh {
    /// Declared before `dir`, so the server is stopped before its directory goes.
    pub node: Node,
    pub dir: crate::targets::tempdir::Dir,
    pub token: String,
    pub rt: tokio::runtime::Runtime,
    pub keys: Vec<(u32, &'static str)>,
}

impl Fresh {
    pub fn start(exe: &Path, name: &str) -> Result<Fresh> {
        let dir = crate::targets::tempdir::Dir::new(name)?;
        let mut node = Node::new(exe, dir.0.join("tryvoga.db"), dir.0.join("serve.log"), &[])?;
        node.start()?;
        let token = node
            .admin
            .clone()
            .context("the first start printed no admin token")?;
        let rt = super::runtime()?;
        let keys = rt.block_on(super::client::region_keys(node.port))?;
        Ok(Fresh {
            node,
            dir,
            token,
            rt,
            keys,
        })
    }
}
