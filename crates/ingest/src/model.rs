//! The structures the readers produce: alerts, threats, attack reports and power restrictions,
//! serialised as the `tryvoga ingest text --json` contract.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Everything read from one or more texts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extraction {
    pub alerts: Vec<Alert>,
    pub threats: Vec<Threat>,
    pub reports: Vec<AttackReport>,
    pub power: Vec<PowerRestriction>,
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

/// A Ukrainian region as the registry names it. `id` is null when the text named a place the
/// registry does not know; the name as written is kept so nothing is lost.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RegionRef {
    pub id: Option<u32>,
    pub name: String,
}

/// A region an attack report names: Ukrainian ones carry a registry id, foreign ones only a name
/// and their country.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TargetRegion {
    pub id: Option<u32>,
    pub name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertType {
    AirRaid,
    ArtilleryShelling,
    UrbanFights,
    Chemical,
    Nuclear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Start,
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertLevel {
    Red,
    Yellow,
}

/// One alert change announced by the channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub region: RegionRef,
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
    pub still_active: Vec<RegionRef>,
    /// The channel's message id, when the input was an export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threat {
    pub kind: ThreatKind,
    pub action: Action,
    pub count: Option<u32>,
    pub model: Option<String>,
    pub from_region: Option<RegionRef>,
    pub towards_region: Option<RegionRef>,
    pub at: Option<DateTime<Utc>>,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
pub struct Casualties {
    pub killed: Option<u32>,
    pub injured: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// A sentence a report was read from; `start`/`end` are byte offsets into the document text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub text: String,
    pub start: usize,
    pub end: usize,
}

/// One attack, as one document (or several captures of one document) describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerKind {
    /// Limits on consumption ordered by the grid operator.
    ConsumptionLimits,
    ScheduledOutages,
    EmergencyOutages,
}

/// A restriction on power supply the grid operator or a distributor announced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerRestriction {
    pub regions: Vec<RegionRef>,
    pub kind: PowerKind,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// Who is limited, when stated: `business`, `household`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
}
