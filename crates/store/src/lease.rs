//! Leases: a named right to run something that must run on exactly one node of a shared
//! record, such as one output's delivery pipeline. A lease is held by one holder until it
//! expires; its holder renews it well before then, and once it has expired anyone may take it.
//!
//! Expiry is measured by the database's clock, never by the nodes': the database is the one
//! clock every node asks, so two nodes whose own clocks disagree still agree on who holds a
//! lease. A holder also keeps its own, more cautious, deadline (counted from before it asked),
//! so that it stops before the database could give the lease to someone else.

use std::sync::Arc;
use std::time::Duration;

use crate::StoreError;

/// Taking, renewing and giving back leases. Calls block, like the reads: async callers use
/// `spawn_blocking`. Unlike the rest of the record, leases are written straight away rather
/// than through the writer's next batch: a renewal that waited behind a batch of commands
/// could be late, and a lease is worth nothing once it is late.
pub trait Leases {
    /// Takes the lease `name` for `holder` for `ttl` from now (by the database's clock), if
    /// it is free, expired or already `holder`'s (which renews it). Whether `holder` now
    /// holds it.
    fn take(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError>;
    /// Gives the lease back, if `holder` holds it, so that another may take it at once.
    fn release(&self, name: &str, holder: &str) -> Result<(), StoreError>;
    /// Who holds the lease now (unexpired, by the database's clock), if anyone.
    fn holder(&self, name: &str) -> Result<Option<String>, StoreError>;
}

/// The leases of a record, shared by every handle.
pub type SharedLeases = Arc<dyn Leases + Send + Sync>;

/// A lease's length in whole milliseconds, at least one, as the databases take it.
pub(crate) fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1)
}
