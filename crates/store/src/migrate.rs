//! Moving a record from a SQLite file to PostgreSQL (`tryvoga migrate`): every table copied
//! row for row in one PostgreSQL transaction, the log's payloads byte for byte (so every
//! signature still verifies), ids kept, and the copy checked against its source before it is
//! committed (same number of events, same digest of their payloads, same head). The target
//! must be empty: a migration never merges two records.

use std::path::Path;

use postgres::types::{ToSql, Type};
use rusqlite::types::Value;
use sha2::{Digest, Sha256};

use crate::StoreError;

/// What one table's copy reads from SQLite and where it puts it in PostgreSQL.
struct Table {
    name: &'static str,
    /// The SQLite expression of each column, in the PostgreSQL column order.
    select: &'static str,
    columns: &'static str,
}

/// In dependency order; `events` first so that the progress shows the log's copy.
const TABLES: &[Table] = &[
    Table {
        name: "events",
        select: "seq, at_ms, kind, issuer, region_id, json_extract(payload, '$.alert.id'), payload",
        columns: "seq, at_ms, kind, issuer, region_id, alert_id, payload",
    },
    Table {
        name: "alerts",
        select: "id, region_id, oblast_id, type, level, status, started_ms, ended_ms, cancelled, origin, seq, json",
        columns: "id, region_id, oblast_id, type, level, status, started_ms, ended_ms, cancelled, origin, seq, json",
    },
    Table {
        name: "tokens",
        select: "id, name, hash, role, scope, created_ms, revoked_ms",
        columns: "id, name, hash, role, scope, created_ms, revoked_ms",
    },
    Table {
        name: "audit",
        select: "id, at_ms, token, action, request, outcome, code, reason, seq",
        columns: "id, at_ms, token, action, request, outcome, code, reason, seq",
    },
    Table {
        name: "idempotency",
        select: "token, key, fingerprint, seq",
        columns: "token, key, fingerprint, seq",
    },
    Table {
        name: "imported",
        select: "source, region_id, type, started_ms, alert_id, file, line",
        columns: "source, region_id, type, started_ms, alert_id, file, line",
    },
    Table {
        name: "compat_webhooks",
        select: "token, url, created_ms, updated_ms, delivered_seq, failures, last_error",
        columns: "token, url, created_ms, updated_ms, delivered_seq, failures, last_error",
    },
    Table {
        name: "compat_signing_keys",
        select: "key_id, private_pem, created_ms",
        columns: "key_id, private_pem, created_ms",
    },
    Table {
        name: "webhooks",
        select: "id, owner, url, regions, types, signing, secret, created_ms, delivered_seq, attempts, last_error",
        columns: "id, owner, url, regions, types, signing, secret, created_ms, delivered_seq, attempts, last_error",
    },
    Table {
        name: "webhook_dead_letters",
        select: "id, webhook, delivery, seq, attempts, last_error, failed_ms",
        columns: "id, webhook, delivery, seq, attempts, last_error, failed_ms",
    },
    Table {
        name: "reports",
        select: "key, seq, at_ms, time_ms, json",
        columns: "key, seq, at_ms, time_ms, json",
    },
    Table {
        name: "threats",
        select: "key, seq, at_ms, json",
        columns: "key, seq, at_ms, json",
    },
    // Leases are not copied: they belong to the nodes running now, and expire in seconds.
    Table {
        name: "output_positions",
        select: "name, delivered_seq",
        columns: "name, delivered_seq",
    },
];

/// Tables whose ids PostgreSQL draws from an identity, moved past the copied ids.
const IDENTITIES: &[&str] = &["tokens", "audit", "webhook_dead_letters"];

/// What a migration copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migrated {
    pub events: u64,
    pub rows: u64,
    pub head: u64,
    /// SHA-256 of every payload in log order, equal on both sides.
    pub digest: String,
}

/// Copies the record at `from` (a SQLite file, opened read-only) into the empty PostgreSQL
/// database at `to`. `progress(done, total)` is told after every thousand rows.
pub fn sqlite_to_postgres(
    from: &Path,
    to: &str,
    mut progress: impl FnMut(u64, u64) + Send,
) -> Result<Migrated, StoreError> {
    if !from.exists() {
        return Err(StoreError::Invalid(format!(
            "{}: no such database",
            from.display()
        )));
    }
    // Bring the source's schema up to date first, so that every table exists.
    drop(crate::sqlite::open(from)?);
    let source =
        rusqlite::Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let total: u64 = TABLES
        .iter()
        .map(|t| {
            source
                .query_row(&format!("SELECT COUNT(*) FROM {}", t.name), [], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| n.max(0) as u64)
        })
        .sum::<Result<u64, _>>()?;
    let (log, _) = crate::postgres::open(to)?;
    drop(log);
    let to = to.to_string();
    crate::postgres::off_runtime(move || {
        let mut client = postgres::Client::connect(&to, postgres::NoTls)?;
        let mut tx = client.transaction()?;
        let (head, tokens): (i64, i64) = {
            let row = tx.query_one(
                "SELECT (SELECT seq FROM log_head WHERE id = 1), (SELECT COUNT(*) FROM tokens)",
                &[],
            )?;
            (row.get(0), row.get(1))
        };
        if head != 0 || tokens != 0 {
            return Err(StoreError::Conflict(format!(
                "{} already holds a record (log at seq {head}, {tokens} tokens): migrate into an empty database",
                crate::postgres::redacted(&to)
            )));
        }
        let mut done = 0u64;
        progress(0, total);
        for table in TABLES {
            copy_table(&source, &mut tx, table, &mut done, total, &mut progress)?;
        }
        for table in IDENTITIES {
            tx.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                         GREATEST((SELECT MAX(id) FROM {table}), 1), (SELECT MAX(id) FROM {table}) IS NOT NULL)"
                ),
                &[],
            )?;
        }
        let (src_events, src_head, src_digest) = sqlite_digest(&source)?;
        tx.execute(
            "UPDATE log_head SET seq = $1 WHERE id = 1",
            &[&(src_head as i64)],
        )?;
        let (dst_events, dst_head, dst_digest) = postgres_digest(&mut tx)?;
        if (src_events, src_head, &src_digest) != (dst_events, dst_head, &dst_digest) {
            return Err(StoreError::Corrupt(format!(
                "the copy differs from its source ({src_events} events to seq {src_head}, \
                 {dst_events} copied to seq {dst_head}); nothing was written"
            )));
        }
        tx.commit()?;
        progress(total, total);
        Ok(Migrated {
            events: src_events,
            rows: done,
            head: src_head,
            digest: src_digest,
        })
    })
}

fn copy_table(
    source: &rusqlite::Connection,
    tx: &mut postgres::Transaction<'_>,
    table: &Table,
    done: &mut u64,
    total: u64,
    progress: &mut impl FnMut(u64, u64),
) -> Result<(), StoreError> {
    let width = table.columns.split(',').count();
    let placeholders: Vec<String> = (1..=width).map(|i| format!("${i}")).collect();
    let insert = tx.prepare(&format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table.name,
        table.columns,
        placeholders.join(", ")
    ))?;
    let types = insert.params().to_vec();
    let mut stmt = source.prepare(&format!("SELECT {} FROM {}", table.select, table.name))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let mut values: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(width);
        for (i, ty) in types.iter().enumerate() {
            let value: Value = row.get(i)?;
            values.push(convert(value, ty, table.name, i)?);
        }
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        tx.execute(&insert, &params)?;
        *done += 1;
        if (*done).is_multiple_of(1000) {
            progress(*done, total);
        }
    }
    Ok(())
}

/// A SQLite value as the PostgreSQL column's type wants it.
fn convert(
    value: Value,
    ty: &Type,
    table: &str,
    column: usize,
) -> Result<Box<dyn ToSql + Sync>, StoreError> {
    let wrong = || {
        StoreError::Corrupt(format!(
            "{table}: column {} holds a value PostgreSQL's {ty} cannot take",
            column + 1
        ))
    };
    Ok(match (value, ty) {
        (Value::Null, &Type::INT8) => Box::new(None::<i64>),
        (Value::Null, &Type::BOOL) => Box::new(None::<bool>),
        (Value::Null, _) => Box::new(None::<String>),
        (Value::Integer(n), &Type::INT8) => Box::new(n),
        (Value::Integer(n), &Type::BOOL) => Box::new(n != 0),
        (Value::Text(t), &Type::TEXT) => Box::new(t),
        (Value::Text(t), &Type::INT8) => Box::new(t.parse::<i64>().map_err(|_| wrong())?),
        (Value::Integer(n), &Type::TEXT) => Box::new(n.to_string()),
        _ => return Err(wrong()),
    })
}

fn sqlite_digest(c: &rusqlite::Connection) -> Result<(u64, u64, String), StoreError> {
    let mut stmt = c.prepare("SELECT seq, payload FROM events ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let (mut n, mut head, mut hash) = (0u64, 0u64, Sha256::new());
    while let Some(r) = rows.next()? {
        head = r.get::<_, i64>(0)?.max(0) as u64;
        hash.update(r.get_ref(1)?.as_bytes().map_err(rusqlite::Error::from)?);
        hash.update([0]);
        n += 1;
    }
    Ok((n, head, hex::encode(hash.finalize())))
}

fn postgres_digest(tx: &mut postgres::Transaction<'_>) -> Result<(u64, u64, String), StoreError> {
    let (mut n, mut head, mut hash) = (0u64, 0u64, Sha256::new());
    let mut rows = tx.query_raw(
        "SELECT seq, payload FROM events ORDER BY seq",
        std::iter::empty::<i64>(),
    )?;
    while let Some(r) = fallible_iterator::FallibleIterator::next(&mut rows)? {
        head = r.get::<_, i64>(0).max(0) as u64;
        hash.update(r.get::<_, &str>(1).as_bytes());
        hash.update([0]);
        n += 1;
    }
    Ok((n, head, hex::encode(hash.finalize())))
}
