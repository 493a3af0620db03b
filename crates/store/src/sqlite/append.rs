//! The SQLite [`EventLog`]: one read-write connection, owned by the writer thread. A batch is
//! one transaction; every statement is prepared once and kept (the connection's statement
//! cache), so a busy writer does not parse SQL again for each request.

use rusqlite::{Connection, OptionalExtension, params};
use tryvoga_core::{AlertId, Event, State};

use crate::log::{Applied, Batch, EventLog, ImportKey, Recorded, TokenWrite};
use crate::sqlite::{reads, reports};
use crate::{StoreError, ms};

/// Prepared statements the writer keeps: every statement of the command path is prepared
/// once and reused.
const STATEMENT_CACHE: usize = 64;

pub struct SqliteLog {
    conn: Connection,
}

impl SqliteLog {
    pub(crate) fn new(conn: Connection) -> SqliteLog {
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        SqliteLog { conn }
    }
}

impl EventLog for SqliteLog {
    fn restore(&mut self) -> Result<State, StoreError> {
        let mut state = State::restore(
            reads::active_alerts(&self.conn)?,
            reads::max_alert_id(&self.conn)?,
            reads::last_seq(&self.conn)?,
        );
        for event in reads::situation_events(&self.conn)? {
            state.apply(&event);
        }
        Ok(state)
    }

    fn newest_signature(&mut self) -> Result<Option<String>, StoreError> {
        // A note that quotes `"sig":` is escaped inside the payload, so only the top-level
        // member matches; the payload is still parsed to read it.
        let payload: Option<String> = self
            .conn
            .query_row(
                "SELECT payload FROM events WHERE instr(payload, '\"sig\":') > 0
                 ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let Some(payload) = payload else {
            return Ok(None);
        };
        let event: Event = serde_json::from_str(&payload)?;
        Ok(event.sig)
    }

    fn event(&mut self, seq: u64) -> Result<Option<Event>, StoreError> {
        reads::event_at(&self.conn, seq)
    }

    fn idempotency(&mut self, token: &str, key: &str) -> Result<Option<(String, u64)>, StoreError> {
        let found: Option<(String, i64)> = self
            .conn
            .prepare_cached(
                "SELECT fingerprint, seq FROM idempotency WHERE token = ?1 AND key = ?2",
            )?
            .query_row(params![token, key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(found.map(|(f, seq)| (f, seq as u64)))
    }

    fn recorded(&mut self, what: Recorded, key: &str) -> Result<Option<u64>, StoreError> {
        reports::recorded(&self.conn, what, key)
    }

    fn imported(&mut self, key: &ImportKey) -> Result<Option<AlertId>, StoreError> {
        let id: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT alert_id FROM imported
                 WHERE source = ?1 AND region_id = ?2 AND type = ?3 AND started_ms = ?4",
            )?
            .query_row(
                params![
                    key.source,
                    key.region.0,
                    key.alert_type.as_str(),
                    key.started_ms
                ],
                |r| r.get(0),
            )
            .optional()?;
        Ok(id.map(|id| AlertId(id as u64)))
    }

    fn token_named(&mut self, name: &str) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM tokens WHERE name = ?1)",
            [name],
            |r| r.get(0),
        )?)
    }

    fn append(&mut self, batch: &Batch) -> Result<Applied, StoreError> {
        // IMMEDIATE: the write lock is taken (waiting out the busy timeout) before anything is
        // read, so a batch never holds a read snapshot that another process's commit makes
        // stale ("cannot promote read transaction"), whoever else writes the file offline.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for event in &batch.events {
            append_event(&tx, event)?;
        }
        for row in &batch.idempotency {
            tx.prepare_cached(
                "INSERT INTO idempotency (token, key, fingerprint, seq) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![row.token, row.key, row.fingerprint, row.seq as i64])?;
        }
        for row in &batch.imported {
            tx.prepare_cached(
                "INSERT INTO imported (source, region_id, type, started_ms, alert_id, file, line)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                row.key.source,
                row.key.region.0,
                row.key.alert_type.as_str(),
                row.key.started_ms,
                row.alert.0 as i64,
                row.file,
                row.line as i64
            ])?;
        }
        for row in &batch.audit {
            let entry = &row.entry;
            tx.prepare_cached(
                "INSERT INTO audit (at_ms, token, action, request, outcome, code, reason, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                ms(row.at),
                entry.token,
                entry.action,
                entry.request,
                if entry.code == "ok" {
                    "accepted"
                } else {
                    "refused"
                },
                entry.code,
                entry.reason,
                row.seq.map(|s| s as i64)
            ])?;
        }
        let mut applied = Applied::default();
        for write in &batch.tokens {
            applied.tokens.push(token_write(&tx, write)?);
        }
        for write in &batch.outputs {
            applied.outputs.push(super::outputs::write(&tx, write)?);
        }
        tx.commit()?;
        Ok(applied)
    }
}

/// Appends an event to the log and brings the materialised tables in line with it.
fn append_event(conn: &Connection, event: &Event) -> Result<(), StoreError> {
    let payload = serde_json::to_string(event)?;
    conn.prepare_cached(
        "INSERT INTO events (seq, at_ms, kind, issuer, region_id, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        event.seq as i64,
        ms(event.at),
        event.kind(),
        event.issuer,
        event.body.region().map(|r| r.0),
        payload
    ])?;
    if let Some(alert) = event.body.alert() {
        conn.prepare_cached(
            "INSERT INTO alerts (id, region_id, oblast_id, type, level, status, started_ms,
                                 ended_ms, cancelled, origin, seq, json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (id) DO UPDATE SET level = excluded.level, ended_ms = excluded.ended_ms,
                 cancelled = excluded.cancelled, seq = excluded.seq, json = excluded.json",
        )?
        .execute(params![
            alert.id.0 as i64,
            alert.region.id.0,
            alert.region.oblast_id.0,
            alert.alert_type.as_str(),
            alert.level.map(|l| l.as_str()),
            alert.status.as_str(),
            ms(alert.started_at),
            alert.ended_at.map(ms),
            alert.cancelled,
            serde_json::to_value(alert.origin)?
                .as_str()
                .unwrap_or("live"),
            event.seq as i64,
            serde_json::to_string(alert)?
        ])?;
    }
    reports::materialise(conn, event)?;
    Ok(())
}

fn token_write(conn: &Connection, write: &TokenWrite) -> Result<i64, StoreError> {
    match write {
        TokenWrite::Create {
            name,
            hash,
            role,
            regions,
            at,
        } => {
            conn.execute(
                "INSERT INTO tokens (name, hash, role, scope, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, hash, role.as_str(), serde_json::to_string(regions)?, ms(*at)],
            )?;
            Ok(conn.last_insert_rowid())
        }
        TokenWrite::Revoke { name, at } => Ok(conn.execute(
            "UPDATE tokens SET revoked_ms = ?1 WHERE name = ?2 AND revoked_ms IS NULL",
            params![ms(*at), name],
        )? as i64),
    }
}
