//! What is on besides alerts: the threats, pre-alerts and power restrictions in force and each
//! region's time to shelter, as part of [`crate::State`]: folded from their events, decided
//! like alerts (scope, what an end may touch, what a command must carry), and asked "what is
//! on for region R now" through the hierarchy (a region matches itself, its ancestors and its
//! descendants, as an alert's status does).
//!
//! Nothing here reads a clock. A threat or pre-alert whose `expires_at` has passed is no longer
//! on for any query given a later `now`, and [`Situation::due`] names the commands that record
//! its end (`threat.cleared` / `prealert.ended` with reason `expired`), and the end of a
//! pre-alert that an actual alert has overtaken (reason `alert`); the server's housekeeping
//! sends them, and the core refuses them unless they are so.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::command::{Actor, Command, FromPlace, MAX_TEXT_CHARS, Refusal, Role};
use crate::event::EventBody;
use crate::power::{MAX_POWER_ITEMS, PowerId, PowerKind, PowerRestriction, valid_hours};
use crate::prealert::{DEFAULT_PREALERT_MINUTES, EndReason, Prealert, PrealertId};
use crate::region::{RegionId, RegionRef, Registry};
use crate::report::check::{MAX_COUNT, MAX_NAME_CHARS, MAX_SOURCE_CHARS};
use crate::threat::{ClearReason, Place, Reported, Threat, ThreatId, ThreatKind, etas};

/// How long a threat is on when no expiry is given (at least until its latest arrival window
/// has closed, and ten minutes more).
pub const DEFAULT_THREAT_MINUTES: i64 = 60;
/// The furthest ahead an expiry may be set.
pub const MAX_EXPIRY_HOURS: i64 = 24;
/// How far in the future an observation time may lie (clocks differ).
pub const MAX_OBSERVED_AHEAD_MINUTES: i64 = 5;
/// The most regions one threat, pre-alert or power restriction may name.
pub const MAX_REGIONS: usize = 100;
/// The longest time to shelter accepted, in seconds.
pub const MAX_TIME_TO_SHELTER: u32 = 3_600;

/// Whether an actual alert is on a region (or one related to it): what ends a pre-alert.
pub type Alerted<'a> = &'a dyn Fn(RegionId) -> bool;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Situation {
    threats: BTreeMap<ThreatId, Threat>,
    prealerts: BTreeMap<PrealertId, Prealert>,
    power: BTreeMap<PowerId, PowerRestriction>,
    shelter: BTreeMap<RegionId, u32>,
    last_threat: u64,
    last_prealert: u64,
    last_power: u64,
}

fn related_to_any(registry: &Registry, region: RegionId, regions: &[RegionId]) -> bool {
    regions.iter().any(|&r| registry.related(r, region))
}

impl Situation {
    /// Folds one event; events of other kinds change nothing.
    pub fn apply(&mut self, body: &EventBody) {
        match body {
            EventBody::ThreatReported { threat } => {
                if let Reported::Notice(t) = &**threat {
                    self.last_threat = self.last_threat.max(t.id.0);
                    if t.cleared_at.is_none() {
                        self.threats.insert(t.id, t.clone());
                    }
                }
            }
            EventBody::ThreatCleared { threat } => {
                self.last_threat = self.last_threat.max(threat.id.0);
                self.threats.remove(&threat.id);
            }
            EventBody::PrealertStarted { prealert } => {
                self.last_prealert = self.last_prealert.max(prealert.id.0);
                self.prealerts.insert(prealert.id, prealert.clone());
            }
            EventBody::PrealertEnded { prealert } => {
                self.last_prealert = self.last_prealert.max(prealert.id.0);
                self.prealerts.remove(&prealert.id);
            }
            EventBody::PowerStarted { power } | EventBody::PowerUpdated { power } => {
                self.last_power = self.last_power.max(power.id.0);
                self.power.insert(power.id, power.clone());
            }
            EventBody::PowerEnded { power } => {
                self.last_power = self.last_power.max(power.id.0);
                self.power.remove(&power.id);
            }
            EventBody::RegionUpdated {
                region,
                time_to_shelter,
            } => match time_to_shelter {
                Some(s) => {
                    self.shelter.insert(region.id, *s);
                }
                None => {
                    self.shelter.remove(&region.id);
                }
            },
            _ => {}
        }
    }

    /// Threats on now, all of them (`None`) or those concerning `region` through the hierarchy.
    pub fn threats(
        &self,
        registry: &Registry,
        region: Option<RegionId>,
        now: DateTime<Utc>,
    ) -> Vec<&Threat> {
        self.threats
            .values()
            .filter(|t| t.is_on(now))
            .filter(|t| region.is_none_or(|r| related_to_any(registry, r, &t.regions())))
            .collect()
    }

    /// Pre-alerts on now, all or those concerning `region`.
    pub fn prealerts(
        &self,
        registry: &Registry,
        region: Option<RegionId>,
        now: DateTime<Utc>,
    ) -> Vec<&Prealert> {
        self.prealerts
            .values()
            .filter(|p| p.is_on(now))
            .filter(|p| region.is_none_or(|r| related_to_any(registry, r, &p.region_ids())))
            .collect()
    }

    /// Power restrictions in force, all or those concerning `region`.
    pub fn power(&self, registry: &Registry, region: Option<RegionId>) -> Vec<&PowerRestriction> {
        self.power
            .values()
            .filter(|p| region.is_none_or(|r| related_to_any(registry, r, &p.region_ids())))
            .collect()
    }

    /// A region's time to shelter in seconds: its own, else its nearest ancestor's.
    pub fn time_to_shelter(&self, registry: &Registry, region: RegionId) -> Option<u32> {
        std::iter::once(region)
            .chain(registry.ancestors(region))
            .find_map(|r| self.shelter.get(&r).copied())
    }

    /// The region's own time to shelter, as set (no inheritance).
    pub fn own_time_to_shelter(&self, region: RegionId) -> Option<u32> {
        self.shelter.get(&region).copied()
    }

    /// The commands that record what has ended by itself at `now`: lapsed threats and
    /// pre-alerts, and pre-alerts an actual alert now covers.
    pub fn due(&self, alerted: Alerted<'_>, now: DateTime<Utc>) -> Vec<Command> {
        let mut out = Vec::new();
        for t in self.threats.values().filter(|t| t.expires_at <= now) {
            out.push(Command::ClearThreat {
                id: t.id,
                reason: ClearReason::Expired,
            });
        }
        for p in self.prealerts.values() {
            let reason = if p.regions.iter().any(|r| alerted(r.id)) {
                EndReason::Alert
            } else if p.expires_at <= now {
                EndReason::Expired
            } else {
                continue;
            };
            out.push(Command::EndPrealert { id: p.id, reason });
        }
        out
    }

    /// Decides the commands this part of the state owns; `None` for any other command.
    pub fn decide(
        &self,
        registry: &Registry,
        actor: &Actor,
        command: &Command,
        alerted: Alerted<'_>,
        seq: u64,
        now: DateTime<Utc>,
    ) -> Option<Result<EventBody, Refusal>> {
        Some(match command {
            Command::RaiseThreat {
                kind,
                count,
                from,
                towards,
                heading,
                observed_at,
                expires_at,
                source,
            } => self.raise_threat(
                registry,
                actor,
                NewThreat {
                    kind: *kind,
                    count: *count,
                    from: from.as_ref(),
                    towards,
                    heading: *heading,
                    observed_at: *observed_at,
                    expires_at: *expires_at,
                    source: source.as_deref(),
                },
                seq,
                now,
            ),
            Command::ClearThreat { id, reason } => {
                self.clear_threat(registry, actor, *id, *reason, seq, now)
            }
            Command::StartPrealert {
                regions,
                expires_at,
                note,
            } => self.start_prealert(
                registry,
                actor,
                regions,
                *expires_at,
                note.as_deref(),
                seq,
                now,
            ),
            Command::EndPrealert { id, reason } => {
                self.end_prealert(registry, actor, *id, *reason, alerted, seq, now)
            }
            Command::StartPower {
                regions,
                kind,
                queues,
                hours,
                note,
            } => self.start_power(
                registry,
                actor,
                regions,
                *kind,
                queues,
                hours,
                note.as_deref(),
                seq,
                now,
            ),
            Command::UpdatePower {
                id,
                kind,
                queues,
                hours,
                note,
            } => self.update_power(registry, actor, *id, *kind, queues, hours, note, seq, now),
            Command::EndPower { id } => self.end_power(registry, actor, *id, seq, now),
            Command::SetTimeToShelter { region, seconds } => {
                set_time_to_shelter(registry, actor, *region, *seconds)
            }
            _ => return None,
        })
    }
}

/// A threat as a command describes it, borrowed.
struct NewThreat<'a> {
    kind: ThreatKind,
    count: Option<u32>,
    from: Option<&'a FromPlace>,
    towards: &'a [RegionId],
    heading: Option<u16>,
    observed_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    source: Option<&'a str>,
}

fn invalid(m: impl Into<String>) -> Refusal {
    Refusal::Invalid(m.into())
}

fn check_note(field: &str, text: Option<&str>, max: usize) -> Result<(), Refusal> {
    match text {
        Some(t) if t.chars().count() > max => {
            Err(invalid(format!("{field} is longer than {max} characters")))
        }
        _ => Ok(()),
    }
}

/// The regions named, each resolved, without repeats; refused when none or too many.
fn regions_of(
    registry: &Registry,
    field: &str,
    ids: &[RegionId],
    required: bool,
) -> Result<Vec<RegionRef>, Refusal> {
    if required && ids.is_empty() {
        return Err(invalid(format!(
            "{field} is empty: name at least one region"
        )));
    }
    if ids.len() > MAX_REGIONS {
        return Err(invalid(format!(
            "{field} names more than {MAX_REGIONS} regions"
        )));
    }
    let mut out: Vec<RegionRef> = Vec::with_capacity(ids.len());
    for &id in ids {
        let r = registry
            .get(id)
            .ok_or_else(|| Refusal::NotFound(format!("no region has id {id}")))?;
        if !out.iter().any(|o| o.id == id) {
            out.push(r.to_ref());
        }
    }
    Ok(out)
}

/// Refuses an expiry that is not after `now` or further than [`MAX_EXPIRY_HOURS`] ahead.
fn check_expiry(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Refusal> {
    if expires_at <= now {
        return Err(invalid(format!(
            "expires_at {} is not in the future (now is {})",
            expires_at.to_rfc3339(),
            now.to_rfc3339()
        )));
    }
    if expires_at > now + Duration::hours(MAX_EXPIRY_HOURS) {
        return Err(invalid(format!(
            "expires_at {} is more than {MAX_EXPIRY_HOURS} hours ahead",
            expires_at.to_rfc3339()
        )));
    }
    Ok(())
}

fn forbidden(actor: &Actor, what: &str, region: &RegionRef) -> Refusal {
    Refusal::Forbidden(format!(
        "token {:?} may not {what} for {} ({})",
        actor.name, region.name_en, region.id
    ))
}

/// Every region must be within an issuer's scope (an admin's scope is everything); a command
/// naming no region concerns the whole country and is for admins.
fn may_issue_all(
    registry: &Registry,
    actor: &Actor,
    what: &str,
    regions: &[RegionRef],
) -> Result<(), Refusal> {
    if regions.is_empty() && actor.role != Role::Admin {
        return Err(Refusal::Forbidden(format!(
            "token {:?} may not {what} naming no region: that concerns the whole country, and \
             only an admin token may",
            actor.name
        )));
    }
    match regions
        .iter()
        .find(|r| !actor.may_issue_for(registry, r.id))
    {
        Some(r) => Err(forbidden(actor, what, r)),
        None => Ok(()),
    }
}

fn may_restrict_all(
    registry: &Registry,
    actor: &Actor,
    regions: &[RegionRef],
) -> Result<(), Refusal> {
    match regions
        .iter()
        .find(|r| !actor.may_restrict_power_for(registry, r.id))
    {
        Some(r) => Err(forbidden(actor, "restrict power", r)),
        None => Ok(()),
    }
}

fn check_power_lists(queues: &[String], hours: &[String]) -> Result<(), Refusal> {
    for (field, list) in [("queues", queues), ("hours", hours)] {
        if list.len() > MAX_POWER_ITEMS {
            return Err(invalid(format!(
                "{field} has more than {MAX_POWER_ITEMS} entries"
            )));
        }
    }
    for (i, q) in queues.iter().enumerate() {
        if q.trim().is_empty() || q.chars().count() > 20 {
            return Err(invalid(format!(
                "queues[{i}] must be 1 to 20 characters (\"1\", \"2.1\", ...)"
            )));
        }
    }
    for (i, h) in hours.iter().enumerate() {
        if !valid_hours(h) {
            return Err(invalid(format!(
                "hours[{i}] {h:?} is not HH:MM-HH:MM (Kyiv time, e.g. \"08:00-12:00\")"
            )));
        }
    }
    Ok(())
}

impl Situation {
    fn raise_threat(
        &self,
        registry: &Registry,
        actor: &Actor,
        t: NewThreat<'_>,
        seq: u64,
        now: DateTime<Utc>,
    ) -> Result<EventBody, Refusal> {
        if let Some(c) = t.count
            && (c == 0 || c > MAX_COUNT)
        {
            return Err(invalid(format!("count must be between 1 and {MAX_COUNT}")));
        }
        if let Some(h) = t.heading
            && h >= 360
        {
            return Err(invalid("heading must be degrees from north, 0 to 359"));
        }
        if let Some(s) = t.source
            && (s.trim().is_empty() || s.chars().count() > MAX_SOURCE_CHARS)
        {
            return Err(invalid(format!(
                "source must be 1 to {MAX_SOURCE_CHARS} characters: the notice as written"
            )));
        }
        let from = match t.from {
            None => None,
            Some(FromPlace::Region(id)) => Some(Place::Region(
                registry
                    .get(*id)
                    .ok_or_else(|| Refusal::NotFound(format!("no region has id {id}")))?
                    .to_ref(),
            )),
            Some(FromPlace::Area(a)) => {
                let a = a.trim();
                if a.is_empty() || a.chars().count() > MAX_NAME_CHARS {
                    return Err(invalid(format!(
                        "from.area must be 1 to {MAX_NAME_CHARS} characters"
                    )));
                }
                Some(Place::Area(a.to_string()))
            }
        };
        let towards = regions_of(registry, "towards", t.towards, false)?;
        // The regions a threat is announced for: where it is heading, else where it is.
        let announced: Vec<RegionRef> = match (&from, towards.is_empty()) {
            (Some(Place::Region(r)), true) => vec![r.clone()],
            _ => towards.clone(),
        };
        may_issue_all(registry, actor, "report threats", &announced)?;
        let observed_at = t.observed_at.unwrap_or(now);
        if observed_at > now + Duration::minutes(MAX_OBSERVED_AHEAD_MINUTES) {
            return Err(invalid(format!(
                "observed_at {} is in the future",
                observed_at.to_rfc3339()
            )));
        }
        let eta = match &from {
            Some(Place::Region(r)) => {
                let ids: Vec<RegionId> = towards.iter().map(|r| r.id).collect();
                etas(registry, t.kind, r.id, &ids, observed_at)
            }
            _ => Vec::new(),
        };
        let expires_at = match t.expires_at {
            Some(e) => e,
            None => {
                let latest = eta.iter().map(|e| e.to + Duration::minutes(10)).max();
                let default = observed_at + Duration::minutes(DEFAULT_THREAT_MINUTES);
                latest.map_or(default, |l| l.max(default))
            }
        };
        check_expiry(expires_at, now)?;
        Ok(EventBody::ThreatReported {
            threat: Box::new(Reported::Notice(Threat {
                id: ThreatId(self.last_threat + 1),
                kind: t.kind,
                count: t.count,
                from,
                towards,
                heading: t.heading,
                observed_at,
                expires_at,
                cleared_at: None,
                clear_reason: None,
                eta,
                source: t.source.map(|s| s.trim().to_string()),
                issuer: Some(actor.name.clone()),
                seq,
            })),
        })
    }

    fn clear_threat(
        &self,
        registry: &Registry,
        actor: &Actor,
        id: ThreatId,
        reason: ClearReason,
        seq: u64,
        now: DateTime<Utc>,
    ) -> Result<EventBody, Refusal> {
        let Some(current) = self.threats.get(&id) else {
            return Err(if id.0 > 0 && id.0 <= self.last_threat {
                Refusal::Ended(format!("threat {id} has already been cleared"))
            } else {
                Refusal::NotFound(format!("no threat has id {id}"))
            });
        };
        match reason {
            ClearReason::Issuer => {
                let mut regions = current.towards.clone();
                if let (true, Some(Place::Region(r))) = (regions.is_empty(), &current.from) {
                    regions.push(r.clone());
                }
                may_issue_all(registry, actor, "clear threats", &regions)?;
            }
            ClearReason::Expired => {
                if actor.role != Role::Admin {
                    return Err(Refusal::Forbidden(
                        "only the server's housekeeping records an expiry".into(),
                    ));
                }
                if current.expires_at > now {
                    return Err(invalid(format!("threat {id} has not expired yet")));
                }
            }
        }
        let mut threat = current.clone();
        threat.cleared_at = Some(match reason {
            ClearReason::Expired => threat.expires_at,
            ClearReason::Issuer => now,
        });
        threat.clear_reason = Some(reason);
        threat.seq = seq;
        Ok(EventBody::ThreatCleared {
            threat: Box::new(threat),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn start_prealert(
        &self,
        registry: &Registry,
        actor: &Actor,
        regions: &[RegionId],
        expires_at: Option<DateTime<Utc>>,
        note: Option<&str>,
        seq: u64,
        now: DateTime<Utc>,
    ) -> Result<EventBody, Refusal> {
        let regions = regions_of(registry, "regions", regions, true)?;
        may_issue_all(registry, actor, "raise pre-alerts", &regions)?;
        check_note("note", note, MAX_TEXT_CHARS)?;
        let expires_at = expires_at.unwrap_or(now + Duration::minutes(DEFAULT_PREALERT_MINUTES));
        check_expiry(expires_at, now)?;
        Ok(EventBody::PrealertStarted {
            prealert: Prealert {
                id: PrealertId(self.last_prealert + 1),
                regions,
                started_at: now,
                expires_at,
                ended_at: None,
                end_reason: None,
                note: note.map(str::to_string),
                issuer: Some(actor.name.clone()),
                seq,
            },
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn end_prealert(
        &self,
        registry: &Registry,
        actor: &Actor,
        id: PrealertId,
        reason: EndReason,
        alerted: Alerted<'_>,
        seq: u64,
        now: DateTime<Utc>,
    ) -> Result<EventBody, Refusal> {
        let Some(current) = self.prealerts.get(&id) else {
            return Err(if id.0 > 0 && id.0 <= self.last_prealert {
                Refusal::Ended(format!("pre-alert {id} has already ended"))
            } else {
                Refusal::NotFound(format!("no pre-alert has id {id}"))
            });
        };
        match reason {
            EndReason::Issuer => {
                may_issue_all(registry, actor, "end pre-alerts", &current.regions)?
            }
            EndReason::Alert | EndReason::Expired if actor.role != Role::Admin => {
                return Err(Refusal::Forbidden(
                    "only the server's housekeeping ends a pre-alert by alert or expiry".into(),
                ));
            }
            EndReason::Alert => {
                if !current.regions.iter().any(|r| alerted(r.id)) {
                    return Err(invalid(format!("no alert covers pre-alert {id}")));
                }
            }
            EndReason::Expired => {
                if current.expires_at > now {
                    return Err(invalid(format!("pre-alert {id} has not expired yet")));
                }
            }
        }
        let mut prealert = current.clone();
        prealert.ended_at = Some(match reason {
            EndReason::Expired => prealert.expires_at,
            _ => now.max(prealert.started_at),
        });
        prealert.end_reason = Some(reason);
        prealert.seq = seq;
        Ok(EventBody::PrealertEnded { prealert })
    }

    #[allow(clippy::too_many_arguments)]
    fn start_power(
        &self,
        registry: &Registry,
        actor: &Actor,
        regions: &[RegionId],
        kind: PowerKind,
        queues: &[String],
        hours: &[String],
        note: Option<&str>,
        seq: u64,
        now: DateTime<Utc>,
    ) -> Result<EventBody, Refusal> {
        let regions = regions_of(registry, "regions", regions, true)?;
        may_restrict_all(registry, actor, &regions)?;
        check_power_lists(queues, hours)?;
        check_note("note", note, MAX_TEXT_CHARS)?;
        Ok(EventBody::PowerStarted {
            power: PowerRestriction {
                id: PowerId(self.last_power + 1),
                regions,
                kind,
                queues: queues.iter().map(|q| q.trim().to_string()).collect(),
                hours: hours.iter().map(|h| h.trim().to_string()).collect(),
                note: note.map(str::to_string),
                started_at: now,
                updated_at: now,
                ended_at: None,
                issuer: Some(actor.name.clone()),
                seq,
            },
        })
    }

    fn power_to_change(
        &self,
        registry: &Registry,
        actor: &Actor,
        id: PowerId,
    ) -> Result<&PowerRestriction, Refusal> {
        let Some(current) = self.power.get(&id) else {
            return Err(if id.0 > 0 && id.0 <= self.last_power {
                Refusal::Ended(format!("power restriction {id} has already ended"))
            } else {
                Refusal::NotFound(format!("no power restriction has id {id}"))
            });
        };
        may_restrict_all(registry, actor, &current.regions)?;
        Ok(current)
    }

    #[allow(clippy::too_many_arguments)]
    fn update_power(
        &self,
        registry: &Registry,
        actor: &Actor,
        id: PowerId,
        kind: Option<PowerKind>,
        queues: &Option<Vec<String>>,
        hours: &Option<Vec<String>>,
        note: &Option<Option<String>>,
        seq: u64,
        now: DateTime<Utc>,
    ) -> Result<EventBody, Refusal> {
        let current = self.power_to_change(registry, actor, id)?;
        let mut power = current.clone();
        if let Some(k) = kind {
            power.kind = k;
        }
        if let Some(q) = queues {
            power.queues = q.iter().map(|q| q.trim().to_string()).collect();
        }
        if let Some(h) = hours {
            power.hours = h.iter().map(|h| h.trim().to_string()).collect();
        }
        if let Some(n) = note {
            check_note("note", n.as_deref(), MAX_TEXT_CHARS)?;
            power.note.clone_from(n);
        }
        check_power_lists(&power.queues, &power.hours)?;
        if power == *current {
            return Err(invalid(
                "the update changes nothing: give a new kind, queues, hours or note",
            ));
        }
        power.updated_at = now;
        power.seq = seq;
        Ok(EventBody::PowerUpdated { power })
    }

    fn end_power(
        &self,
        registry: &Registry,
        actor: &Actor,
        id: PowerId,
        seq: u64,
        now: DateTime<Utc>,
    ) -> Result<EventBody, Refusal> {
        let mut power = self.power_to_change(registry, actor, id)?.clone();
        power.ended_at = Some(now.max(power.started_at));
        power.updated_at = now;
        power.seq = seq;
        Ok(EventBody::PowerEnded { power })
    }
}

fn set_time_to_shelter(
    registry: &Registry,
    actor: &Actor,
    region: RegionId,
    seconds: Option<u32>,
) -> Result<EventBody, Refusal> {
    if actor.role != Role::Admin {
        return Err(Refusal::Forbidden(format!(
            "token {:?} may not set a region's time to shelter: only an admin token may",
            actor.name
        )));
    }
    let region = registry
        .get(region)
        .ok_or_else(|| Refusal::NotFound(format!("no region has id {region}")))?;
    if let Some(s) = seconds
        && s > MAX_TIME_TO_SHELTER
    {
        return Err(invalid(format!(
            "time_to_shelter must be 0 to {MAX_TIME_TO_SHELTER} seconds"
        )));
    }
    Ok(EventBody::RegionUpdated {
        region: region.to_ref(),
        time_to_shelter: seconds,
    })
}
