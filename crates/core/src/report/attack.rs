//! An attack report: one attack as an official text describes it — who attacked whom, when,
//! per weapon class what was launched, destroyed, suppressed, left the airspace or hit, which
//! regions were targeted, casualties, infrastructure hit, and the sentences it was read from.
//!
//! These are the fields the readers (`tryvoga-ingest`) fill and `tryvoga ingest text --json`
//! prints in this order; the record keeps the same fields with their content key (see
//! [`super::Recorded`]). A figure the text did not state is `None` (null), never 0.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A region an attack report names: Ukrainian ones carry a registry id, foreign ones only a name
/// and their country.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetRegion {
    pub id: Option<u32>,
    pub name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WeaponClass {
    Drone,
    /// A missile whose type the text did not state.
    Missile,
    CruiseMissile,
    BallisticMissile,
    AeroballisticMissile,
    AntiShipMissile,
    GuidedMissile,
    Irbm,
    GuidedBomb,
    Other,
}

impl WeaponClass {
    pub fn is_missile(self) -> bool {
        matches!(
            self,
            WeaponClass::Missile
                | WeaponClass::CruiseMissile
                | WeaponClass::BallisticMissile
                | WeaponClass::AeroballisticMissile
                | WeaponClass::AntiShipMissile
                | WeaponClass::GuidedMissile
                | WeaponClass::Irbm
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WeaponClass::Drone => "drone",
            WeaponClass::Missile => "missile",
            WeaponClass::CruiseMissile => "cruise_missile",
            WeaponClass::BallisticMissile => "ballistic_missile",
            WeaponClass::AeroballisticMissile => "aeroballistic_missile",
            WeaponClass::AntiShipMissile => "anti_ship_missile",
            WeaponClass::GuidedMissile => "guided_missile",
            WeaponClass::Irbm => "irbm",
            WeaponClass::GuidedBomb => "guided_bomb",
            WeaponClass::Other => "other",
        }
    }
}

/// Counts for one weapon class (and model, where stated). A count the text did not state is
/// null, never 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WeaponCount {
    pub class: Option<WeaponClass>,
    pub model: Option<String>,
    pub launched: Option<u32>,
    pub destroyed: Option<u32>,
    /// Lost locationally or brought down by electronic warfare; did not reach the target.
    pub suppressed: Option<u32>,
    pub left_airspace: Option<u32>,
    pub hit: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum InfraKind {
    Energy,
    Oil,
    Gas,
    Nuclear,
    Water,
    Transport,
    Residential,
    Industrial,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Casualties {
    pub killed: Option<u32>,
    pub injured: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Period {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// A sentence a report was read from; `start`/`end` are byte offsets into the document text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evidence {
    pub text: String,
    pub start: usize,
    pub end: usize,
}

/// One attack, as one document (or several captures of one document) describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttackReport {
    /// ISO 3166-1 alpha-2.
    pub attacker: String,
    pub target: String,
    pub period: Period,
    pub weapons: Vec<WeaponCount>,
    pub regions: Vec<TargetRegion>,
    pub casualties: Casualties,
    pub infrastructure: Vec<InfraKind>,
    pub evidence: Vec<Evidence>,
    /// Where the weapons were launched from, as written ("Курськ", "акваторії Чорного моря").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub launch_areas: Vec<String>,
    /// Locations with hits, as the Air Force counts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hit_locations: Option<u32>,
    /// Locations where debris fell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debris_locations: Option<u32>,
    /// The destroyed total the headline states, kept beside the per-weapon figures because
    /// the two do not always agree (see `flags`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headline_destroyed: Option<u32>,
    /// Notes on the reading: `headline_total_mismatch`, `clarification`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

impl AttackReport {
    pub fn new(attacker: &str, target: &str) -> Self {
        AttackReport {
            attacker: attacker.to_string(),
            target: target.to_string(),
            period: Period::default(),
            weapons: Vec::new(),
            regions: Vec::new(),
            casualties: Casualties::default(),
            infrastructure: Vec::new(),
            evidence: Vec::new(),
            launch_areas: Vec::new(),
            hit_locations: None,
            debris_locations: None,
            headline_destroyed: None,
            flags: Vec::new(),
        }
    }

    /// The weapon entry for a class, if any.
    pub fn weapon(&self, class: WeaponClass) -> Option<&WeaponCount> {
        self.weapons.iter().find(|w| w.class == Some(class))
    }

    /// The weapon entry whose model contains `model` (case-insensitive).
    pub fn weapon_model(&self, model: &str) -> Option<&WeaponCount> {
        let needle = model.to_lowercase();
        self.weapons.iter().find(|w| {
            w.model
                .as_deref()
                .is_some_and(|m| m.to_lowercase().split('/').any(|p| p == needle))
        })
    }

    pub fn total_destroyed(&self) -> u32 {
        self.weapons
            .iter()
            .filter_map(|w| w.destroyed)
            .fold(0u32, u32::saturating_add)
    }
}
