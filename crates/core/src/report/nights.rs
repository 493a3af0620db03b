//! Nights and their totals, as analysts chart them: attacks are counted from the evening to the
//! morning (18:00 to 09:00 Kyiv, as the Air Force does), per weapon class, over every recorded
//! report of the night.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Europe::Kyiv;
use serde::{Deserialize, Serialize};

use super::{AttackReport, Recorded};

/// When the attack a report describes happened: the start of its period, else its end, else
/// `recorded` (when the report was posted).
pub fn report_time(report: &AttackReport, recorded: DateTime<Utc>) -> DateTime<Utc> {
    report
        .period
        .start
        .or(report.period.end)
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    pub report: Recorded<AttackReport>,
    pub recorded: DateTime<Utc>,
}

/// A report's counts per weapon class: the entries of one class (several models) add up.
pub fn class_counts(report: &AttackReport) -> BTreeMap<String, Counts> {
    let mut out: BTreeMap<String, Counts> = BTreeMap::new();
    for w in &report.weapons {
        let class = w.class.map_or("unknown", |c| c.as_str()).to_string();
        let c = Counts {
            launched: w.launched.map(u64::from),
            destroyed: w.destroyed.map(u64::from),
            suppressed: w.suppressed.map(u64::from),
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
        if let Some(s) = r.report.period.start {
            night.start = night.start.min(s);
        }
        if let Some(e) = r.report.period.end {
            night.end = night.end.max(e);
        }
        night.reports.push(r.report.id.clone());
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
    use crate::report::{Period, WeaponClass, WeaponCount};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn weapon(
        class: WeaponClass,
        model: Option<&str>,
        launched: Option<u32>,
        destroyed: Option<u32>,
        suppressed: Option<u32>,
    ) -> WeaponCount {
        WeaponCount {
            class: Some(class),
            model: model.map(str::to_string),
            launched,
            destroyed,
            suppressed,
            ..WeaponCount::default()
        }
    }

    fn recorded(id: &str, period: Period, weapons: Vec<WeaponCount>) -> Recorded<AttackReport> {
        let mut report = AttackReport::new("RU", "UA");
        report.period = period;
        report.weapons = weapons;
        Recorded {
            id: id.into(),
            inner: report,
        }
    }

    #[test]
    fn nights_run_evening_to_morning_and_take_the_fullest_account() {
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
        let summary = recorded(
            "a",
            Period {
                start: Some(t("2024-06-23T15:00:00Z")),
                end: Some(t("2024-06-24T05:30:00Z")),
            },
            vec![
                weapon(WeaponClass::Drone, Some("Shahed"), Some(20), Some(18), None),
                weapon(WeaponClass::Drone, Some("Gerbera"), Some(5), None, Some(5)),
                weapon(WeaponClass::CruiseMissile, None, Some(4), Some(4), None),
            ],
        );
        let news = recorded(
            "b",
            Period::default(),
            vec![weapon(WeaponClass::Drone, None, Some(24), Some(19), None)],
        );
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
