//! Attack reports and threat notices in SQLite: materialised from their events as the writer
//! appends them, found again by their content key (so that the same text read twice is one
//! record), and read back by the time of the attack for lists and per-night totals.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use tryvoga_core::report::{Night, RecordedReport, nights as fold_nights, report_time};
use tryvoga_core::{Event, EventBody};

use crate::log::Recorded;
use crate::queries::{ReportQueries, StoredReport};
use crate::sqlite::SqliteQueries;
use crate::{StoreError, from_ms, ms};

/// The event already holding the report or threat with this content key, if any.
pub(crate) fn recorded(
    conn: &Connection,
    what: Recorded,
    key: &str,
) -> Result<Option<u64>, StoreError> {
    let sql = match what {
        Recorded::Report => "SELECT seq FROM reports WHERE key = ?1",
        Recorded::Threat => "SELECT seq FROM threats WHERE key = ?1",
    };
    let seq: Option<i64> = conn
        .prepare_cached(sql)?
        .query_row([key], |r| r.get(0))
        .optional()?;
    Ok(seq.map(|s| s as u64))
}

/// Keeps the reports and threats tables in line with an appended event.
pub(crate) fn materialise(conn: &Connection, event: &Event) -> Result<(), StoreError> {
    match &event.body {
        EventBody::ReportAttack { report } => {
            conn.prepare_cached(
                "INSERT INTO reports (key, seq, at_ms, time_ms, json) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                report.id,
                event.seq as i64,
                ms(event.at),
                ms(report_time(report, event.at)),
                serde_json::to_string(report)?
            ])?;
        }
        // Notices read from texts, keyed by their text; typed threats are found in the log.
        EventBody::ThreatReported { threat } => {
            let tryvoga_core::threat::Reported::Reading(threat) = &**threat else {
                return Ok(());
            };
            conn.prepare_cached(
                "INSERT INTO threats (key, seq, at_ms, json) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                threat.id,
                event.seq as i64,
                ms(event.at),
                serde_json::to_string(threat)?
            ])?;
        }
        _ => {}
    }
    Ok(())
}

impl ReportQueries for SqliteQueries {
    fn reports(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<StoredReport>, StoreError> {
        self.with(|conn| {
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
        })
    }

    fn nights(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Night>, StoreError> {
        let reports = self.reports(from, to, usize::MAX >> 1)?;
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

    fn threat_count(&self) -> Result<u64, StoreError> {
        self.with(|conn| {
            Ok(conn.query_row("SELECT COUNT(*) FROM threats", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }
}
