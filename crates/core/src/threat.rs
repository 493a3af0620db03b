//! Threats as the state machine keeps them ("a rocket in Chernihiv region heading for Kyiv
//! region!"): what is moving (`kind` in alerts.in.ua's vocabulary), how many, from where (a
//! region or a named launch area) towards which regions or on which heading, when it was seen
//! and when the notice lapses by itself, with an arrival window per region where both ends are
//! known.
//!
//! The arrival window ([`Eta`]) is an estimate, and says so (`estimate: true`): the distance
//! between the centroids of the two regions ([`crate::geo`]) over the slowest and fastest
//! speed of [`ThreatKind::speed_kmh`]. A threat read from an official text before threats were
//! typed (`tryvoga_core::report::Threat`, keyed by its text) is still a `threat.reported`
//! event: [`Reported`] reads either shape, so old logs replay.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{UnknownWord, vocabulary};
use crate::region::{RegionId, RegionRef, Registry};
use crate::report::Recorded;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ThreatId(pub u64);

impl fmt::Display for ThreatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

vocabulary!(
    /// What is moving, named as alerts.in.ua names a threat's `threat_type`.
    ThreatKind, "kind" {
        BallisticMissiles => "ballistic_missiles",
        CruiseMissiles => "cruise_missiles",
        UnspecifiedMissiles => "unspecified_missiles",
        Drones => "drones",
        GuidedAerialBombs => "guided_aerial_bombs",
        TacticAircraftActivity => "tactic_aircraft_activity",
        StrategicAircraftActivity => "strategic_aircraft_activity",
        Mig31kDeparture => "mig31k_departure",
        AirDefense => "air_defense",
        Unknown => "unknown",
    }
);

impl ThreatKind {
    /// The slowest and fastest average ground speed assumed for an arrival window, km/h; `None`
    /// for kinds that do not fly at a region (aircraft activity, air defence, unknown).
    ///
    /// Sources (public figures; the window is deliberately wide):
    /// - drones: Shahed-136 / Geran-2, maximum speed 185 km/h, cruise about 150 km/h
    ///   (Wikipedia, "HESA Shahed 136", specifications; Ukrainian Air Force briefings). Lower
    ///   bound 120 km/h for headwinds and loitering routes.
    /// - cruise missiles: Kh-101 cruise speed 190–200 m/s (~700 km/h), up to 250–270 m/s
    ///   (~970 km/h) (Wikipedia, "Kh-101"); Kalibr 3M-14 about Mach 0.8 (~980 km/h at sea
    ///   level; Wikipedia, "3M-54 Kalibr"). Window 700–900 km/h, as the typical route speed.
    /// - ballistic missiles: Iskander-M (9K720) reaches Mach 6–7 (Wikipedia, "9K720
    ///   Iskander"); averaged over boost and descent, the Air Force's "4–6 minutes to Kyiv from
    ///   Kursk region" (~450 km) gives 4,500–6,750 km/h. Window 3,600–7,400 km/h.
    /// - unspecified missiles: from the cruise missile's low end to the ballistic high end.
    /// - guided aerial bombs: KAB with UMPK glide kits, released at high subsonic speed and
    ///   gliding 40–70 km (Wikipedia, "UMPK"); 400–1,000 km/h.
    /// - MiG-31K departure: the Kh-47M2 Kinzhal it carries, claimed up to Mach 10 (~12,000
    ///   km/h; Wikipedia, "Kh-47M2 Kinzhal"), observed to reach Kyiv in a few minutes;
    ///   4,000–12,000 km/h.
    pub fn speed_kmh(self) -> Option<(f64, f64)> {
        match self {
            ThreatKind::Drones => Some((120.0, 185.0)),
            ThreatKind::CruiseMissiles => Some((700.0, 900.0)),
            ThreatKind::BallisticMissiles => Some((3_600.0, 7_400.0)),
            ThreatKind::UnspecifiedMissiles => Some((700.0, 7_400.0)),
            ThreatKind::GuidedAerialBombs => Some((400.0, 1_000.0)),
            ThreatKind::Mig31kDeparture => Some((4_000.0, 12_000.0)),
            ThreatKind::TacticAircraftActivity
            | ThreatKind::StrategicAircraftActivity
            | ThreatKind::AirDefense
            | ThreatKind::Unknown => None,
        }
    }

    /// The alert level the Air Alert app would show for it: red for missiles, yellow for
    /// drones and the rest.
    pub fn level(self) -> crate::AlertLevel {
        match self {
            ThreatKind::BallisticMissiles
            | ThreatKind::CruiseMissiles
            | ThreatKind::UnspecifiedMissiles
            | ThreatKind::Mig31kDeparture
            | ThreatKind::GuidedAerialBombs => crate::AlertLevel::Red,
            _ => crate::AlertLevel::Yellow,
        }
    }
}

/// Where a threat comes from: a region of the registry, or a named launch area outside it
/// ("Kursk region", "the Black Sea").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    Region(RegionRef),
    Area(String),
}

/// An estimated arrival window for one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Eta {
    pub region: RegionId,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Centroid to centroid, km, rounded.
    pub distance_km: u32,
    /// Always true: a window from centroids and typical speeds, never a prediction.
    pub estimate: bool,
}

/// Why a threat stopped being on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClearReason {
    /// An issuer cleared it.
    Issuer,
    /// Its `expires_at` passed.
    Expired,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threat {
    pub id: ThreatId,
    pub kind: ThreatKind,
    pub count: Option<u32>,
    pub from: Option<Place>,
    pub towards: Vec<RegionRef>,
    /// Degrees clockwise from north, where the notice gave a heading instead of regions.
    pub heading: Option<u16>,
    pub observed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub cleared_at: Option<DateTime<Utc>>,
    pub clear_reason: Option<ClearReason>,
    /// One window per `towards` region, where `from` is a region and the kind has speeds.
    pub eta: Vec<Eta>,
    pub source: Option<String>,
    pub issuer: Option<String>,
    pub seq: u64,
}

impl Threat {
    /// The regions it concerns: where it comes from (a region) and where it is heading.
    pub fn regions(&self) -> Vec<RegionId> {
        let mut out: Vec<RegionId> = Vec::with_capacity(self.towards.len() + 1);
        if let Some(Place::Region(r)) = &self.from {
            out.push(r.id);
        }
        for t in &self.towards {
            if !out.contains(&t.id) {
                out.push(t.id);
            }
        }
        out
    }

    pub fn is_on(&self, now: DateTime<Utc>) -> bool {
        self.cleared_at.is_none() && self.expires_at > now
    }
}

/// The arrival windows of a threat of `kind` seen at `observed` in `from`, for each of
/// `towards`.
pub fn etas(
    registry: &Registry,
    kind: ThreatKind,
    from: RegionId,
    towards: &[RegionId],
    observed: DateTime<Utc>,
) -> Vec<Eta> {
    let Some((slow, fast)) = kind.speed_kmh() else {
        return Vec::new();
    };
    let after =
        |km: f64, kmh: f64| observed + Duration::seconds((km / kmh * 3600.0).round() as i64);
    towards
        .iter()
        .filter_map(|&t| {
            let km = crate::geo::region_distance_km(registry, from, t)?;
            Some(Eta {
                region: t,
                from: after(km, fast),
                to: after(km, slow),
                distance_km: km.round() as u32,
                estimate: true,
            })
        })
        .collect()
}

/// The payload of `threat.reported`: a threat decided by the state machine, or a notice read
/// from an official text and recorded by its content key before threats were typed (its
/// members are `action`, `text`, a string `id`, ...). Reading tries the typed shape first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reported {
    Notice(Threat),
    Reading(Recorded<crate::report::Threat>),
}

impl Reported {
    pub fn regions(&self) -> Vec<RegionId> {
        match self {
            Reported::Notice(t) => t.regions(),
            Reported::Reading(r) => {
                let mut out = Vec::new();
                for id in [&r.from_region, &r.towards_region]
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.id)
                {
                    if !out.contains(&RegionId(id)) {
                        out.push(RegionId(id));
                    }
                }
                out
            }
        }
    }
}
