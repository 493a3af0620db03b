//! The record's contract (`suite`) on the embedded SQLite backend.

mod suite;

use std::sync::Arc;

use suite::Backend;
use tryvoga_store::sqlite::{self, SqliteLog};

fn fresh() -> Backend<SqliteLog> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (log, queries) = sqlite::open(&dir.path().join("suite.db")).expect("open");
    let queries = Arc::new(queries);
    Backend {
        log,
        queries: Arc::clone(&queries) as _,
        leases: queries,
        _keep: Box::new(dir),
    }
}

#[test]
fn the_sqlite_backend_keeps_the_records_contract() {
    suite::run(&fresh);
}
