//! The database schema and its versioned migrations (tracked in `PRAGMA user_version`).

use rusqlite::Connection;

use crate::StoreError;

/// Each entry moves the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY,
    at_ms      INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    issuer     TEXT,
    region_id  INTEGER,
    payload    TEXT NOT NULL
);
CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY,
    region_id     INTEGER NOT NULL,
    oblast_id     INTEGER NOT NULL,
    type          TEXT NOT NULL,
    level         TEXT,
    status        TEXT NOT NULL,
    started_ms    INTEGER NOT NULL,
    ended_ms      INTEGER,
    cancelled     INTEGER NOT NULL DEFAULT 0,
    origin        TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    json          TEXT NOT NULL
);
CREATE INDEX alerts_by_region ON alerts (region_id, started_ms);
CREATE INDEX alerts_by_oblast ON alerts (oblast_id, started_ms);
CREATE INDEX alerts_by_start ON alerts (started_ms);
CREATE INDEX alerts_active ON alerts (id) WHERE ended_ms IS NULL;
CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    hash        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER
);
CREATE TABLE audit (
    id        INTEGER PRIMARY KEY,
    at_ms     INTEGER NOT NULL,
    token     TEXT,
    action    TEXT NOT NULL,
    request   TEXT,
    outcome   TEXT NOT NULL,
    code      TEXT NOT NULL,
    reason    TEXT,
    seq       INTEGER
);
CREATE TABLE idempotency (
    token        TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    PRIMARY KEY (token, key)
);
"#,
    r#"
-- Imported history: one key per dataset row, so that re-running an import adds nothing.
CREATE TABLE imported (
    source      TEXT NOT NULL,
    region_id   INTEGER NOT NULL,
    type        TEXT NOT NULL,
    started_ms  INTEGER NOT NULL,
    alert_id    INTEGER NOT NULL,
    file        TEXT NOT NULL,
    line        INTEGER NOT NULL,
    PRIMARY KEY (source, region_id, type, started_ms)
) WITHOUT ROWID;
"#,
    r#"
-- Compatibility APIs: ukrainealarm-style webhooks (one per token, as that API keeps one per
-- key) with the log position delivered so far, and the key that signs their deliveries.
-- IF NOT EXISTS: this step was written alongside another and may have run under another number.
CREATE TABLE IF NOT EXISTS compat_webhooks (
    token          TEXT PRIMARY KEY,
    url            TEXT NOT NULL,
    created_ms     INTEGER NOT NULL,
    updated_ms     INTEGER NOT NULL,
    delivered_seq  INTEGER NOT NULL,
    failures       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT
);
CREATE TABLE IF NOT EXISTS compat_signing_keys (
    key_id       TEXT PRIMARY KEY,
    private_pem  TEXT NOT NULL,
    created_ms   INTEGER NOT NULL
);
"#,
    r#"
-- Outputs (issue 7). The events of one alert, for its CAP messages.
CREATE INDEX IF NOT EXISTS events_by_alert ON events (json_extract(payload, '$.alert.id'));
-- Native webhooks: a subscription per receiver with its filters, signing scheme and secret,
-- and the log position delivered so far; deliveries that ran out of attempts are kept.
CREATE TABLE IF NOT EXISTS webhooks (
    id             TEXT PRIMARY KEY,
    owner          TEXT NOT NULL,
    url            TEXT NOT NULL,
    regions        TEXT,
    types          TEXT,
    signing        TEXT NOT NULL,
    secret         TEXT,
    created_ms     INTEGER NOT NULL,
    delivered_seq  INTEGER NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT
);
CREATE TABLE IF NOT EXISTS webhook_dead_letters (
    id           INTEGER PRIMARY KEY,
    webhook      TEXT NOT NULL,
    delivery     TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    attempts     INTEGER NOT NULL,
    last_error   TEXT NOT NULL,
    failed_ms    INTEGER NOT NULL,
    UNIQUE (webhook, seq)
);
"#,
    r#"
-- Reports and threats read from official texts (issue 6), materialised from their events.
-- The key is derived from the source text, so that the same text read twice is one record;
-- time_ms is when the attack happened (the report's period), for per-night totals.
CREATE TABLE IF NOT EXISTS reports (
    key      TEXT PRIMARY KEY,
    seq      INTEGER NOT NULL UNIQUE,
    at_ms    INTEGER NOT NULL,
    time_ms  INTEGER NOT NULL,
    json     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_by_time ON reports (time_ms);
CREATE TABLE IF NOT EXISTS threats (
    key      TEXT PRIMARY KEY,
    seq      INTEGER NOT NULL UNIQUE,
    at_ms    INTEGER NOT NULL,
    json     TEXT NOT NULL
);
"#,
    r#"
-- Outputs across nodes (issue 14). Leases: who runs each output's one pipeline, until when
-- by the database's clock (Unix ms). Positions of the outputs that have no table of their own
-- (MQTT), so that whichever node runs them next resumes where the last one stopped.
CREATE TABLE IF NOT EXISTS leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_ms  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS output_positions (
    name           TEXT PRIMARY KEY,
    delivered_seq  INTEGER NOT NULL
);
"#,
];

pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to [`VERSION`], each step in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > VERSION {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known: VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        // IMMEDIATE, as every write of this backend: two processes opening an old file at once
        // wait for each other instead of failing to promote a read.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Settings every connection needs: WAL so readers never block the writer, and FULL sync so
/// a commit is on disk before anyone is told it happened.
pub fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file left at the previous version by an older tryvoga.
    fn at_version(conn: &mut Connection, version: i64) {
        for (i, sql) in MIGRATIONS.iter().enumerate().take(version as usize) {
            let tx = conn.transaction().unwrap();
            tx.execute_batch(sql).unwrap();
            tx.pragma_update(None, "user_version", i as i64 + 1)
                .unwrap();
            tx.commit().unwrap();
        }
    }

    #[test]
    fn an_older_file_gains_the_lease_and_position_tables_and_keeps_its_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        at_version(&mut conn, VERSION - 1);
        conn.execute(
            "INSERT INTO webhooks (id, owner, url, signing, created_ms, delivered_seq)
             VALUES ('wh_1', 'admin', 'http://127.0.0.1:9/', 'hmac-sha256', 0, 7)",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, VERSION);
        let kept: i64 = conn
            .query_row("SELECT delivered_seq FROM webhooks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 7);
        for table in ["leases", "output_positions"] {
            let n: i64 = conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 0, "{table} is there, empty");
        }
        // Migrating again is a no-op.
        migrate(&mut conn).unwrap();
    }

    #[test]
    fn a_file_from_a_newer_tryvoga_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(StoreError::SchemaTooNew { .. })
        ));
    }
}
