//! Attack reports and threat notices in the record: materialised from their events as the
//! writer appends them, found again by their content key (so that the same text read twice is
//! one record), and read back by the time of the attack for lists and per-night totals.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use tryvoga_core::report::{
    AttackReport, Night, Recorded, RecordedReport, nights as fold_nights, report_time,
};
use tryvoga_core::{Event, EventBody};

use crate::{StoreError, from_ms, ms};

/// The event already holding the report or threat a decided event would record (the same
/// content key), if any.
pub(crate) fn recorded(conn: &Connection, body: &EventBody) -> Result<Option<u64>, StoreError> {
    let (table, key) = match body {
        EventBody::ReportAttack { report } => ("reports", &report.id),
        EventBody::ThreatReported { threat } => ("threats", &threat.id),
        _ => return Ok(None),
    };
    let seq: Option<i64> = conn
        .query_row(
            &format!("SELECT seq FROM {table} WHERE key = ?1"),
            [key],
            |r| r.get(0),
        )
        .optional()?;
    Ok(seq.map(|s| s as u64))
}

/// Keeps the reports and threats tables in line with an appended event.
pub(crate) fn materialise(conn: &Connection, event: &Event) -> Result<(), StoreError> {
    match &event.body {
        EventBody::ReportAttack { report } => {
            conn.execute(
                "INSERT INTO reports (key, seq, at_ms, time_ms, json) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    report.id,
                    event.seq as i64,
                    ms(event.at),
                    ms(report_time(report, event.at)),
                    serde_json::to_string(report)?
                ],
            )?;
        }
        EventBody::ThreatReported { threat } => {
            conn.execute(
                "INSERT INTO threats (key, seq, at_ms, json) VALUES (?1, ?2, ?3, ?4)",
                params![
                    threat.id,
                    event.seq as i64,
                    ms(event.at),
                    serde_json::to_string(threat)?
                ],
            )?;
        }
        _ => {}
    }
    Ok(())
}

/// A recorded attack report with where it stands in the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredReport {
    pub seq: u64,
    pub recorded_at: DateTime<Utc>,
    /// When the attack happened: the report's period start, else its end, else `recorded_at`.
    pub time: DateTime<Utc>,
    pub report: Recorded<AttackReport>,
}

/// Reports whose attack happened in `[from, to)`, oldest first, at most `limit`.
pub fn list(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<StoredReport>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, at_ms, time_ms, json FROM reports
         WHERE time_ms >= ?1 AND time_ms < ?2 ORDER BY time_ms, seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![ms(from), ms(to), limit as i64], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, at, time, json) = row?;
        out.push(StoredReport {
            seq: seq as u64,
            recorded_at: from_ms(at),
            time: from_ms(time),
            report: serde_json::from_str(&json)?,
        });
    }
    Ok(out)
}

/// Totals per night of the reports whose attack happened in `[from, to)`.
pub fn nights(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Night>, StoreError> {
    let reports = list(conn, from, to, usize::MAX >> 1)?;
    Ok(fold_nights(
        &reports
            .into_iter()
            .map(|r| RecordedReport {
                report: r.report,
                recorded: r.recorded_at,
            })
            .collect::<Vec<_>>(),
    ))
}

/// How many threat notices the record holds.
pub fn threat_count(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn.query_row("SELECT COUNT(*) FROM threats", [], |r| r.get::<_, i64>(0))? as u64)
}
