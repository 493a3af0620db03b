//! Read queries over the log and the materialised alerts: events after a sequence number,
//! alert history by region, type and time, tokens and the audit trail.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params_from_iter, types::Value};
use serde::Serialize;
use tryvoga_core::{Alert, AlertType, Event, RegionId, Role};

use crate::tokens::TokenInfo;
use crate::{StoreError, from_ms, ms};

/// An event as stored: its JSON is passed on as it is, never re-serialised.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: u64,
    pub kind: String,
    pub region: Option<RegionId>,
    pub payload: String,
}

pub fn events_after(
    conn: &Connection,
    after: u64,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, kind, region_id, payload FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(rusqlite::params![after as i64, limit as i64], |r| {
        Ok(StoredEvent {
            seq: r.get::<_, i64>(0)? as u64,
            kind: r.get(1)?,
            region: r.get::<_, Option<u32>>(2)?.map(RegionId),
            payload: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn event_at(conn: &Connection, seq: u64) -> Result<Option<Event>, StoreError> {
    let payload: Option<String> = conn
        .query_row(
            "SELECT payload FROM events WHERE seq = ?1",
            [seq as i64],
            |r| r.get(0),
        )
        .optional()?;
    payload
        .map(|p| serde_json::from_str(&p).map_err(StoreError::from))
        .transpose()
}

/// The `sig` of the newest signed event: which key the record has been signing with.
pub fn newest_signature(conn: &Connection) -> Result<Option<String>, StoreError> {
    // A note that quotes `"sig":` is escaped inside the payload, so only the top-level member
    // matches; the payload is still parsed to read it.
    let payload: Option<String> = conn
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

pub fn last_seq(conn: &Connection) -> Result<u64, StoreError> {
    let seq: Option<i64> = conn.query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))?;
    Ok(seq.unwrap_or(0) as u64)
}

/// Which alerts a history query wants. Regions are matched exactly; the caller expands a
/// region to its descendants when asked to.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    pub regions: Option<Vec<RegionId>>,
    pub types: Option<Vec<AlertType>>,
    /// Alerts that were under way at some moment in `[from, to)`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only alerts whose id is below this (pages go from newest to oldest).
    pub before_id: Option<u64>,
    pub limit: usize,
}

pub fn alerts(conn: &Connection, q: &AlertQuery) -> Result<Vec<Alert>, StoreError> {
    let mut sql = String::from("SELECT json FROM alerts WHERE 1 = 1");
    let mut args: Vec<Value> = Vec::new();
    if let Some(regions) = &q.regions {
        sql.push_str(&format!(
            " AND region_id IN ({})",
            placeholders(regions.len())
        ));
        args.extend(regions.iter().map(|r| Value::Integer(r.0.into())));
    }
    if let Some(types) = &q.types {
        sql.push_str(&format!(" AND type IN ({})", placeholders(types.len())));
        args.extend(types.iter().map(|t| Value::Text(t.as_str().into())));
    }
    if let Some(to) = q.to {
        sql.push_str(" AND started_ms < ?");
        args.push(Value::Integer(ms(to)));
    }
    if let Some(from) = q.from {
        sql.push_str(" AND (ended_ms IS NULL OR ended_ms > ?)");
        args.push(Value::Integer(ms(from)));
    }
    if let Some(before) = q.before_id {
        sql.push_str(" AND id < ?");
        args.push(Value::Integer(before as i64));
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    args.push(Value::Integer(q.limit as i64));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for json in rows {
        out.push(serde_json::from_str(&json?)?);
    }
    Ok(out)
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

pub fn alert_by_id(conn: &Connection, id: u64) -> Result<Option<Alert>, StoreError> {
    let json: Option<String> = conn
        .query_row("SELECT json FROM alerts WHERE id = ?1", [id as i64], |r| {
            r.get(0)
        })
        .optional()?;
    json.map(|j| serde_json::from_str(&j).map_err(StoreError::from))
        .transpose()
}

pub fn token_count(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM tokens", [], |r| r.get(0))?;
    Ok(n as u64)
}

/// The live (not revoked) token with this hash.
pub fn token_by_hash(conn: &Connection, hash: &str) -> Result<Option<TokenInfo>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, role, scope, created_ms, revoked_ms FROM tokens
         WHERE hash = ?1 AND revoked_ms IS NULL",
    )?;
    stmt.query_row([hash], token_row).optional()?.transpose()
}

pub fn tokens(conn: &Connection) -> Result<Vec<TokenInfo>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, role, scope, created_ms, revoked_ms FROM tokens ORDER BY id",
    )?;
    let rows = stmt.query_map([], token_row)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r??);
    }
    Ok(out)
}

type TokenRow = Result<TokenInfo, StoreError>;

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    let role: String = r.get(2)?;
    let scope: String = r.get(3)?;
    let info = (|| {
        Ok(TokenInfo {
            id: r.get(0)?,
            name: r.get(1)?,
            role: role
                .parse::<Role>()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            regions: serde_json::from_str(&scope)?,
            created_at: from_ms(r.get(4)?),
            revoked_at: r.get::<_, Option<i64>>(5)?.map(from_ms),
        })
    })();
    Ok(info)
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub token: Option<String>,
    pub action: String,
    pub request: Option<String>,
    pub outcome: String,
    pub code: String,
    pub reason: Option<String>,
    pub seq: Option<i64>,
}

/// The newest audit records first.
pub fn audit(conn: &Connection, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, at_ms, token, action, request, outcome, code, reason, seq
         FROM audit ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |r| {
        Ok(AuditRecord {
            id: r.get(0)?,
            at: from_ms(r.get(1)?),
            token: r.get(2)?,
            action: r.get(3)?,
            request: r.get(4)?,
            outcome: r.get(5)?,
            code: r.get(6)?,
            reason: r.get(7)?,
            seq: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Active alerts as the materialised table has them; used to rebuild the state at start.
pub fn active_alerts(conn: &Connection) -> Result<Vec<Alert>, StoreError> {
    let mut stmt = conn.prepare("SELECT json FROM alerts WHERE ended_ms IS NULL ORDER BY id")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for json in rows {
        out.push(serde_json::from_str(&json?)?);
    }
    Ok(out)
}

pub fn max_alert_id(conn: &Connection) -> Result<u64, StoreError> {
    let id: Option<i64> = conn.query_row("SELECT MAX(id) FROM alerts", [], |r| r.get(0))?;
    Ok(id.unwrap_or(0) as u64)
}
