//! Commands: what an issuer asks for, who is asking, and why a request can be refused.

use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use crate::alert::{Alert, AlertId, AlertLevel, AlertStatus, AlertType};
use crate::power::{PowerId, PowerKind};
use crate::prealert::{EndReason, PrealertId};
use crate::region::{RegionId, Registry};
use crate::report::{AttackReport, Threat};
use crate::threat::{ClearReason, ThreatId, ThreatKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages tokens and may issue anywhere.
    Admin,
    /// Raises, ends and cancels alerts for the regions in its scope.
    Issuer,
    /// Reads what is not public.
    Reader,
    /// The grid operator: starts, changes and ends power restrictions for the regions in its
    /// scope, and nothing else.
    Grid,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Issuer => "issuer",
            Role::Reader => "reader",
            Role::Grid => "grid",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = crate::alert::UnknownWord;
    fn from_str(s: &str) -> Result<Role, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "issuer" => Ok(Role::Issuer),
            "reader" => Ok(Role::Reader),
            "grid" => Ok(Role::Grid),
            _ => Err(crate::alert::UnknownWord {
                field: "role",
                allowed: &["admin", "issuer", "reader", "grid"],
                given: s.to_string(),
            }),
        }
    }
}

/// Who is asking: the name and powers of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub name: String,
    pub role: Role,
    /// Regions an issuer (or a grid token) may act on; each covers its descendants. Ignored
    /// for admins.
    pub scope: Vec<RegionId>,
}

impl Actor {
    pub fn may_issue_for(&self, registry: &Registry, region: RegionId) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Issuer => self.scope.iter().any(|&s| registry.is_within(region, s)),
            Role::Reader | Role::Grid => false,
        }
    }

    /// Whether it may start, change or end power restrictions for `region`: admins anywhere,
    /// grid tokens within their scope.
    pub fn may_restrict_power_for(&self, registry: &Registry, region: RegionId) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Grid => self.scope.iter().any(|&s| registry.is_within(region, s)),
            Role::Issuer | Role::Reader => false,
        }
    }
}

/// Where a threat is said to come from, as a command names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FromPlace {
    Region(RegionId),
    /// A launch area outside the registry ("Kursk region", "Black Sea"), as written.
    Area(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    StartAlert {
        region: RegionId,
        alert_type: AlertType,
        level: Option<AlertLevel>,
        status: AlertStatus,
        note: Option<String>,
    },
    /// Changes the level or the note of an active alert; `None` leaves a field as it is.
    UpdateAlert {
        id: AlertId,
        level: Option<Option<AlertLevel>>,
        note: Option<Option<String>>,
    },
    EndAlert {
        id: AlertId,
    },
    /// Ends an alert as a false alarm: it stays in the record, flagged, with the reason.
    CancelAlert {
        id: AlertId,
        reason: String,
    },
    /// Records an attack report read from an official text; the core checks it and derives
    /// its content key (see `crate::report`). Boxed: a report is many times the size of any
    /// other command.
    ReportAttack {
        report: Box<AttackReport>,
    },
    /// Records a threat notice read from an official text; the core checks it and derives its
    /// content key (see `crate::report`).
    ReportThreat {
        threat: Threat,
    },
    /// Announces a threat; the core resolves the regions, sets the expiry (given, or
    /// [`crate::threat`]'s default) and the arrival windows.
    RaiseThreat {
        kind: ThreatKind,
        count: Option<u32>,
        from: Option<FromPlace>,
        towards: Vec<RegionId>,
        heading: Option<u16>,
        observed_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
        source: Option<String>,
    },
    /// Ends a threat: by an issuer, or (`Expired`, only once its expiry has passed) by the
    /// server's housekeeping.
    ClearThreat {
        id: ThreatId,
        reason: ClearReason,
    },
    StartPrealert {
        regions: Vec<RegionId>,
        expires_at: Option<DateTime<Utc>>,
        note: Option<String>,
    },
    /// Ends a pre-alert: by an issuer, or by the housekeeping when an alert covers it
    /// (`Alert`) or it lapsed (`Expired`), each only when that is so.
    EndPrealert {
        id: PrealertId,
        reason: EndReason,
    },
    StartPower {
        regions: Vec<RegionId>,
        kind: PowerKind,
        queues: Vec<String>,
        hours: Vec<String>,
        note: Option<String>,
    },
    /// Changes a power restriction; `None` leaves a field as it is.
    UpdatePower {
        id: PowerId,
        kind: Option<PowerKind>,
        queues: Option<Vec<String>>,
        hours: Option<Vec<String>>,
        note: Option<Option<String>>,
    },
    EndPower {
        id: PowerId,
    },
    /// Sets (or, with `None`, removes) a region's time to shelter, in seconds. Admins only.
    SetTimeToShelter {
        region: RegionId,
        seconds: Option<u32>,
    },
}

/// Why the core refused a command. Each maps to one HTTP status at the edge.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Conflict { message: String, alert: Box<Alert> },
    /// The alert named has already ended or been cancelled.
    #[error("{0}")]
    Ended(String),
    #[error("{0}")]
    Invalid(String),
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Forbidden(_) => "forbidden",
            Refusal::NotFound(_) => "not_found",
            Refusal::Conflict { .. } => "conflict",
            Refusal::Ended(_) => "already_ended",
            Refusal::Invalid(_) => "invalid",
        }
    }
}

/// The longest note or reason accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;
