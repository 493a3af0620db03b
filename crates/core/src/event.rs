//! Events: every change of state, as it is written to the log and sent to subscribers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::region::RegionId;
use crate::report::{AttackReport, Recorded, Threat};

/// One entry of the append-only, gapless log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub issuer: Option<String>,
    #[serde(flatten)]
    pub body: EventBody,
    /// The server's Ed25519 signature over the event's canonical bytes, set by the writer as
    /// the event is appended (see `tryvoga_server::signing`); `None` before that, or when the
    /// record was written without a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
}

/// What happened. The tag is the event kind named in DESIGN.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventBody {
    #[serde(rename = "alert.started")]
    AlertStarted { alert: Alert },
    #[serde(rename = "alert.updated")]
    AlertUpdated { alert: Alert },
    #[serde(rename = "alert.ended")]
    AlertEnded { alert: Alert },
    #[serde(rename = "alert.cancelled")]
    AlertCancelled { alert: Alert },
    /// A threat notice, with its content key as `id` (see `crate::report`).
    #[serde(rename = "threat.reported")]
    ThreatReported {
        #[cfg_attr(feature = "openapi", schema(value_type = crate::report::recorded::schema::RecordedThreat))]
        threat: Recorded<Threat>,
    },
    /// An attack summary, with its content key as `id` (see `crate::report`). Boxed: a report
    /// is larger than any other event.
    #[serde(rename = "report.attack")]
    ReportAttack {
        #[cfg_attr(feature = "openapi", schema(value_type = crate::report::recorded::schema::RecordedAttackReport))]
        report: Box<Recorded<AttackReport>>,
    },
}

impl EventBody {
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::AlertStarted { .. } => "alert.started",
            EventBody::AlertUpdated { .. } => "alert.updated",
            EventBody::AlertEnded { .. } => "alert.ended",
            EventBody::AlertCancelled { .. } => "alert.cancelled",
            EventBody::ThreatReported { .. } => "threat.reported",
            EventBody::ReportAttack { .. } => "report.attack",
        }
    }

    pub fn alert(&self) -> Option<&Alert> {
        match self {
            EventBody::AlertStarted { alert }
            | EventBody::AlertUpdated { alert }
            | EventBody::AlertEnded { alert }
            | EventBody::AlertCancelled { alert } => Some(alert),
            _ => None,
        }
    }

    /// The content key of a recorded report or threat (its `id`); `None` for other events.
    /// The record finds a second reading of the same text by it.
    pub fn content_key(&self) -> Option<&str> {
        match self {
            EventBody::ReportAttack { report } => Some(&report.id),
            EventBody::ThreatReported { threat } => Some(&threat.id),
            _ => None,
        }
    }

    /// The region an event is about, for subscription filters.
    pub fn region(&self) -> Option<RegionId> {
        self.alert().map(|a| a.region.id)
    }
}

impl Event {
    pub fn kind(&self) -> &'static str {
        self.body.kind()
    }
}
