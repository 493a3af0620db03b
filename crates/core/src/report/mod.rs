//! Attack reports and threat notices read from official texts: their typed vocabulary, who may
//! record them, what a recorded one must carry, the content key that makes a second reading of
//! the same text the same record, and the per-night totals analysts chart.
//!
//! The readers (`tryvoga-ingest`) produce these types and the core decides on them like on any
//! command: [`decide_report`] and [`decide_threat`] check the role, apply the checks of
//! [`check`] (refusing with `report.<field>: ...` / `threat.<field>: ...`), derive the content
//! key ([`key`]) and give the event its [`Recorded`] report or threat, the key as `id`. Reports
//! concern the whole country (an Air Force summary counts every oblast), so an issuer's region
//! scope does not limit them: any admin or issuer token may record one. Readers may not.
//!
//! - [`attack`]: an attack report and its parts (weapons, period, regions, evidence, ...);
//! - [`threat`]: a threat notice, start or end, and a place as a text names it;
//! - [`check`]: the rules a report or threat must pass, naming the field at fault;
//! - [`key`]: the content keys;
//! - [`recorded`]: the form the record holds, and its JSON;
//! - [`nights`]: nights from 18:00 to 09:00 Kyiv and their totals.

pub mod attack;
pub mod check;
pub mod key;
pub mod nights;
pub mod recorded;
pub mod threat;

pub use attack::{
    AttackReport, Casualties, Evidence, InfraKind, Period, TargetRegion, WeaponClass, WeaponCount,
};
pub use check::{FieldError, check_report, check_threat};
pub use key::{report_key, threat_key};
pub use nights::{Counts, Night, RecordedReport, class_counts, night_of, nights, report_time};
pub use recorded::Recorded;
pub use threat::{Action, NamedRegion, Threat, ThreatKind};

use crate::command::{Actor, Refusal, Role};
use crate::event::EventBody;

fn may_record(actor: &Actor, what: &str) -> Result<(), Refusal> {
    match actor.role {
        Role::Admin | Role::Issuer => Ok(()),
        Role::Reader | Role::Grid => Err(Refusal::Forbidden(format!(
            "token {:?} is a {} token and may not record {what}; use an admin or issuer token",
            actor.name,
            actor.role.as_str()
        ))),
    }
}

/// A check's failure as the refusal the API answers: `report.<field>: <problem>`.
fn invalid(what: &str, e: FieldError) -> Refusal {
    Refusal::Invalid(format!("{what}.{e}"))
}

/// The event a report records: the report with its content key as `id`.
pub fn decide_report(actor: &Actor, report: &AttackReport) -> Result<EventBody, Refusal> {
    may_record(actor, "attack reports")?;
    check_report(report).map_err(|e| invalid("report", e))?;
    Ok(EventBody::ReportAttack {
        report: Box::new(Recorded {
            id: report_key(report),
            inner: report.clone(),
        }),
    })
}

/// The event a threat notice records: the notice with its content key as `id`.
pub fn decide_threat(actor: &Actor, threat: &Threat) -> Result<EventBody, Refusal> {
    may_record(actor, "threat notices")?;
    check_threat(threat).map_err(|e| invalid("threat", e))?;
    Ok(EventBody::ThreatReported {
        threat: Box::new(crate::threat::Reported::Reading(Recorded {
            id: threat_key(threat),
            inner: threat.clone(),
        })),
    })
}

/// Small reports and threats the unit tests of this module share.
#[cfg(test)]
pub(crate) mod samples {
    use super::{Action, AttackReport, Evidence, Threat, ThreatKind, WeaponClass, WeaponCount};

    /// One sentence of evidence stating 40 drones launched.
    pub fn drone_report() -> AttackReport {
        let mut r = AttackReport::new("RU", "UA");
        r.evidence.push(Evidence {
            text: "Russia launched 40 drones overnight.".into(),
            start: 0,
            end: 36,
        });
        r.weapons.push(WeaponCount {
            class: Some(WeaponClass::Drone),
            launched: Some(40),
            ..WeaponCount::default()
        });
        r
    }

    /// A drone threat with nothing but its text.
    pub fn threat(text: &str) -> Threat {
        Threat {
            kind: ThreatKind::Drone,
            action: Action::Start,
            count: None,
            model: None,
            from_region: None,
            towards_region: None,
            at: None,
            text: text.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::samples::threat;
    use super::*;

    fn actor(role: Role) -> Actor {
        Actor {
            name: "t".into(),
            role,
            scope: vec![crate::RegionId(4)],
        }
    }

    fn report(evidence: &[&str]) -> AttackReport {
        let mut r = AttackReport::new("RU", "UA");
        r.evidence = evidence
            .iter()
            .map(|t| Evidence {
                text: t.to_string(),
                start: 0,
                end: 10,
            })
            .collect();
        r
    }

    #[test]
    fn issuers_of_any_scope_may_record_readers_may_not() {
        let report = report(&["Збито 80 БпЛА"]);
        let body = decide_report(&actor(Role::Issuer), &report).unwrap();
        let EventBody::ReportAttack { report: recorded } = body else {
            panic!("not a report")
        };
        assert_eq!(recorded.id, report_key(&report));
        assert_eq!(recorded.inner, report);
        assert!(matches!(
            decide_report(&actor(Role::Reader), &report),
            Err(Refusal::Forbidden(_))
        ));
    }

    #[test]
    fn evidence_is_required_and_refusals_name_the_field() {
        let a = actor(Role::Admin);
        for bad in [report(&[]), report(&["  "])] {
            assert!(matches!(
                decide_report(&a, &bad),
                Err(Refusal::Invalid(m)) if m.starts_with("report.evidence")
            ));
        }
        assert!(matches!(
            decide_threat(&a, &threat("")),
            Err(Refusal::Invalid(m)) if m == "threat.text: empty; the source text is kept as evidence"
        ));
        let EventBody::ThreatReported { threat: t } =
            decide_threat(&a, &threat("БпЛА на Харків")).unwrap()
        else {
            panic!("not a threat")
        };
        let crate::threat::Reported::Reading(t) = *t else {
            panic!("not a reading")
        };
        assert_eq!(t.id, threat_key(&t.inner));
    }
}
