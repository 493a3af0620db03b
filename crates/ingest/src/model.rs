//! What the readers produce, as the `tryvoga ingest text --json` contract: the [`Extraction`]
//! (`{"alerts","threats","reports","power"}`) and the two things only the readers know, the
//! alert changes the channel announces and power restrictions.
//!
//! Threats, attack reports and places as a text names them are the core's vocabulary
//! (`tryvoga_core::report`), and so are alert types and levels: the core decides on them when
//! they are recorded, so they are declared there once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tryvoga_core::report::{Action, AttackReport, Evidence, NamedRegion, Threat};
use tryvoga_core::{AlertLevel, AlertType};

/// Everything read from one or more texts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extraction {
    pub alerts: Vec<AlertChange>,
    pub threats: Vec<Threat>,
    pub reports: Vec<AttackReport>,
    pub power: Vec<PowerReading>,
}

impl Extraction {
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
            && self.threats.is_empty()
            && self.reports.is_empty()
            && self.power.is_empty()
    }

    /// Appends another extraction (no deduplication; see [`crate::read_documents`] for that).
    pub fn extend(&mut self, other: Extraction) {
        self.alerts.extend(other.alerts);
        self.threats.extend(other.threats);
        self.reports.extend(other.reports);
        self.power.extend(other.power);
    }
}

/// One alert change announced by the channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertChange {
    pub region: NamedRegion,
    #[serde(rename = "type")]
    pub alert_type: AlertType,
    pub action: Action,
    /// UTC; null when the text carried only a Kyiv `HH:MM` and no date was known.
    pub at: Option<DateTime<Utc>>,
    /// The `HH:MM` Kyiv time printed in the message, as written.
    pub time_local: Option<String>,
    pub level: Option<AlertLevel>,
    pub test: bool,
    /// For a partial all-clear (🟡): the regions the channel says are still under alert.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub still_active: Vec<NamedRegion>,
    /// The channel's message id, when the input was an export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerReadingKind {
    /// Limits on consumption ordered by the grid operator.
    ConsumptionLimits,
    ScheduledOutages,
    EmergencyOutages,
}

/// A restriction on power supply the grid operator or a distributor announced, as a text
/// says it (not yet the core's `PowerRestriction`, which the record keeps: turning readings
/// into `power.*` events is for a later step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerReading {
    pub regions: Vec<NamedRegion>,
    pub kind: PowerReadingKind,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// Who is limited, when stated: `business`, `household`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
}
