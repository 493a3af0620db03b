//! The read side of the record, as traits: the log, the alerts (history pages, spans for
//! statistics), tokens, the audit trail, reports and threats, and (in [`crate::outputs`]) the
//! outputs' positions. Every room that reads the record names these traits, never a database;
//! [`Queries`] is all of them, the handle a [`crate::Store`] hands out. Calls block: async
//! callers run them on a blocking thread.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tryvoga_bus::StoredEvent;
use tryvoga_core::report::{AttackReport, Night, Recorded};
use tryvoga_core::{Alert, AlertId, AlertStatus, AlertType, Event, RegionId};

use crate::StoreError;
use crate::outputs::OutputPositions;
use crate::tokens::TokenInfo;

/// The log itself.
pub trait LogQueries {
    /// Up to `limit` events after `after`, in order, as stored.
    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;
    /// Up to `limit` events of these kinds before `before` (or the newest), newest first: the
    /// history of threats, pre-alerts and power restrictions.
    fn events_of_kinds(
        &self,
        kinds: &[&str],
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// The last sequence number, and when the newest event was written (Unix ms; 0 for none).
    fn head(&self) -> Result<(u64, i64), StoreError>;
    /// When each of these events was written.
    fn event_times(&self, seqs: &[u64]) -> Result<HashMap<u64, DateTime<Utc>>, StoreError>;
    /// Every event of one alert, in log order (for its CAP messages).
    fn alert_events(&self, alert: AlertId) -> Result<Vec<Event>, StoreError>;
}

/// The alerts materialised from the log.
pub trait AlertQueries {
    fn alert(&self, id: AlertId) -> Result<Option<Alert>, StoreError>;
    /// A page of alerts, newest start first (ties by id), and the cursor of the next page when
    /// there may be one.
    fn history(&self, q: &HistoryQuery) -> Result<(Vec<Alert>, Option<Cursor>), StoreError>;
    /// Actual alerts under way at some moment in `[from, to)`, on regions of `oblast` (every
    /// region when `None`), of the given types (all when `None`). Drills are left out: they
    /// are not time under alert.
    fn spans(
        &self,
        oblast: Option<RegionId>,
        types: Option<&[AlertType]>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Span>, StoreError>;
    /// When an actual alert on any of `regions` last changed.
    fn last_actual_change(&self, regions: &[RegionId])
    -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Live (not imported) alerts that ended at or after `since`, latest first, at most `limit`.
    fn ended_since(&self, since: DateTime<Utc>, limit: usize) -> Result<Vec<AlertId>, StoreError>;
    /// How many alerts each import source has put in the record.
    fn imported_counts(&self) -> Result<Vec<(String, u64)>, StoreError>;
}

pub trait TokenQueries {
    /// The live (not revoked) token with this hash.
    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenInfo>, StoreError>;
    /// Whether a token with this hash existed and has been revoked.
    fn token_revoked(&self, hash: &str) -> Result<bool, StoreError>;
    /// The token (live or revoked) with this name: outputs belong to a token by name.
    fn token_by_name(&self, name: &str) -> Result<Option<TokenInfo>, StoreError>;
    /// Every token, live and revoked, oldest first.
    fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError>;
    fn token_count(&self) -> Result<u64, StoreError>;
}

pub trait AuditQueries {
    /// The newest audit records first.
    fn audit(&self, limit: usize) -> Result<Vec<AuditRecord>, StoreError>;
}

pub trait ReportQueries {
    /// Reports whose attack happened in `[from, to)`, oldest first, at most `limit`.
    fn reports(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<StoredReport>, StoreError>;
    /// Totals per night of the reports whose attack happened in `[from, to)`.
    fn nights(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Night>, StoreError>;
    /// How many threat notices the record holds.
    fn threat_count(&self) -> Result<u64, StoreError>;
}

/// Every read of the record.
pub trait Queries:
    LogQueries + AlertQueries + TokenQueries + AuditQueries + ReportQueries + OutputPositions
{
}

impl<T> Queries for T where
    T: LogQueries + AlertQueries + TokenQueries + AuditQueries + ReportQueries + OutputPositions
{
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
    /// Only alerts of this status (drills and tests are kept apart from actual alerts).
    pub status: Option<AlertStatus>,
    /// Alerts under way at some moment in `[from, to)`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub after: Option<Cursor>,
    pub limit: usize,
}

/// A past or present alert reduced to what statistics need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub region: RegionId,
    pub started_ms: i64,
    /// `None` while the alert is still on.
    pub ended_ms: Option<i64>,
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

/// A recorded attack report with where it stands in the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredReport {
    pub seq: u64,
    pub recorded_at: DateTime<Utc>,
    /// When the attack happened: the report's period start, else its end, else `recorded_at`.
    pub time: DateTime<Utc>,
    pub report: Recorded<AttackReport>,
}
