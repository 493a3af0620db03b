//! SQLite reads of the log, the alerts, tokens and the audit trail, on pooled read-only
//! connections (WAL: readers never wait for the writer).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter, types::Value};
use tryvoga_bus::StoredEvent;
use tryvoga_core::{Alert, AlertId, AlertType, Event, RegionId, Role};

use crate::queries::{
    AlertQueries, AuditQueries, AuditRecord, Cursor, HistoryQuery, LogQueries, Span, TokenQueries,
};
use crate::sqlite::SqliteQueries;
use crate::tokens::TokenInfo;
use crate::{StoreError, from_ms, ms};

pub(crate) fn event_at(conn: &Connection, seq: u64) -> Result<Option<Event>, StoreError> {
    let payload: Option<String> = conn
        .prepare_cached("SELECT payload FROM events WHERE seq = ?1")?
        .query_row([seq as i64], |r| r.get(0))
        .optional()?;
    payload
        .map(|p| serde_json::from_str(&p).map_err(StoreError::from))
        .transpose()
}

pub(crate) fn last_seq(conn: &Connection) -> Result<u64, StoreError> {
    let seq: Option<i64> = conn.query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))?;
    Ok(seq.unwrap_or(0) as u64)
}

/// Active alerts as the materialised table has them; the state is rebuilt from them on open.
pub(crate) fn active_alerts(conn: &Connection) -> Result<Vec<Alert>, StoreError> {
    let mut stmt = conn.prepare("SELECT json FROM alerts WHERE ended_ms IS NULL ORDER BY id")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for json in rows {
        out.push(serde_json::from_str(&json?)?);
    }
    Ok(out)
}

/// The events that make the state's threats, pre-alerts, power restrictions and times to
/// shelter, oldest first: folded on open, beside the materialised alerts.
pub(crate) fn situation_events(conn: &Connection) -> Result<Vec<Event>, StoreError> {
    let kinds = tryvoga_core::event::SITUATION_KINDS;
    let sql = format!(
        "SELECT payload FROM events WHERE kind IN ({}) ORDER BY seq",
        placeholders(kinds.len())
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(kinds.iter()), |r| {
        r.get::<_, String>(0)
    })?;
    let mut out = Vec::new();
    for json in rows {
        out.push(serde_json::from_str(&json?)?);
    }
    Ok(out)
}

pub(crate) fn max_alert_id(conn: &Connection) -> Result<u64, StoreError> {
    let id: Option<i64> = conn.query_row("SELECT MAX(id) FROM alerts", [], |r| r.get(0))?;
    Ok(id.unwrap_or(0) as u64)
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

impl LogQueries for SqliteQueries {
    fn events_of_kinds(
        &self,
        kinds: &[&str],
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.with(|conn| {
            let sql = format!(
                "SELECT seq, kind, region_id, payload FROM events
                 WHERE kind IN ({}) AND seq < ? ORDER BY seq DESC LIMIT ?",
                placeholders(kinds.len())
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut values: Vec<rusqlite::types::Value> = kinds
                .iter()
                .map(|k| rusqlite::types::Value::Text(k.to_string()))
                .collect();
            values.push(rusqlite::types::Value::Integer(
                before.map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64),
            ));
            values.push(rusqlite::types::Value::Integer(limit as i64));
            let rows = stmt.query_map(rusqlite::params_from_iter(values), |r| {
                Ok(StoredEvent {
                    seq: r.get::<_, i64>(0)? as u64,
                    kind: r.get(1)?,
                    region: r.get::<_, Option<u32>>(2)?.map(RegionId),
                    payload: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, kind, region_id, payload FROM events WHERE seq > ?1
                 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after as i64, limit as i64], |r| {
                Ok(StoredEvent {
                    seq: r.get::<_, i64>(0)? as u64,
                    kind: r.get(1)?,
                    region: r.get::<_, Option<u32>>(2)?.map(RegionId),
                    payload: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn head(&self) -> Result<(u64, i64), StoreError> {
        self.with(|conn| {
            let ms: Option<i64> =
                conn.query_row("SELECT MAX(at_ms) FROM events", [], |r| r.get(0))?;
            Ok((last_seq(conn)?, ms.unwrap_or(0)))
        })
    }

    fn event_times(&self, seqs: &[u64]) -> Result<HashMap<u64, DateTime<Utc>>, StoreError> {
        self.with(|conn| {
            let mut out = HashMap::new();
            let mut stmt = conn.prepare_cached("SELECT at_ms FROM events WHERE seq = ?1")?;
            for &seq in seqs {
                if out.contains_key(&seq) {
                    continue;
                }
                let at: Option<i64> = stmt.query_row([seq as i64], |r| r.get(0)).optional()?;
                if let Some(ms) = at {
                    out.insert(seq, from_ms(ms));
                }
            }
            Ok(out)
        })
    }

    fn alert_events(&self, alert: AlertId) -> Result<Vec<Event>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT payload FROM events WHERE json_extract(payload, '$.alert.id') = ?1
                 ORDER BY seq",
            )?;
            let rows = stmt.query_map([alert.0 as i64], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(serde_json::from_str(&row?)?);
            }
            Ok(out)
        })
    }
}

impl AlertQueries for SqliteQueries {
    fn alert(&self, id: AlertId) -> Result<Option<Alert>, StoreError> {
        self.with(|conn| {
            let json: Option<String> = conn
                .prepare_cached("SELECT json FROM alerts WHERE id = ?1")?
                .query_row([id.0 as i64], |r| r.get(0))
                .optional()?;
            json.map(|j| serde_json::from_str(&j).map_err(StoreError::from))
                .transpose()
        })
    }

    fn history(&self, q: &HistoryQuery) -> Result<(Vec<Alert>, Option<Cursor>), StoreError> {
        let mut sql = String::from("SELECT json, started_ms, id FROM alerts WHERE 1 = 1");
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
        if let Some(status) = q.status {
            sql.push_str(" AND status = ?");
            args.push(Value::Text(status.as_str().into()));
        }
        if let Some(to) = q.to {
            sql.push_str(" AND started_ms < ?");
            args.push(Value::Integer(ms(to)));
        }
        if let Some(from) = q.from {
            sql.push_str(" AND (ended_ms IS NULL OR ended_ms > ?)");
            args.push(Value::Integer(ms(from)));
        }
        if let Some(c) = q.after {
            sql.push_str(" AND (started_ms < ? OR (started_ms = ? AND id < ?))");
            args.push(Value::Integer(c.started_ms));
            args.push(Value::Integer(c.started_ms));
            args.push(Value::Integer(c.id as i64));
        }
        sql.push_str(" ORDER BY started_ms DESC, id DESC LIMIT ?");
        args.push(Value::Integer(q.limit as i64));
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(params_from_iter(args))?;
            let mut alerts = Vec::new();
            let mut last = None;
            while let Some(r) = rows.next()? {
                let json: String = r.get(0)?;
                alerts.push(serde_json::from_str(&json)?);
                last = Some(Cursor {
                    started_ms: r.get(1)?,
                    id: r.get::<_, i64>(2)? as u64,
                });
            }
            let next = if alerts.len() == q.limit { last } else { None };
            Ok((alerts, next))
        })
    }

    fn spans(
        &self,
        oblast: Option<RegionId>,
        types: Option<&[AlertType]>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Span>, StoreError> {
        let mut sql = String::from(
            "SELECT region_id, started_ms, ended_ms FROM alerts
             WHERE status = 'actual' AND started_ms < ? AND (ended_ms IS NULL OR ended_ms > ?)",
        );
        let mut args = vec![Value::Integer(ms(to)), Value::Integer(ms(from))];
        if let Some(o) = oblast {
            sql.push_str(" AND oblast_id = ?");
            args.push(Value::Integer(o.0.into()));
        }
        if let Some(types) = types {
            sql.push_str(&format!(" AND type IN ({})", placeholders(types.len())));
            args.extend(types.iter().map(|t| Value::Text(t.as_str().into())));
        }
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args), |r| {
                Ok(Span {
                    region: RegionId(r.get(0)?),
                    started_ms: r.get(1)?,
                    ended_ms: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn last_actual_change(
        &self,
        regions: &[RegionId],
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        if regions.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT MAX(e.at_ms) FROM alerts a JOIN events e ON e.seq = a.seq
             WHERE a.status = 'actual' AND a.region_id IN ({})",
            placeholders(regions.len())
        );
        let ids = regions.iter().map(|r| i64::from(r.0));
        self.with(|conn| {
            let ms: Option<i64> = conn.query_row(&sql, params_from_iter(ids), |r| r.get(0))?;
            Ok(ms.map(from_ms))
        })
    }

    fn ended_since(&self, since: DateTime<Utc>, limit: usize) -> Result<Vec<AlertId>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id FROM alerts WHERE ended_ms >= ?1 AND origin != 'import'
                 ORDER BY ended_ms DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![ms(since), limit as i64], |r| r.get::<_, i64>(0))?;
            let mut out = Vec::new();
            for id in rows {
                out.push(AlertId(id? as u64));
            }
            Ok(out)
        })
    }

    fn imported_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT source, COUNT(*) FROM imported GROUP BY source ORDER BY source",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
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

impl TokenQueries for SqliteQueries {
    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenInfo>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, name, role, scope, created_ms, revoked_ms FROM tokens
                 WHERE hash = ?1 AND revoked_ms IS NULL",
            )?;
            stmt.query_row([hash], token_row).optional()?.transpose()
        })
    }

    fn token_revoked(&self, hash: &str) -> Result<bool, StoreError> {
        self.with(|conn| {
            Ok(conn
                .prepare_cached("SELECT 1 FROM tokens WHERE hash = ?1 AND revoked_ms IS NOT NULL")?
                .query_row([hash], |_| Ok(()))
                .optional()?
                .is_some())
        })
    }

    fn token_by_name(&self, name: &str) -> Result<Option<TokenInfo>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, name, role, scope, created_ms, revoked_ms FROM tokens WHERE name = ?1",
            )?;
            stmt.query_row([name], token_row).optional()?.transpose()
        })
    }

    fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, name, role, scope, created_ms, revoked_ms FROM tokens ORDER BY id",
            )?;
            let rows = stmt.query_map([], token_row)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r??);
            }
            Ok(out)
        })
    }

    fn token_count(&self) -> Result<u64, StoreError> {
        self.with(|conn| {
            let n: i64 = conn.query_row("SELECT COUNT(*) FROM tokens", [], |r| r.get(0))?;
            Ok(n as u64)
        })
    }
}

impl AuditQueries for SqliteQueries {
    fn audit(&self, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        self.with(|conn| {
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
        })
    }
}
