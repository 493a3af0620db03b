//! The historical record: alerts imported from published datasets, and the queries analysts
//! run over past alerts (paged history in time order, alert spans for statistics).
//!
//! An imported alert enters the log like any other change, as an `alert.started` event whose
//! alert has already ended and carries origin `import`. The state machine treats such an event
//! as history (it only advances the ids), and the fan-out does not announce it as live. Each
//! imported row leaves a key (source, region, type, start) so that importing the same file
//! again, or the same record in another language, adds nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter, types::Value};
use tryvoga_core::stats::{Interval, Relation};
use tryvoga_core::{
    Alert, AlertId, AlertStatus, AlertType, Event, EventBody, Origin, RegionId, Registry, State,
};

use crate::{StoreError, from_ms, ms};

/// One past alert read from a dataset, with the line it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoricalAlert {
    pub line: u64,
    pub region: RegionId,
    pub alert_type: AlertType,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub note: Option<String>,
}

/// Rows of one file, written in one transaction.
#[derive(Debug, Clone)]
pub struct ImportChunk {
    /// What the record is, e.g. `vadimkin/official`: the idempotency keys are per source, so
    /// the English and Ukrainian files of one record do not import twice.
    pub source: String,
    /// The file the rows came from, kept beside each key for provenance.
    pub file: String,
    pub rows: Vec<HistoricalAlert>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    pub imported: usize,
    /// Lines already in the record (from an earlier run or an earlier line), with the alert
    /// that holds them.
    pub already: Vec<(u64, AlertId)>,
}

/// The actor name an import is logged under.
pub fn issuer(source: &str) -> String {
    format!("import:{source}")
}

/// Writes a chunk inside the writer's transaction, advancing `state` past every event.
pub(crate) fn import_chunk(
    conn: &Connection,
    registry: &Registry,
    state: &mut State,
    chunk: &ImportChunk,
    now: DateTime<Utc>,
    events: &mut Vec<Event>,
    sealer: Option<&crate::writer::Sealer>,
) -> Result<ImportReport, StoreError> {
    let mut report = ImportReport::default();
    let issuer = issuer(&chunk.source);
    let mut find_key = conn.prepare_cached(
        "SELECT alert_id FROM imported
         WHERE source = ?1 AND region_id = ?2 AND type = ?3 AND started_ms = ?4",
    )?;
    let mut insert_key = conn.prepare_cached(
        "INSERT INTO imported (source, region_id, type, started_ms, alert_id, file, line)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut insert_event = conn.prepare_cached(
        "INSERT INTO events (seq, at_ms, kind, issuer, region_id, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut insert_alert = conn.prepare_cached(
        "INSERT INTO alerts (id, region_id, oblast_id, type, level, status, started_ms,
                             ended_ms, cancelled, origin, seq, json)
         VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, ?7, 0, 'import', ?8, ?9)",
    )?;
    for row in &chunk.rows {
        let here = || format!("{} line {}", chunk.file, row.line);
        let region = registry.get(row.region).ok_or_else(|| {
            StoreError::Invalid(format!("{}: no region has id {}", here(), row.region))
        })?;
        if row.ended_at < row.started_at {
            return Err(StoreError::Invalid(format!(
                "{}: the alert ends before it starts",
                here()
            )));
        }
        let started_ms = ms(row.started_at);
        let type_word = row.alert_type.as_str();
        let earlier: Option<i64> = find_key
            .query_row(
                params![chunk.source, row.region.0, type_word, started_ms],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = earlier {
            report.already.push((row.line, AlertId(id as u64)));
            continue;
        }
        let seq = state.last_seq() + 1;
        let id = state.next_alert_id();
        // The log keeps milliseconds; so does the alert, so that it reads back equal.
        let alert = Alert {
            id,
            region: region.to_ref(),
            alert_type: row.alert_type,
            level: None,
            status: AlertStatus::Actual,
            started_at: from_ms(started_ms),
            ended_at: Some(from_ms(ms(row.ended_at))),
            cancelled: false,
            cancel_reason: None,
            note: row.note.clone(),
            issuer: Some(issuer.clone()),
            seq,
            origin: Origin::Import,
        };
        let alert_json = serde_json::to_string(&alert)?;
        let mut event = Event {
            seq,
            at: now,
            issuer: Some(issuer.clone()),
            body: EventBody::AlertStarted { alert },
            sig: None,
        };
        crate::writer::seal(sealer, &mut event);
        let payload = serde_json::to_string(&event)?;
        insert_event.execute(params![
            seq as i64,
            ms(now),
            event.kind(),
            issuer,
            row.region.0,
            payload
        ])?;
        insert_alert.execute(params![
            id.0 as i64,
            row.region.0,
            region.oblast.0,
            type_word,
            AlertStatus::Actual.as_str(),
            started_ms,
            ms(row.ended_at),
            seq as i64,
            alert_json
        ])?;
        insert_key.execute(params![
            chunk.source,
            row.region.0,
            type_word,
            started_ms,
            id.0 as i64,
            chunk.file,
            row.line as i64
        ])?;
        state.apply(&event);
        events.push(event);
        report.imported += 1;
    }
    Ok(report)
}

/// A past or present alert reduced to what statistics need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub region: RegionId,
    pub started_ms: i64,
    /// `None` while the alert is still on.
    pub ended_ms: Option<i64>,
}

/// Actual alerts under way at some moment in `[from, to)`, on regions of `oblast` (every
/// region when `None`), of the given types (all when `None`). Drills are left out: they are
/// not time under alert.
pub fn spans(
    conn: &Connection,
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
        sql.push_str(&format!(
            " AND type IN ({})",
            vec!["?"; types.len()].join(",")
        ));
        args.extend(types.iter().map(|t| Value::Text(t.as_str().into())));
    }
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| {
        Ok(Span {
            region: RegionId(r.get(0)?),
            started_ms: r.get(1)?,
            ended_ms: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Where a page of history ends: the next page starts after this alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub started_ms: i64,
    pub id: u64,
}

impl Cursor {
    /// The opaque form handed to clients.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.started_ms, self.id)
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        let (ms, id) = text.trim().split_once('_')?;
        Some(Cursor {
            started_ms: ms.parse().ok()?,
            id: id.parse().ok()?,
        })
    }
}

/// Which alerts a history page wants.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// Matched exactly; the caller expands a region to its descendants when asked to.
    pub regions: Option<Vec<RegionId>>,
    pub types: Option<Vec<AlertType>>,
    /// Alerts under way at some moment in `[from, to)`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub after: Option<Cursor>,
    pub limit: usize,
}

/// A page of alerts, newest start first (ties by id), and the cursor of the next page when
/// there may be one.
pub fn history(
    conn: &Connection,
    q: &HistoryQuery,
) -> Result<(Vec<Alert>, Option<Cursor>), StoreError> {
    let mut sql = String::from("SELECT json, started_ms, id FROM alerts WHERE 1 = 1");
    let mut args: Vec<Value> = Vec::new();
    if let Some(regions) = &q.regions {
        sql.push_str(&format!(
            " AND region_id IN ({})",
            vec!["?"; regions.len()].join(",")
        ));
        args.extend(regions.iter().map(|r| Value::Integer(r.0.into())));
    }
    if let Some(types) = &q.types {
        sql.push_str(&format!(
            " AND type IN ({})",
            vec!["?"; types.len()].join(",")
        ));
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
    if let Some(c) = q.after {
        sql.push_str(" AND (started_ms < ? OR (started_ms = ? AND id < ?))");
        args.push(Value::Integer(c.started_ms));
        args.push(Value::Integer(c.started_ms));
        args.push(Value::Integer(c.id as i64));
    }
    sql.push_str(" ORDER BY started_ms DESC, id DESC LIMIT ?");
    args.push(Value::Integer(q.limit as i64));
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
}

/// How many alerts each import source has put in the record.
pub fn imported_counts(conn: &Connection) -> Result<Vec<(String, u64)>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT source, COUNT(*) FROM imported GROUP BY source ORDER BY source")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The alerts that bear on `region` in `[from, to)`, each marked by how its region stands to
/// `region`: for `tryvoga_core::stats::compute`. Alerts on unrelated regions of the same
/// oblast are left out.
pub fn intervals_for(
    conn: &Connection,
    registry: &Registry,
    region: RegionId,
    types: Option<&[AlertType]>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Interval>, StoreError> {
    let oblast = registry.get(region).map_or(region, |r| r.oblast);
    let spans = spans(conn, Some(oblast), types, from, to)?;
    Ok(spans
        .into_iter()
        .filter_map(|s| {
            let relation = if s.region == region {
                Relation::Itself
            } else if registry.is_within(region, s.region) {
                Relation::Ancestor
            } else if registry.is_within(s.region, region) {
                Relation::Descendant
            } else {
                return None;
            };
            Some(interval(s, relation))
        })
        .collect())
}

/// The alerts of every oblast in `[from, to)`, grouped by oblast: alerts on the oblast itself,
/// and on its parts as descendants.
pub fn intervals_by_oblast(
    conn: &Connection,
    registry: &Registry,
    types: Option<&[AlertType]>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<BTreeMap<RegionId, Vec<Interval>>, StoreError> {
    let mut out: BTreeMap<RegionId, Vec<Interval>> = BTreeMap::new();
    for s in spans(conn, None, types, from, to)? {
        let oblast = registry.get(s.region).map_or(s.region, |r| r.oblast);
        let relation = if s.region == oblast {
            Relation::Itself
        } else {
            Relation::Descendant
        };
        out.entry(oblast).or_default().push(interval(s, relation));
    }
    Ok(out)
}

fn interval(s: Span, relation: Relation) -> Interval {
    Interval {
        start: from_ms(s.started_ms),
        end: s.ended_ms.map(from_ms),
        relation,
    }
}
