//! A report or threat as the record holds it: its fields with the content key the core derived
//! for it as `id`, in the events `report.attack` / `threat.reported` and the tables beside the
//! log.
//!
//! The record's JSON writes the members of these objects, at every depth, in ascending order of
//! their keys (`{"attacker":..,"casualties":{"injured":..,"killed":..},..,"id":..,..}`): that is
//! how every stored event and every frame subscribers received has been written since reports
//! were first recorded, and a log is never rewritten. `tryvoga ingest text --json` and the
//! bodies clients post keep the declaration order of [`AttackReport`] and [`Threat`]; only the
//! recorded form is sorted, by the key-ordered views below. Each view takes its struct apart
//! field by field, so a field added to a report cannot be left out of the record unnoticed.
//! Reading accepts the members in any order.

use std::ops::Deref;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    Action, AttackReport, Casualties, Evidence, InfraKind, NamedRegion, Period, TargetRegion,
    Threat, ThreatKind, WeaponClass, WeaponCount,
};

/// A recorded report or threat: `id` is its content key ([`super::report_key`],
/// [`super::threat_key`]), written beside the fields of `inner` as one JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded<T> {
    pub id: String,
    pub inner: T,
}

impl<T> Deref for Recorded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Recorded<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Members<U> {
            id: String,
            #[serde(flatten)]
            inner: U,
        }
        let Members { id, inner } = Members::deserialize(d)?;
        Ok(Recorded { id, inner })
    }
}

impl Serialize for Recorded<AttackReport> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let AttackReport {
            attacker,
            target,
            period,
            weapons,
            regions,
            casualties,
            infrastructure,
            evidence,
            launch_areas,
            hit_locations,
            debris_locations,
            headline_destroyed,
            flags,
        } = &self.inner;
        ReportInKeyOrder {
            attacker,
            casualties: casualties.into(),
            debris_locations: *debris_locations,
            evidence: evidence.iter().map(EvidenceInKeyOrder::from).collect(),
            flags,
            headline_destroyed: *headline_destroyed,
            hit_locations: *hit_locations,
            id: &self.id,
            infrastructure,
            launch_areas,
            period: period.into(),
            regions: regions.iter().map(TargetInKeyOrder::from).collect(),
            target,
            weapons: weapons.iter().map(WeaponInKeyOrder::from).collect(),
        }
        .serialize(s)
    }
}

impl Serialize for Recorded<Threat> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Threat {
            kind,
            action,
            count,
            model,
            from_region,
            towards_region,
            at,
            text,
        } = &self.inner;
        ThreatInKeyOrder {
            action: *action,
            at: *at,
            count: *count,
            from_region: from_region.as_ref().map(PlaceInKeyOrder::from),
            id: &self.id,
            kind: *kind,
            model: model.as_deref(),
            text,
            towards_region: towards_region.as_ref().map(PlaceInKeyOrder::from),
        }
        .serialize(s)
    }
}

// The views: the fields of each struct, declared in key order, with the same serde attributes.

#[derive(Serialize)]
struct ReportInKeyOrder<'a> {
    attacker: &'a str,
    casualties: CasualtiesInKeyOrder,
    #[serde(skip_serializing_if = "Option::is_none")]
    debris_locations: Option<u32>,
    evidence: Vec<EvidenceInKeyOrder<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    flags: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    headline_destroyed: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hit_locations: Option<u32>,
    id: &'a str,
    infrastructure: &'a [InfraKind],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    launch_areas: &'a [String],
    period: PeriodInKeyOrder,
    regions: Vec<TargetInKeyOrder<'a>>,
    target: &'a str,
    weapons: Vec<WeaponInKeyOrder<'a>>,
}

#[derive(Serialize)]
struct CasualtiesInKeyOrder {
    injured: Option<u32>,
    killed: Option<u32>,
}

impl From<&Casualties> for CasualtiesInKeyOrder {
    fn from(c: &Casualties) -> Self {
        let Casualties { killed, injured } = *c;
        CasualtiesInKeyOrder { injured, killed }
    }
}

#[derive(Serialize)]
struct EvidenceInKeyOrder<'a> {
    end: usize,
    start: usize,
    text: &'a str,
}

impl<'a> From<&'a Evidence> for EvidenceInKeyOrder<'a> {
    fn from(e: &'a Evidence) -> Self {
        let Evidence { text, start, end } = e;
        EvidenceInKeyOrder {
            end: *end,
            start: *start,
            text,
        }
    }
}

#[derive(Serialize)]
struct PeriodInKeyOrder {
    end: Option<DateTime<Utc>>,
    start: Option<DateTime<Utc>>,
}

impl From<&Period> for PeriodInKeyOrder {
    fn from(p: &Period) -> Self {
        let Period { start, end } = *p;
        PeriodInKeyOrder { end, start }
    }
}

#[derive(Serialize)]
struct TargetInKeyOrder<'a> {
    country: &'a str,
    id: Option<u32>,
    name: &'a str,
}

impl<'a> From<&'a TargetRegion> for TargetInKeyOrder<'a> {
    fn from(r: &'a TargetRegion) -> Self {
        let TargetRegion { id, name, country } = r;
        TargetInKeyOrder {
            country,
            id: *id,
            name,
        }
    }
}

#[derive(Serialize)]
struct WeaponInKeyOrder<'a> {
    class: Option<WeaponClass>,
    destroyed: Option<u32>,
    hit: Option<u32>,
    launched: Option<u32>,
    left_airspace: Option<u32>,
    model: Option<&'a str>,
    suppressed: Option<u32>,
}

impl<'a> From<&'a WeaponCount> for WeaponInKeyOrder<'a> {
    fn from(w: &'a WeaponCount) -> Self {
        let WeaponCount {
            class,
            model,
            launched,
            destroyed,
            suppressed,
            left_airspace,
            hit,
        } = w;
        WeaponInKeyOrder {
            class: *class,
            destroyed: *destroyed,
            hit: *hit,
            launched: *launched,
            left_airspace: *left_airspace,
            model: model.as_deref(),
            suppressed: *suppressed,
        }
    }
}

#[derive(Serialize)]
struct ThreatInKeyOrder<'a> {
    action: Action,
    at: Option<DateTime<Utc>>,
    count: Option<u32>,
    from_region: Option<PlaceInKeyOrder<'a>>,
    id: &'a str,
    kind: ThreatKind,
    model: Option<&'a str>,
    text: &'a str,
    towards_region: Option<PlaceInKeyOrder<'a>>,
}

#[derive(Serialize)]
struct PlaceInKeyOrder<'a> {
    id: Option<u32>,
    name: &'a str,
}

impl<'a> From<&'a NamedRegion> for PlaceInKeyOrder<'a> {
    fn from(r: &'a NamedRegion) -> Self {
        let NamedRegion { id, name } = r;
        PlaceInKeyOrder { id: *id, name }
    }
}

/// The schemas of a recorded report and a recorded threat: the fields of what was recorded,
/// with its content key as `id` beside them (as `Serialize` above writes them). Generic types
/// take no derived schema, so fields of type `Recorded<…>` name these with `value_type`.
#[cfg(feature = "openapi")]
pub mod schema {
    use std::borrow::Cow;

    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};
    use utoipa::{PartialSchema, ToSchema};

    use super::{AttackReport, Threat};

    fn with_id<T: ToSchema>() -> RefOr<Schema> {
        let id = ObjectBuilder::new()
            .property(
                "id",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("The SHA-256 content key of the source text.")),
            )
            .required("id");
        AllOfBuilder::new()
            .item(id)
            .item(RefOr::Ref(
                utoipa::openapi::Ref::from_schema_name(T::name()),
            ))
            .into()
    }

    macro_rules! recorded {
        ($doc:ident, $inner:ty) => {
            #[doc = concat!("`Recorded<", stringify!($inner), ">` in the OpenAPI document.")]
            pub struct $doc;
            impl PartialSchema for $doc {
                fn schema() -> RefOr<Schema> {
                    with_id::<$inner>()
                }
            }
            impl ToSchema for $doc {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed(stringify!($doc))
                }
                fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                    schemas.push((<$inner>::name().into_owned(), <$inner>::schema()));
                    <$inner>::schemas(schemas);
                }
            }
        };
    }

    recorded!(RecordedAttackReport, AttackReport);
    recorded!(RecordedThreat, Threat);
}
