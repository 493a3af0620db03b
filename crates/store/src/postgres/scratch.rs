//! A throwaway PostgreSQL cluster on this machine, for the tests and benchmarks that need a
//! real server: `initdb` into a temporary directory, `pg_ctl` on a free loopback port, run as
//! the `postgres` user when started by root (PostgreSQL refuses to run as root). Stopped and
//! removed when dropped, on success and on failure alike. A missing PostgreSQL is an error
//! that says what to install, never a silent skip.
//!
//! [`SyncPair`] is a primary with a synchronous streaming standby (`pg_basebackup -R`, its own
//! port), for the failover test and the benchmarks: the primary can be killed as a crashed
//! machine would be, and the standby promoted in its place.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::StoreError;

/// A PostgreSQL server of its own, in a temporary directory.
pub struct ScratchCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl ScratchCluster {
    /// Makes and starts a cluster. `TRYVOGA_PG_BIN` names the directory of `initdb` and
    /// `pg_ctl` if they are not where Debian puts them.
    pub fn start() -> Result<ScratchCluster, StoreError> {
        let cluster = ScratchCluster::empty()?;
        cluster.pg(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
        )?;
        cluster.resume()?;
        Ok(cluster)
    }

    /// A temporary directory and a free port, with no data directory yet.
    fn empty() -> Result<ScratchCluster, StoreError> {
        let bin = bin_dir().ok_or_else(|| {
            StoreError::Invalid(
                "PostgreSQL's initdb and pg_ctl were not found: install postgresql-15 \
                 (bash .ci/run does) or set TRYVOGA_PG_BIN"
                    .into(),
            )
        })?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tryvoga-pg-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let as_postgres = running_as_root();
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(&dir), &dir)?;
        }
        Ok(ScratchCluster {
            bin,
            dir,
            port: free_port()?,
            as_postgres,
        })
    }

    /// A streaming standby of `primary` on a port of its own: `pg_basebackup -R` of the
    /// primary's data, started in hot standby. It replays the primary's WAL from then on.
    fn standby_of(primary: &ScratchCluster) -> Result<ScratchCluster, StoreError> {
        let standby = ScratchCluster::empty()?;
        standby.pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                "postgres",
                "-D",
                &standby.data(),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
        )?;
        // A standby that lost its primary retries streaming every wal_retrieve_retry_interval
        // (5 s by default) and was seen to take that long to act on a promotion that arrived
        // meanwhile: it retries sooner here, so a failover is not held up by the wait.
        let auto = standby.dir.join("data").join("postgresql.auto.conf");
        let mut conf = std::fs::read_to_string(&auto).map_err(|e| io(&auto, e))?;
        conf.push_str("wal_retrieve_retry_interval = '100ms'\n");
        std::fs::write(&auto, conf).map_err(|e| io(&auto, e))?;
        standby.resume()?;
        Ok(standby)
    }

    /// The server's answer to one query of one text column (`None` for no row).
    fn ask(&self, sql: &str) -> Result<Option<String>, StoreError> {
        let url = self.url("postgres");
        super::off_runtime(|| {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            Ok(client.query_opt(sql, &[])?.map(|r| r.get(0)))
        })
    }

    /// The postmaster's pid, from its `postmaster.pid`.
    fn postmaster(&self) -> Result<u32, StoreError> {
        let pid_file = self.dir.join("data").join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file).map_err(|e| io(&pid_file, e))?;
        text.lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| StoreError::Invalid(format!("{}: no pid", pid_file.display())))
    }

    /// The server's processes as they are now: the postmaster and its children (backends,
    /// WAL writer, checkpointer…), e.g. to count the CPU they spend.
    pub fn processes(&self) -> Vec<u32> {
        match self.postmaster() {
            Ok(pid) => std::iter::once(pid).chain(children(pid)).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Kills the postmaster and its backends with SIGKILL, as a crashed machine would stop
    /// them: nothing is flushed or shut down, and whatever was not yet on the standby is lost.
    /// Returns once the postmaster is gone.
    pub fn kill9(&self) -> Result<(), StoreError> {
        let pid = self.postmaster()?;
        // Each backend is a session of its own, so the postmaster's children are found by
        // parent and killed with it (the postmaster first, so that it restarts none of them).
        let mut pids = vec![pid];
        pids.extend(children(pid));
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(pids.iter().map(u32::to_string))
            .output();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while alive(pid) {
            if std::time::Instant::now() > deadline {
                return Err(StoreError::Invalid(format!(
                    "the postmaster {pid} outlived kill -9"
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Ok(())
    }

    /// A URL for database `name`, created if it does not exist yet.
    pub fn database(&self, name: &str) -> Result<String, StoreError> {
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(StoreError::Invalid(format!("database name {name:?}")));
        }
        let admin_url = self.url("postgres");
        super::off_runtime(|| {
            let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls)?;
            let exists = admin
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])?
                .is_some();
            if !exists {
                admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
            }
            Ok(self.url(name))
        })
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory, e.g. for a standby's `pg_basebackup`.
    pub fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`).
    pub fn stop_immediate(&self) -> Result<(), StoreError> {
        self.pg(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        )
    }

    /// Starts the server again on the same port and data.
    pub fn resume(&self) -> Result<(), StoreError> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").display().to_string();
        self.pg(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
    }

    fn pg(&self, program: &str, args: &[&str]) -> Result<(), StoreError> {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        command.args(args).current_dir(&self.dir);
        run(&mut command, &path)
    }
}

/// A primary and its synchronous streaming standby: `synchronous_standby_names` is set on the
/// primary once the standby streams, so a COMMIT returns only after the standby has the
/// commit's WAL on its disk. Both are stopped and removed when dropped.
pub struct SyncPair {
    primary: ScratchCluster,
    standby: ScratchCluster,
}

impl SyncPair {
    /// Starts both and returns once the primary reports its standby `sync`.
    pub fn start() -> Result<SyncPair, StoreError> {
        let primary = ScratchCluster::start()?;
        let standby = ScratchCluster::standby_of(&primary)?;
        // Set after the base backup, so that the standby's copy of the configuration does not
        // hold it: promoted, it would wait on every commit for a standby of its own.
        let url = primary.url("postgres");
        super::off_runtime(|| {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            client.batch_execute("ALTER SYSTEM SET synchronous_standby_names = '*'")?;
            client.batch_execute("ALTER SYSTEM SET synchronous_commit = 'on'")?;
            client.batch_execute("SELECT pg_reload_conf()")?;
            Ok::<_, StoreError>(())
        })?;
        let pair = SyncPair { primary, standby };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let state = pair
                .primary
                .ask("SELECT sync_state::text FROM pg_stat_replication")?;
            if state.as_deref() == Some("sync") {
                return Ok(pair);
            }
            if std::time::Instant::now() > deadline {
                return Err(StoreError::Invalid(format!(
                    "the standby did not become synchronous (sync_state {state:?})"
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    pub fn primary(&self) -> &ScratchCluster {
        &self.primary
    }

    pub fn standby(&self) -> &ScratchCluster {
        &self.standby
    }

    /// A multi-host URL for database `name` (created on the primary, and so on the standby):
    /// both servers, `target_session_attrs=read-write`, so that a client connects to whichever
    /// of them accepts writes.
    pub fn database(&self, name: &str) -> Result<String, StoreError> {
        self.primary.database(name)?;
        Ok(self.url(name))
    }

    /// The multi-host URL of database `name`.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{database}?target_session_attrs=read-write",
            self.primary.port, self.standby.port
        )
    }

    /// The primary's end: see [`ScratchCluster::kill9`].
    pub fn kill_primary(&self) -> Result<(), StoreError> {
        self.primary.kill9()
    }

    /// Promotes the standby (`pg_ctl promote`) and returns once it accepts writes.
    pub fn promote(&self) -> Result<(), StoreError> {
        self.standby.pg(
            "pg_ctl",
            // Not -w: pg_ctl looks every 100 ms; the server is asked more often below.
            &["-D", &self.standby.data(), "-W", "promote"],
        )?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if self
                .standby
                .ask("SELECT pg_is_in_recovery()::text")?
                .as_deref()
                == Some("false")
            {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(StoreError::Invalid(
                    "the standby was still in recovery 30 s after its promotion".into(),
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

impl Drop for ScratchCluster {
    fn drop(&mut self) {
        let _ = self.stop_immediate();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TRYVOGA_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|ppid| ppid.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

/// Whether process `pid` still runs (a zombie no longer does).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn free_port() -> Result<u16, StoreError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| io(Path::new("127.0.0.1:0"), e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| io(Path::new("127.0.0.1:0"), e))
}

fn run(command: &mut Command, what: &Path) -> Result<(), StoreError> {
    let Output { status, stderr, .. } = command.output().map_err(|e| io(what, e))?;
    if status.success() {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{} failed ({status}): {}",
            what.display(),
            String::from_utf8_lossy(&stderr).trim()
        )))
    }
}

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}
