//! Events: every change of state, as it is written to the log and sent to subscribers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::power::PowerRestriction;
use crate::prealert::Prealert;
use crate::region::{RegionId, RegionRef};
use crate::report::{AttackReport, Recorded};
use crate::threat::{Reported, Threat};

/// One entry of the append-only, gapless log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
pub enum EventBody {
    #[serde(rename = "alert.started")]
    AlertStarted { alert: Alert },
    #[serde(rename = "alert.updated")]
    AlertUpdated { alert: Alert },
    #[serde(rename = "alert.ended")]
    AlertEnded { alert: Alert },
    #[serde(rename = "alert.cancelled")]
    AlertCancelled { alert: Alert },
    /// A threat announced (typed, with a numeric `id`), or a notice read from a text before
    /// threats were typed (with its content key as `id`; see [`Reported`]).
    #[serde(rename = "threat.reported")]
    ThreatReported { threat: Box<Reported> },
    /// A threat cleared by an issuer or lapsed (`clear_reason`).
    #[serde(rename = "threat.cleared")]
    ThreatCleared { threat: Box<Threat> },
    #[serde(rename = "prealert.started")]
    PrealertStarted { prealert: Prealert },
    /// Ended by an issuer, by an alert on a region it covers, or by expiry (`end_reason`).
    #[serde(rename = "prealert.ended")]
    PrealertEnded { prealert: Prealert },
    #[serde(rename = "power.started")]
    PowerStarted { power: PowerRestriction },
    #[serde(rename = "power.updated")]
    PowerUpdated { power: PowerRestriction },
    #[serde(rename = "power.ended")]
    PowerEnded { power: PowerRestriction },
    /// A region's settings changed: its time to shelter, in seconds (`null`: none set).
    #[serde(rename = "region.updated")]
    RegionUpdated {
        region: RegionRef,
        time_to_shelter: Option<u32>,
    },
    /// An attack summary, with its content key as `id` (see `crate::report`). Boxed: a report
    /// is larger than any other event.
    #[serde(rename = "report.attack")]
    ReportAttack { report: Box<Recorded<AttackReport>> },
}

impl EventBody {
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::AlertStarted { .. } => "alert.started",
            EventBody::AlertUpdated { .. } => "alert.updated",
            EventBody::AlertEnded { .. } => "alert.ended",
            EventBody::AlertCancelled { .. } => "alert.cancelled",
            EventBody::ThreatReported { .. } => "threat.reported",
            EventBody::ThreatCleared { .. } => "threat.cleared",
            EventBody::PrealertStarted { .. } => "prealert.started",
            EventBody::PrealertEnded { .. } => "prealert.ended",
            EventBody::PowerStarted { .. } => "power.started",
            EventBody::PowerUpdated { .. } => "power.updated",
            EventBody::PowerEnded { .. } => "power.ended",
            EventBody::RegionUpdated { .. } => "region.updated",
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
            EventBody::ThreatReported { threat } => match &**threat {
                Reported::Reading(r) => Some(&r.id),
                Reported::Notice(_) => None,
            },
            _ => None,
        }
    }

    /// Every region an event is about, for subscription filters: an alert's region, a
    /// threat's `from` and `towards`, a pre-alert's or power restriction's regions. Empty for
    /// events about the whole country (attack reports).
    pub fn regions(&self) -> Vec<RegionId> {
        match self {
            EventBody::AlertStarted { alert }
            | EventBody::AlertUpdated { alert }
            | EventBody::AlertEnded { alert }
            | EventBody::AlertCancelled { alert } => vec![alert.region.id],
            EventBody::ThreatReported { threat } => threat.regions(),
            EventBody::ThreatCleared { threat } => threat.regions(),
            EventBody::PrealertStarted { prealert } | EventBody::PrealertEnded { prealert } => {
                prealert.region_ids()
            }
            EventBody::PowerStarted { power }
            | EventBody::PowerUpdated { power }
            | EventBody::PowerEnded { power } => power.region_ids(),
            EventBody::RegionUpdated { region, .. } => vec![region.id],
            EventBody::ReportAttack { .. } => Vec::new(),
        }
    }

    /// The first region an event is about (the one the log's `region_id` column keeps); see
    /// [`EventBody::regions`] for all of them.
    pub fn region(&self) -> Option<RegionId> {
        match self {
            EventBody::ReportAttack { .. } => None,
            _ => match self.alert() {
                Some(a) => Some(a.region.id),
                None => self.regions().first().copied(),
            },
        }
    }

    /// Whether events of this kind change what the state keeps besides alerts (threats,
    /// pre-alerts, power restrictions, region settings): the kinds a restore folds.
    pub fn is_situation(kind: &str) -> bool {
        SITUATION_KINDS.contains(&kind)
    }
}

/// The kinds [`EventBody::is_situation`] names.
pub const SITUATION_KINDS: &[&str] = &[
    "threat.reported",
    "threat.cleared",
    "prealert.started",
    "prealert.ended",
    "power.started",
    "power.updated",
    "power.ended",
    "region.updated",
];

impl Event {
    pub fn kind(&self) -> &'static str {
        self.body.kind()
    }
}
