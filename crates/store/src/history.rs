//! The historical record: alerts imported from published datasets, decided by the writer
//! into the next batch (the queries analysts run over past alerts are [`crate::queries`]).
//!
//! An imported alert enters the log like any other change, as an `alert.started` event whose
//! alert has already ended and carries origin `import`. The state machine treats such an event
//! as history (it only advances the ids), and the fan-out does not announce it as live. Each
//! imported row leaves a key (source, region, type, start) so that importing the same file
//! again, or the same record in another language, adds nothing.

use chrono::{DateTime, Utc};
use tryvoga_core::{Alert, AlertId, AlertStatus, AlertType, Event, EventBody, Origin, RegionId};

use crate::log::{EventLog, ImportKey, ImportedRow};
use crate::writer::Decider;
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

impl<L: EventLog> Decider<'_, L> {
    /// Decides a chunk into the batch, advancing the state past every event. The caller takes
    /// the whole chunk back out of the batch (and the state back) if this fails.
    pub(crate) fn import(
        &mut self,
        chunk: &ImportChunk,
        now: DateTime<Utc>,
    ) -> Result<ImportReport, StoreError> {
        let mut report = ImportReport::default();
        let issuer = issuer(&chunk.source);
        for row in &chunk.rows {
            let here = || format!("{} line {}", chunk.file, row.line);
            let region = self.registry.get(row.region).ok_or_else(|| {
                StoreError::Invalid(format!("{}: no region has id {}", here(), row.region))
            })?;
            if row.ended_at < row.started_at {
                return Err(StoreError::Invalid(format!(
                    "{}: the alert ends before it starts",
                    here()
                )));
            }
            let started_ms = ms(row.started_at);
            let key = ImportKey {
                source: chunk.source.clone(),
                region: row.region,
                alert_type: row.alert_type,
                started_ms,
            };
            if let Some(id) = self.imported(&key)? {
                report.already.push((row.line, id));
                continue;
            }
            let seq = self.state.last_seq() + 1;
            let id = self.state.next_alert_id();
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
            let event = Event {
                seq,
                at: now,
                issuer: Some(issuer.clone()),
                body: EventBody::AlertStarted { alert },
                sig: None,
            };
            self.imported_now(ImportedRow {
                key,
                alert: id,
                file: chunk.file.clone(),
                line: row.line,
            });
            self.append(event);
            report.imported += 1;
        }
        Ok(report)
    }
}
