//! A threat notice ("a rocket in Chernihiv region heading for Kyiv region!"), whether it starts
//! or ends, and a place as a text names it.
//!
//! [`NamedRegion`] is not the alert's [`crate::RegionRef`]: it is what the text said, resolved
//! to a registry id where the readers could, and kept as written where they could not, so that
//! nothing a source said is lost.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A place as a text names it. `id` is the registry id (null when the text named a place the
/// registry does not know); `name` is the registry's name, or the name as written when
/// unresolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamedRegion {
    pub id: Option<u32>,
    pub name: String,
}

/// Whether an announcement starts something (an alert, a threat) or says it is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Action {
    Start,
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ThreatKind {
    Drone,
    CruiseMissile,
    BallisticMissile,
    GuidedBomb,
    Aircraft,
    Missile,
    Other,
}

/// A notice that something is moving, or that such a notice is over (`action: end`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Threat {
    pub kind: ThreatKind,
    pub action: Action,
    pub count: Option<u32>,
    pub model: Option<String>,
    pub from_region: Option<NamedRegion>,
    pub towards_region: Option<NamedRegion>,
    pub at: Option<DateTime<Utc>>,
    /// The notice as written: kept as evidence, and what its content key is made of.
    pub text: String,
}
