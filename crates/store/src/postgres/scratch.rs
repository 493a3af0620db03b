//! A throwaway PostgreSQL cluster on this machine, for the tests and benchmarks that need a
//! real server: `initdb` into a temporary directory, `pg_ctl` on a free loopback port, run as
//! the `postgres` user when started by root (PostgreSQL refuses to run as root). Stopped and
//! removed when dropped, on success and on failure alike. A missing PostgreSQL is an error
//! that says what to install, never a silent skip.

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
        let cluster = ScratchCluster {
            bin,
            dir,
            port: free_port()?,
            as_postgres,
        };
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
