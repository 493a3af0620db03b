//! The embedded backend: one SQLite file in WAL mode with `synchronous=FULL`. The writer thread
//! owns the one read-write connection ([`SqliteLog`]); reads use pooled read-only connections
//! ([`SqliteQueries`]), and leases a read-write connection of their own. Every SQL statement
//! of the workspace lives under this module.

mod append;
mod lease;
mod outputs;
mod pool;
pub(crate) mod reads;
mod reports;
mod schema;

use std::path::Path;

use rusqlite::Connection;

pub use append::SqliteLog;
pub use schema::VERSION as SCHEMA_VERSION;

use crate::StoreError;
use pool::ReadPool;

/// The read half of a SQLite record.
pub struct SqliteQueries {
    pool: ReadPool,
    /// The one read-write connection besides the writer's, for leases.
    leases: lease::LeaseConn,
}

impl SqliteQueries {
    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.pool.with(f)
    }
}

/// Opens (creating and migrating if needed) the database at `path`: its writer and its reads.
pub fn open(path: &Path) -> Result<(SqliteLog, SqliteQueries), StoreError> {
    let mut conn = Connection::open(path)?;
    schema::configure(&conn)?;
    schema::migrate(&mut conn)?;
    Ok((
        SqliteLog::new(conn),
        SqliteQueries {
            pool: ReadPool::new(path.to_path_buf()),
            leases: lease::LeaseConn::new(path.to_path_buf()),
        },
    ))
}
