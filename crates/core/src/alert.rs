//! Alerts: what is announced for a region, of which type, level and status, and when.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::region::RegionRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AlertId(pub u64);

impl fmt::Display for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An unrecognised word where a fixed vocabulary was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be one of {}, not {given:?}", allowed.join(", "))]
pub struct UnknownWord {
    pub field: &'static str,
    pub allowed: &'static [&'static str],
    pub given: String,
}

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $word)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;
            fn from_str(s: &str) -> Result<Self, UnknownWord> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($word => Ok($name::$variant),)+
                    _ => Err(UnknownWord {
                        field: $field,
                        allowed: &[$($word),+],
                        given: s.to_string(),
                    }),
                }
            }
        }
    };
}

pub(crate) use vocabulary;

vocabulary!(
    /// Alert types, named as alerts.in.ua names them.
    AlertType, "type" {
        AirRaid => "air_raid",
        ArtilleryShelling => "artillery_shelling",
        UrbanFights => "urban_fights",
        Chemical => "chemical",
        Nuclear => "nuclear",
    }
);

vocabulary!(
    /// The Air Alert app's colour: red for missiles and ballistics, yellow for drones.
    AlertLevel, "level" {
        Red => "red",
        Yellow => "yellow",
    }
);

vocabulary!(
    /// As CAP's status: drills are kept apart from real alerts everywhere the public looks.
    AlertStatus, "status" {
        Actual => "actual",
        Exercise => "exercise",
        Test => "test",
    }
);

impl AlertStatus {
    pub fn is_actual(self) -> bool {
        self == AlertStatus::Actual
    }
}

/// Where an alert came from: raised live, imported from the historical record, or replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    #[default]
    Live,
    Import,
    Replay,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: AlertId,
    pub region: RegionRef,
    #[serde(rename = "type")]
    pub alert_type: AlertType,
    pub level: Option<AlertLevel>,
    pub status: AlertStatus,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub cancelled: bool,
    pub cancel_reason: Option<String>,
    pub note: Option<String>,
    pub issuer: Option<String>,
    /// The sequence number of the event that produced this version of the alert.
    pub seq: u64,
    #[serde(default)]
    pub origin: Origin,
}

impl Alert {
    pub fn is_active(&self) -> bool {
        self.ended_at.is_none()
    }
}
