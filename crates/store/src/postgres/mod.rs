//! The scale-out backend: PostgreSQL as the log of record, shared by any number of `serve`
//! nodes. Each node's writer owns one connection ([`PgLog`]) and appends under the log's head
//! lock (`SELECT … FOR UPDATE` on the one `log_head` row), after folding in whatever other
//! nodes appended since its state was last brought up to date; reads use pooled connections
//! ([`PgQueries`]); a third connection LISTENs for other nodes' commits ([`PgWatch`]). The
//! tables mean what the SQLite ones mean (`crate::sqlite`), so the same suite holds for both.
//! Connections are made lazily and made again after a failure, so a database that went away
//! answers with errors while it is down and is used again once it is back, with no restart.

mod append;
mod lease;
mod outputs;
mod reads;
mod reports;
mod schema;
pub mod scratch;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use postgres::{Client, Config, NoTls};

pub use append::{PgLog, PgWatch};
pub use schema::VERSION as SCHEMA_VERSION;

use crate::StoreError;

/// How long a connection attempt may take before the request that needed it is answered
/// with an error: a database that is down must never hang a client past a few seconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether `db` names a PostgreSQL database (`postgres://…` or `postgresql://…`) rather than a
/// SQLite file.
pub fn is_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// `url` with any password replaced, for logs and error messages.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_string(),
    }
}

/// How every connection of this backend is made.
#[derive(Clone)]
pub(crate) struct Connector {
    config: Config,
}

impl Connector {
    fn new(url: &str) -> Result<Connector, StoreError> {
        let mut config: Config = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("{}: {e}", redacted(url))))?;
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(5))
            .application_name("tryvoga")
            // A statement or a lock wait that outlasts these is a database in trouble: the
            // request gets an error instead of waiting on it.
            .options("-c statement_timeout=10000 -c lock_timeout=5000 -c idle_in_transaction_session_timeout=15000");
        Ok(Connector { config })
    }

    pub(crate) fn connect(&self) -> Result<Client, StoreError> {
        Ok(self.config.connect(NoTls)?)
    }
}

/// The read half of a PostgreSQL record: a few idle connections kept for reuse.
pub struct PgQueries {
    connector: Connector,
    /// Connections not in use, with when each was last used.
    idle: Mutex<Vec<(Client, Instant)>>,
}

/// Whether a read's connection died under it.
enum Lost {
    Nothing,
    Connection,
}

/// Idle read connections kept beyond this are closed.
const MAX_IDLE: usize = 8;

/// How long a pooled connection has to answer an empty query before it is replaced.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection idle for longer than this is checked before use: under load connections are
/// reused at once and go unchecked, so the check costs a round trip only to a quiet node.
const RECHECK_AFTER: Duration = Duration::from_millis(500);

impl PgQueries {
    fn with<T: Send>(
        &self,
        f: impl FnMut(&mut Client) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        off_runtime(|| self.with_here(f))
    }

    /// Runs a read on a pooled connection. A read that failed because its connection had
    /// died (the server restarted since it was last used, within [`RECHECK_AFTER`]) is run
    /// once more on a new one: reads change nothing, and the rest of the pool died with it.
    fn with_here<T>(
        &self,
        mut f: impl FnMut(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self.once(&mut f)? {
            (Err(_), Lost::Connection) => {
                self.idle.lock().map_err(|_| StoreError::Poisoned)?.clear();
                self.once(&mut f)?.0
            }
            (result, _) => result,
        }
    }

    /// The read's result, and whether its connection was lost under it; the outer error is
    /// the pool's own.
    fn once<T>(
        &self,
        f: &mut impl FnMut(&mut Client) -> Result<T, StoreError>,
    ) -> Result<(Result<T, StoreError>, Lost), StoreError> {
        let taken = self.idle.lock().map_err(|_| StoreError::Poisoned)?.pop();
        let mut client = match taken {
            Some((c, _)) if c.is_closed() => self.connector.connect()?,
            // A connection idle for a while may have died with a restarted server without
            // having noticed: it would fail the first statement given to it. It is asked an
            // empty query first; when it does not answer, the rest of the pool died with it.
            Some((mut c, since)) if since.elapsed() > RECHECK_AFTER => {
                if c.is_valid(CHECK_TIMEOUT).is_ok() {
                    c
                } else {
                    self.idle.lock().map_err(|_| StoreError::Poisoned)?.clear();
                    self.connector.connect()?
                }
            }
            Some((c, _)) => c,
            None => self.connector.connect()?,
        };
        let result = f(&mut client);
        if client.is_closed() {
            return Ok((result, Lost::Connection));
        }
        let mut idle = self.idle.lock().map_err(|_| StoreError::Poisoned)?;
        if idle.len() < MAX_IDLE {
            idle.push((client, Instant::now()));
        }
        Ok((result, Lost::Nothing))
    }
}

impl Drop for PgQueries {
    fn drop(&mut self) {
        // Closing a client blocks on its runtime too.
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|p| p.into_inner()));
        off_runtime(move || drop(idle));
    }
}

/// Runs blocking database work where it may block. The `postgres` client drives each call
/// on a runtime of its own, which tokio forbids inside another runtime's task: the reads are
/// documented as blocking and mostly called from blocking threads, but some callers (start-up,
/// the command line) are async, so on a runtime's worker the work is moved out of it first.
pub(crate) fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Err(_) => f(),
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        // A single-threaded runtime cannot lend its thread: the work goes to a thread of its own.
        Ok(_) => std::thread::scope(|s| {
            s.spawn(f)
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }),
    }
}

/// Opens the database at `url`, bringing its schema up to date: its writer and its reads.
pub fn open(url: &str) -> Result<(PgLog, PgQueries), StoreError> {
    off_runtime(|| open_here(url))
}

fn open_here(url: &str) -> Result<(PgLog, PgQueries), StoreError> {
    let connector = Connector::new(url)?;
    let mut client = connector.connect()?;
    schema::migrate(&mut client)?;
    Ok((
        PgLog::new(connector.clone(), client),
        PgQueries {
            connector,
            idle: Mutex::new(Vec::new()),
        },
    ))
}

pub(crate) fn seq(v: i64) -> u64 {
    v.max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_a_log_line() {
        assert_eq!(
            redacted("postgres://tv:s3cret@db.local:5432/tryvoga"),
            "postgres://tv:***@db.local:5432/tryvoga"
        );
        assert_eq!(redacted("postgres://db/x"), "postgres://db/x");
        assert!(is_url("postgresql://h/d") && !is_url("./tryvoga.db"));
    }
}
