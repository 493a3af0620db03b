//! Leases in SQLite, timed by SQLite's own clock (`julianday('now')`, in milliseconds).
//!
//! One node holds a SQLite file (`serve` takes its lock), so its leases are always won; they
//! are kept all the same, so that the outputs run the same way on either backend. They are
//! written on a connection of their own rather than the writer's, with `synchronous=NORMAL`:
//! a lease lost in a crash is harmless (it would have expired by the time anyone looked), and
//! renewing every few seconds should not cost an fsync each time.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::StoreError;
use crate::lease::{Leases, ttl_ms};
use crate::sqlite::SqliteQueries;

/// The database's time now, in Unix milliseconds.
const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

/// The read-write connection leases are kept on, opened on first use and again after a
/// failure.
pub(crate) struct LeaseConn {
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
}

impl LeaseConn {
    pub(crate) fn new(path: PathBuf) -> LeaseConn {
        LeaseConn {
            path,
            conn: Mutex::new(None),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut slot = self.conn.lock().map_err(|_| StoreError::Poisoned)?;
        let mut conn = match slot.take() {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                c.pragma_update(None, "synchronous", "NORMAL")?;
                // Shorter than a lease: a renewal stuck behind a long write is better failed.
                c.busy_timeout(Duration::from_secs(2))?;
                c
            }
        };
        let result = f(&mut conn);
        // A connection that failed is not trusted again.
        if result.is_ok() {
            *slot = Some(conn);
        }
        result
    }
}

impl Leases for SqliteQueries {
    fn take(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.leases.with(|c| {
            // IMMEDIATE, as every write of this backend: the upsert reads the row it may
            // overwrite, and a read snapshot made stale by the writer could not be promoted.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let changed = tx
                .prepare_cached(&format!(
                    "INSERT INTO leases (name, holder, expires_ms) VALUES (?1, ?2, {NOW_MS} + ?3)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                         expires_ms = excluded.expires_ms
                     WHERE leases.holder = excluded.holder OR leases.expires_ms <= {NOW_MS}"
                ))?
                .execute(params![name, holder, ttl_ms(ttl)])?;
            tx.commit()?;
            Ok(changed == 1)
        })
    }

    fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.leases.with(|c| {
            c.prepare_cached("DELETE FROM leases WHERE name = ?1 AND holder = ?2")?
                .execute(params![name, holder])?;
            Ok(())
        })
    }

    fn holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT holder FROM leases WHERE name = ?1 AND expires_ms > {NOW_MS}"
            ))?
            .query_row([name], |r| r.get(0))
            .optional()?)
        })
    }
}
