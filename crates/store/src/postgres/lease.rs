//! Leases in PostgreSQL, timed by the server's clock (`clock_timestamp()`: the time of the
//! statement itself, not of its transaction's start), so that every node agrees on when a
//! lease expires whatever its own clock says. A take is one statement: an upsert that only
//! overwrites a lease that is the taker's own or has expired, so two nodes racing for a free
//! lease cannot both win it (the row's primary key orders them).

use std::time::Duration;

use super::PgQueries;
use crate::StoreError;
use crate::lease::{Leases, ttl_ms};

impl Leases for PgQueries {
    fn take(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.with(|c| {
            let changed = c.execute(
                "INSERT INTO leases (name, holder, expires_at)
                 VALUES ($1, $2, clock_timestamp() + $3::float8 * interval '1 millisecond')
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                     expires_at = excluded.expires_at
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= clock_timestamp()",
                &[&name, &holder, &(ttl_ms(ttl) as f64)],
            )?;
            Ok(changed == 1)
        })
    }

    fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM leases WHERE name = $1 AND holder = $2",
                &[&name, &holder],
            )?;
            Ok(())
        })
    }

    fn holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT holder FROM leases WHERE name = $1 AND expires_at > clock_timestamp()",
                &[&name],
            )?
            .map(|r| r.get(0)))
        })
    }
}
