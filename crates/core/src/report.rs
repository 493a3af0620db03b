//! Attack reports and threat notices read from official texts: who may record them, what a
//! recorded one must carry, and the per-night totals analysts chart.
//!
//! The fields of a report or threat are defined by the readers (`tryvoga_ingest::model`), which
//! check their shape; the core holds the rules that do not depend on a reader: the role that may
//! record them, the content key that makes a second reading of the same text the same record,
//! and that the source text is kept as evidence. Reports concern the whole country (an Air Force
//! summary counts every oblast), so an issuer's region scope does not limit them: any admin or
//! issuer token may record one. Readers may not.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Europe::Kyiv;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::command::{Actor, Refusal, Role};
use crate::event::EventBody;

/// The longest content key accepted (a SHA-256 in hex is 64).
pub const MAX_KEY_CHARS: usize = 128;

fn may_record(actor: &Actor, what: &str) -> Result<(), Refusal> {
    match actor.role {
        Role::Admin | Role::Issuer => Ok(()),
        Role::Reader => Err(Refusal::Forbidden(format!(
            "token {:?} is a reader token and may not record {what}; use an admin or issuer token",
            actor.name
        ))),
    }
}

fn check_key(key: &str) -> Result<(), Refusal> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY_CHARS
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Refusal::Invalid(format!(
            "key must be 1 to {MAX_KEY_CHARS} letters, digits or - _ : ."
        )))
    }
}

fn non_empty_text(v: &Value) -> bool {
    v.as_str().is_some_and(|t| !t.trim().is_empty())
}

/// The event a report records: the report with its content key as `id`.
pub fn decide_report(actor: &Actor, report: &Value, key: &str) -> Result<EventBody, Refusal> {
    may_record(actor, "attack reports")?;
    check_key(key)?;
    let Value::Object(fields) = report else {
        return Err(Refusal::Invalid("report must be a JSON object".into()));
    };
    // A report without its source sentence cannot be checked by anyone who reads it later.
    let evidence_ok = fields
        .get("evidence")
        .and_then(Value::as_array)
        .is_some_and(|e| !e.is_empty() && e.iter().all(|x| non_empty_text(&x["text"])));
    if !evidence_ok {
        return Err(Refusal::Invalid(
            "report.evidence must hold at least one sentence with its text: the source text is \
             kept as evidence"
                .into(),
        ));
    }
    let mut fields = fields.clone();
    fields.insert("id".into(), Value::String(key.to_string()));
    Ok(EventBody::ReportAttack {
        report: Value::Object(fields),
    })
}

/// The event a threat notice records: the notice with its content key as `id`.
pub fn decide_threat(actor: &Actor, threat: &Value, key: &str) -> Result<EventBody, Refusal> {
    may_record(actor, "threat notices")?;
    check_key(key)?;
    let Value::Object(fields) = threat else {
        return Err(Refusal::Invalid("threat must be a JSON object".into()));
    };
    if !fields.get("text").is_some_and(non_empty_text) {
        return Err(Refusal::Invalid(
            "threat.text must hold the notice as written: the source text is kept as evidence"
                .into(),
        ));
    }
    let mut fields = fields.clone();
    fields.insert("id".into(), Value::String(key.to_string()));
    Ok(EventBody::ThreatReported {
        threat: Value::Object(fields),
    })
}

fn time_field(v: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// When the attack a report describes happened: the start of its period, else its end, else
/// `recorded` (when the report was posted).
pub fn report_time(report: &Value, recorded: DateTime<Utc>) -> DateTime<Utc> {
    time_field(&report["period"]["start"])
        .or_else(|| time_field(&report["period"]["end"]))
        .unwrap_or(recorded)
}

/// The night a moment belongs to, named by the Kyiv date on which it began. Attacks are counted
/// from the evening to the morning (18:00 to 09:00 Kyiv, as the Air Force does), so a moment
/// before noon belongs to the night that began the evening before.
pub fn night_of(t: DateTime<Utc>) -> NaiveDate {
    let local = t.with_timezone(&Kyiv);
    let date = local.date_naive();
    if local.hour() < 12 {
        date.pred_opt().unwrap_or(date)
    } else {
        date
    }
}

fn kyiv_at(date: NaiveDate, hour: u32) -> DateTime<Utc> {
    let naive = date.and_time(NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or_default());
    // Neither 09:00 nor 18:00 falls in a DST gap in Kyiv; the fallback is only for the type.
    Kyiv.from_local_datetime(&naive)
        .earliest()
        .map_or_else(|| Utc.from_utc_datetime(&naive), |t| t.with_timezone(&Utc))
}

/// Launched, destroyed and suppressed counts; `None` where no report stated a figure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub launched: Option<u64>,
    pub destroyed: Option<u64>,
    /// Lost locationally or brought down by electronic warfare.
    pub suppressed: Option<u64>,
}

fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        _ => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    }
}

fn max(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) | (None, x) => x,
    }
}

impl Counts {
    fn plus(self, o: Counts) -> Counts {
        Counts {
            launched: add(self.launched, o.launched),
            destroyed: add(self.destroyed, o.destroyed),
            suppressed: add(self.suppressed, o.suppressed),
        }
    }

    fn fullest(self, o: Counts) -> Counts {
        Counts {
            launched: max(self.launched, o.launched),
            destroyed: max(self.destroyed, o.destroyed),
            suppressed: max(self.suppressed, o.suppressed),
        }
    }
}

/// The totals of one night.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Night {
    /// The Kyiv date on which the night began.
    pub night: NaiveDate,
    /// 18:00 Kyiv that evening, or the earliest start of the reports' own periods.
    pub start: DateTime<Utc>,
    /// 09:00 Kyiv the next morning, or the latest end of the reports' own periods.
    pub end: DateTime<Utc>,
    /// Every report counted, by its `id`.
    pub reports: Vec<String>,
    /// Per weapon class (`drone`, `cruise_missile`, ...; `unknown` when the text named none).
    pub classes: BTreeMap<String, Counts>,
    /// The sum over the classes.
    pub total: Counts,
}

/// One recorded report as the totals need it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedReport {
    pub report: Value,
    pub recorded: DateTime<Utc>,
}

fn count(v: &Value) -> Option<u64> {
    v.as_u64()
}

/// A report's counts per weapon class: the entries of one class (several models) add up.
pub fn class_counts(report: &Value) -> BTreeMap<String, Counts> {
    let mut out: BTreeMap<String, Counts> = BTreeMap::new();
    for w in report["weapons"].as_array().into_iter().flatten() {
        let class = w["class"].as_str().unwrap_or("unknown").to_string();
        let c = Counts {
            launched: count(&w["launched"]),
            destroyed: count(&w["destroyed"]),
            suppressed: count(&w["suppressed"]),
        };
        let entry = out.entry(class).or_default();
        *entry = entry.plus(c);
    }
    out
}

/// Totals per night, in date order. Several reports of one night (the Air Force summary and a
/// news account of the same attack) describe the same weapons, so they are not added up: for
/// each class the fullest figure any of them gives is taken.
pub fn nights(reports: &[RecordedReport]) -> Vec<Night> {
    let mut by_night: BTreeMap<NaiveDate, Night> = BTreeMap::new();
    for r in reports {
        let date = night_of(report_time(&r.report, r.recorded));
        let night = by_night.entry(date).or_insert_with(|| Night {
            night: date,
            start: kyiv_at(date, 18),
            end: kyiv_at(date + Duration::days(1), 9),
            reports: Vec::new(),
            classes: BTreeMap::new(),
            total: Counts::default(),
        });
        if let Some(s) = time_field(&r.report["period"]["start"]) {
            night.start = night.start.min(s);
        }
        if let Some(e) = time_field(&r.report["period"]["end"]) {
            night.end = night.end.max(e);
        }
        if let Some(id) = r.report["id"].as_str() {
            night.reports.push(id.to_string());
        }
        for (class, c) in class_counts(&r.report) {
            let entry = night.classes.entry(class).or_default();
            *entry = entry.fullest(c);
        }
    }
    let mut out: Vec<Night> = by_night.into_values().collect();
    for n in &mut out {
        n.total = n
            .classes
            .values()
            .fold(Counts::default(), |acc, c| acc.plus(*c));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn actor(role: Role) -> Actor {
        Actor {
            name: "t".into(),
            role,
            scope: vec![crate::RegionId(4)],
        }
    }

    #[test]
    fn issuers_of_any_scope_may_record_readers_may_not() {
        let report = json!({"evidence": [{"text": "Збито 80 БпЛА", "start": 0, "end": 10}]});
        let body = decide_report(&actor(Role::Issuer), &report, "abc").unwrap();
        let EventBody::ReportAttack { report } = body else {
            panic!("not a report")
        };
        assert_eq!(report["id"], "abc");
        assert!(matches!(
            decide_report(&actor(Role::Reader), &report, "abc"),
            Err(Refusal::Forbidden(_))
        ));
    }

    #[test]
    fn evidence_and_a_sane_key_are_required() {
        let a = actor(Role::Admin);
        for bad in [
            json!({}),
            json!({"evidence": []}),
            json!({"evidence": [{"text": "  "}]}),
            json!([1]),
        ] {
            assert!(matches!(
                decide_report(&a, &bad, "k"),
                Err(Refusal::Invalid(_))
            ));
        }
        let ok = json!({"evidence": [{"text": "x"}]});
        assert!(decide_report(&a, &ok, "").is_err());
        assert!(decide_report(&a, &ok, "a b").is_err());
        assert!(decide_report(&a, &ok, &"a".repeat(129)).is_err());
        assert!(decide_threat(&a, &json!({"text": ""}), "k").is_err());
        assert!(decide_threat(&a, &json!({"text": "БпЛА на Харків"}), "k").is_ok());
    }

    #[test]
    fn nights_run_evening_to_morning_and_take_the_fullest_account() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // 18:00 Kyiv on 23 June (summer, UTC+3) is 15:00 UTC.
        assert_eq!(
            night_of(t("2024-06-23T15:00:00Z")).to_string(),
            "2024-06-23"
        );
        assert_eq!(
            night_of(t("2024-06-24T05:30:00Z")).to_string(),
            "2024-06-23"
        );
        assert_eq!(
            night_of(t("2024-06-24T10:00:00Z")).to_string(),
            "2024-06-24"
        );
        let summary = json!({
            "id": "a",
            "period": {"start": "2024-06-23T15:00:00Z", "end": "2024-06-24T05:30:00Z"},
            "weapons": [
                {"class": "drone", "model": "Shahed", "launched": 20, "destroyed": 18},
                {"class": "drone", "model": "Gerbera", "launched": 5, "destroyed": null, "suppressed": 5},
                {"class": "cruise_missile", "launched": 4, "destroyed": 4}
            ]
        });
        let news = json!({
            "id": "b",
            "period": {"start": null, "end": null},
            "weapons": [{"class": "drone", "launched": 24, "destroyed": 19}]
        });
        let n = nights(&[
            RecordedReport {
                report: summary,
                recorded: t("2024-06-24T06:00:00Z"),
            },
            RecordedReport {
                report: news,
                recorded: t("2024-06-24T07:00:00Z"),
            },
        ]);
        assert_eq!(n.len(), 1);
        let night = &n[0];
        assert_eq!(night.night.to_string(), "2024-06-23");
        assert_eq!(night.reports, ["a", "b"]);
        assert_eq!(
            night.classes["drone"],
            Counts {
                launched: Some(25),
                destroyed: Some(19),
                suppressed: Some(5)
            }
        );
        assert_eq!(night.total.launched, Some(29));
        assert_eq!(night.total.destroyed, Some(23));
        assert_eq!(night.start, t("2024-06-23T15:00:00Z"));
        assert_eq!(night.end, t("2024-06-24T06:00:00Z"));
    }
}
