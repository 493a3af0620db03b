//! Attack reports and threat notices in PostgreSQL: materialised as their events are
//! appended, found again by content key, read back by the time of the attack.

use chrono::{DateTime, Utc};
use postgres::Client;
use tryvoga_core::report::{Night, RecordedReport, nights as fold_nights, report_time};
use tryvoga_core::{Event, EventBody};

use super::append::Prepared;
use super::{PgQueries, seq};
use crate::log::Recorded;
use crate::queries::{ReportQueries, StoredReport};
use crate::{StoreError, from_ms, ms};

pub(crate) fn recorded(
    c: &mut Client,
    p: &mut Prepared<'_>,
    what: Recorded,
    key: &str,
) -> Result<Option<u64>, StoreError> {
    let sql = match what {
        Recorded::Report => "SELECT seq FROM reports WHERE key = $1",
        Recorded::Threat => "SELECT seq FROM threats WHERE key = $1",
    };
    let s = p.get(c, sql)?;
    Ok(c.query_opt(&s, &[&key])?.map(|r| seq(r.get(0))))
}

pub(crate) fn materialise(
    c: &mut Client,
    p: &mut Prepared<'_>,
    event: &Event,
) -> Result<(), StoreError> {
    match &event.body {
        EventBody::ReportAttack { report } => {
            let s = p.get(
                c,
                "INSERT INTO reports (key, seq, at_ms, time_ms, json) VALUES ($1, $2, $3, $4, $5)",
            )?;
            c.execute(
                &s,
                &[
                    &report.id,
                    &(event.seq as i64),
                    &ms(event.at),
                    &ms(report_time(report, event.at)),
                    &serde_json::to_string(report)?,
                ],
            )?;
        }
        // Notices read from texts, keyed by their text; typed threats are found in the log.
        EventBody::ThreatReported { threat } => {
            let tryvoga_core::threat::Reported::Reading(threat) = &**threat else {
                return Ok(());
            };
            let s = p.get(
                c,
                "INSERT INTO threats (key, seq, at_ms, json) VALUES ($1, $2, $3, $4)",
            )?;
            c.execute(
                &s,
                &[
                    &threat.id,
                    &(event.seq as i64),
                    &ms(event.at),
                    &serde_json::to_string(threat)?,
                ],
            )?;
        }
        _ => {}
    }
    Ok(())
}

impl ReportQueries for PgQueries {
    fn reports(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<StoredReport>, StoreError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT seq, at_ms, time_ms, json FROM reports
                 WHERE time_ms >= $1 AND time_ms < $2 ORDER BY time_ms, seq LIMIT $3",
                &[&ms(from), &ms(to), &(limit.min(i64::MAX as usize) as i64)],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(StoredReport {
                        seq: seq(r.get(0)),
                        recorded_at: from_ms(r.get(1)),
                        time: from_ms(r.get(2)),
                        report: serde_json::from_str(r.get(3))?,
                    })
                })
                .collect()
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
        self.with(|c| {
            Ok(seq(c
                .query_one("SELECT COUNT(*) FROM threats", &[])?
                .get(0)))
        })
    }
}
