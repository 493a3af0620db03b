//! Power restrictions as the grid operator announces them: which regions, what kind (scheduled
//! outages by queue, emergency outages, limits for business, or power restored), and where
//! given the queues and the hours. Issued by `grid` tokens within their regions (and admins).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{UnknownWord, vocabulary};
use crate::region::{RegionId, RegionRef};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PowerId(pub u64);

impl fmt::Display for PowerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

vocabulary!(
    /// What the grid operator announced.
    PowerKind, "kind" {
        ScheduledOutages => "scheduled_outages",
        EmergencyOutages => "emergency_outages",
        BusinessLimits => "business_limits",
        Restored => "restored",
    }
);

/// The longest list of queues or hours accepted.
pub const MAX_POWER_ITEMS: usize = 48;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerRestriction {
    pub id: PowerId,
    pub regions: Vec<RegionRef>,
    pub kind: PowerKind,
    /// The outage queues named ("1", "2.1", ...), as the operator numbers them.
    pub queues: Vec<String>,
    /// The hours of the outages, each `HH:MM-HH:MM` in Kyiv time as the operator gives them.
    pub hours: Vec<String>,
    pub note: Option<String>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub issuer: Option<String>,
    pub seq: u64,
}

impl PowerRestriction {
    pub fn region_ids(&self) -> Vec<RegionId> {
        self.regions.iter().map(|r| r.id).collect()
    }

    pub fn is_on(&self) -> bool {
        self.ended_at.is_none()
    }
}

/// Whether `h` is `HH:MM-HH:MM` (24 h clock; `24:00` allowed as an end).
pub fn valid_hours(h: &str) -> bool {
    let Some((a, b)) = h.split_once('-') else {
        return false;
    };
    let clock = |t: &str, end: bool| {
        let Some((hh, mm)) = t.trim().split_once(':') else {
            return false;
        };
        let (Ok(hh), Ok(mm)) = (hh.parse::<u32>(), mm.parse::<u32>()) else {
            return false;
        };
        mm < 60 && (hh < 24 || (end && hh == 24 && mm == 0))
    };
    clock(a, false) && clock(b, true)
}
