//! Pre-alerts: "alerts are expected here within minutes" for a set of regions (Pikud HaOref's
//! category 14). One ends when an actual alert is raised on a region it covers, when an issuer
//! ends it, or when its `expires_at` passes ([`DEFAULT_PREALERT_MINUTES`] unless given).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::region::{RegionId, RegionRef};

/// How long a pre-alert lasts when no expiry is given.
pub const DEFAULT_PREALERT_MINUTES: i64 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PrealertId(pub u64);

impl fmt::Display for PrealertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a pre-alert ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// An issuer ended it.
    Issuer,
    /// An actual alert was raised on a region it covers.
    Alert,
    /// Its `expires_at` passed.
    Expired,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prealert {
    pub id: PrealertId,
    pub regions: Vec<RegionRef>,
    pub started_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<EndReason>,
    pub note: Option<String>,
    pub issuer: Option<String>,
    pub seq: u64,
}

impl Prealert {
    pub fn region_ids(&self) -> Vec<RegionId> {
        self.regions.iter().map(|r| r.id).collect()
    }

    pub fn is_on(&self, now: DateTime<Utc>) -> bool {
        self.ended_at.is_none() && self.expires_at > now
    }
}
