//! Statistics of alerts for one region over a period: how many, how long, what share of the
//! time, by month, by hour of day and by weekday. Intervals in, figures out; the caller passes
//! the time now (for alerts still on) and fetches the intervals.
//!
//! Counts and durations (`count`, `total_seconds`, median, longest) are of the alerts raised
//! on the region itself that started in the period. Time under alert also counts alerts on an
//! ancestor (an oblast-wide alert covers its hromadas) and merges overlaps, so that it never
//! exceeds the period; time when only part of the region was under alert is given apart.
//! Months, hours and weekdays are Kyiv's (Europe/Kyiv), as the people counted live them.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Europe::Kyiv;
use serde::{Deserialize, Serialize};

/// How an alert's region stands to the region the statistics are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    Itself,
    /// An alert on a region containing this one: all of it is under alert.
    Ancestor,
    /// An alert on a part of this region.
    Descendant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub start: DateTime<Utc>,
    /// `None` while the alert is still on.
    pub end: Option<DateTime<Utc>>,
    pub relation: Relation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MonthStats {
    /// `YYYY-MM`, Kyiv time.
    pub month: String,
    /// Alerts on the region itself that started in the month.
    pub count: u64,
    /// Time the region was under alert in the month (and in the period).
    pub seconds: u64,
    /// Time only part of the region was under alert.
    pub partial_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stats {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Alerts on the region itself that started in the period.
    pub count: u64,
    /// The sum of their durations (an alert still on counts up to now).
    pub total_seconds: u64,
    pub mean_seconds: u64,
    pub median_seconds: u64,
    pub longest_seconds: u64,
    pub longest_started_at: Option<DateTime<Utc>>,
    /// The period as far as it has passed: the denominator of `share`.
    pub period_seconds: u64,
    /// Time the region (itself or through an ancestor) was under alert in the period, overlaps
    /// merged.
    pub under_alert_seconds: u64,
    /// `under_alert_seconds / period_seconds`, 0 for an empty period.
    pub share: f64,
    /// Time some part of the region, but not all of it, was under alert.
    pub partial_seconds: u64,
    pub by_month: Vec<MonthStats>,
    /// Starts of alerts on the region itself by Kyiv hour, 0 to 23.
    pub by_hour: Vec<u64>,
    /// Starts by Kyiv weekday, Monday first.
    pub by_weekday: Vec<u64>,
    /// Starts by Kyiv weekday (rows, Monday first) and hour (columns).
    pub by_weekday_hour: Vec<Vec<u64>>,
}

/// Milliseconds, half-open `[start, end)`.
type Span = (i64, i64);

/// Figures for the period `[from, to)` from the alerts that touch it. Intervals outside the
/// period are ignored; those that straddle it are clipped for time under alert, and counted
/// when they start in it.
pub fn compute(
    intervals: &[Interval],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Stats {
    let from_ms = from.timestamp_millis();
    let to_ms = to.timestamp_millis().max(from_ms);
    let now_ms = now.timestamp_millis();
    // No time is under alert after now, so the period ends at now for shares.
    let until_ms = to_ms.min(now_ms).max(from_ms);
    let end_of = |i: &Interval| {
        i.end
            .map_or(now_ms, |e| e.timestamp_millis())
            .max(i.start.timestamp_millis())
    };

    let mut durations: Vec<(i64, DateTime<Utc>)> = Vec::new();
    let mut by_hour = vec![0u64; 24];
    let mut by_weekday = vec![0u64; 7];
    let mut by_weekday_hour = vec![vec![0u64; 24]; 7];
    let mut whole: Vec<Span> = Vec::new();
    let mut any: Vec<Span> = Vec::new();
    for i in intervals {
        let start = i.start.timestamp_millis();
        let end = end_of(i);
        if i.relation == Relation::Itself && start >= from_ms && start < to_ms {
            durations.push((end - start, i.start));
            let local = i.start.with_timezone(&Kyiv);
            let hour = local.hour() as usize;
            let day = local.weekday().num_days_from_monday() as usize;
            by_hour[hour] += 1;
            by_weekday[day] += 1;
            by_weekday_hour[day][hour] += 1;
        }
        let clipped = (start.max(from_ms), end.min(until_ms));
        if clipped.0 < clipped.1 {
            if i.relation != Relation::Descendant {
                whole.push(clipped);
            }
            any.push(clipped);
        }
    }
    let whole = merge(whole);
    let any = merge(any);

    let count = durations.len() as u64;
    let total_ms: i64 = durations.iter().map(|d| d.0).sum();
    let longest = durations
        .iter()
        .max_by_key(|d| (d.0, std::cmp::Reverse(d.1)))
        .copied();
    let mut lengths: Vec<i64> = durations.iter().map(|d| d.0).collect();
    lengths.sort_unstable();
    let median_ms = match lengths.len() {
        0 => 0,
        n if n % 2 == 1 => lengths[n / 2],
        n => (lengths[n / 2 - 1] + lengths[n / 2]) / 2,
    };
    let under_ms = measure(&whole);
    let any_ms = measure(&any);
    let period_ms = until_ms - from_ms;

    let mut by_month = Vec::new();
    let mut month = month_start(from);
    while from_ms < to_ms && month.timestamp_millis() < to_ms {
        let next = next_month(month);
        let window = (
            month.timestamp_millis().max(from_ms),
            next.timestamp_millis().min(until_ms),
        );
        let local = month.with_timezone(&Kyiv);
        let in_month = |t: DateTime<Utc>| t >= month && t < next;
        let under = overlap(&whole, window);
        by_month.push(MonthStats {
            month: format!("{:04}-{:02}", local.year(), local.month()),
            count: durations.iter().filter(|d| in_month(d.1)).count() as u64,
            seconds: secs(under),
            partial_seconds: secs(overlap(&any, window) - under),
        });
        month = next;
    }

    Stats {
        from,
        to,
        count,
        total_seconds: secs(total_ms),
        mean_seconds: if count == 0 {
            0
        } else {
            secs(total_ms / count as i64)
        },
        median_seconds: secs(median_ms),
        longest_seconds: longest.map_or(0, |l| secs(l.0)),
        longest_started_at: longest.map(|l| l.1),
        period_seconds: secs(period_ms),
        under_alert_seconds: secs(under_ms),
        share: if period_ms > 0 {
            under_ms as f64 / period_ms as f64
        } else {
            0.0
        },
        partial_seconds: secs(any_ms - under_ms),
        by_month,
        by_hour,
        by_weekday,
        by_weekday_hour,
    }
}

/// Milliseconds to whole seconds, rounded to the nearest.
fn secs(ms: i64) -> u64 {
    ((ms.max(0) + 500) / 1000) as u64
}

/// Sorted, disjoint spans covering the same time.
fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.0 <= last.1 => last.1 = last.1.max(s.1),
            _ => out.push(s),
        }
    }
    out
}

fn measure(merged: &[Span]) -> i64 {
    merged.iter().map(|s| s.1 - s.0).sum()
}

fn overlap(merged: &[Span], window: Span) -> i64 {
    if window.0 >= window.1 {
        return 0;
    }
    // Spans are sorted and disjoint: skip those that end before the window.
    let first = merged.partition_point(|s| s.1 <= window.0);
    merged[first..]
        .iter()
        .take_while(|s| s.0 < window.1)
        .map(|s| s.1.min(window.1) - s.0.max(window.0))
        .sum()
}

/// The start of the Kyiv month holding `t`, as a UTC instant.
pub fn month_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let local = t.with_timezone(&Kyiv);
    kyiv_midnight(
        NaiveDate::from_ymd_opt(local.year(), local.month(), 1).unwrap_or(local.date_naive()),
    )
}

fn next_month(month: DateTime<Utc>) -> DateTime<Utc> {
    let local = month.with_timezone(&Kyiv).date_naive();
    let first = NaiveDate::from_ymd_opt(local.year(), local.month(), 1).unwrap_or(local);
    kyiv_midnight(first.checked_add_months(Months::new(1)).unwrap_or(first))
}

/// Kyiv's midnight of a date as a UTC instant. Kyiv changes its clocks at 03:00/04:00, never
/// at midnight, so midnight always exists and is unique.
pub fn kyiv_midnight(date: NaiveDate) -> DateTime<Utc> {
    Kyiv.from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| date.and_time(chrono::NaiveTime::MIN).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid time")
            .with_timezone(&Utc)
    }

    fn iv(start: &str, end: &str, relation: Relation) -> Interval {
        Interval {
            start: t(start),
            end: Some(t(end)),
            relation,
        }
    }

    #[test]
    fn counts_durations_and_merged_time_under_alert() {
        let ivs = [
            iv(
                "2023-01-01T10:00:00Z",
                "2023-01-01T11:00:00Z",
                Relation::Itself,
            ),
            iv(
                "2023-01-01T10:30:00Z",
                "2023-01-01T12:00:00Z",
                Relation::Ancestor,
            ),
            iv(
                "2023-01-02T10:00:00Z",
                "2023-01-02T10:20:00Z",
                Relation::Itself,
            ),
            iv(
                "2023-01-03T10:00:00Z",
                "2023-01-03T10:40:00Z",
                Relation::Itself,
            ),
            iv(
                "2023-01-04T10:00:00Z",
                "2023-01-04T11:00:00Z",
                Relation::Descendant,
            ),
        ];
        let s = compute(
            &ivs,
            t("2023-01-01T00:00:00Z"),
            t("2023-01-05T00:00:00Z"),
            t("2024-01-01T00:00:00Z"),
        );
        assert_eq!(s.count, 3);
        assert_eq!(s.total_seconds, 3600 + 1200 + 2400);
        assert_eq!(s.median_seconds, 2400);
        assert_eq!(s.longest_seconds, 3600);
        assert_eq!(s.under_alert_seconds, 7200 + 1200 + 2400);
        assert_eq!(s.partial_seconds, 3600);
        assert_eq!(s.period_seconds, 4 * 86400);
        // 10:00 UTC is 12:00 in Kyiv in winter; 2023-01-02 was a Monday.
        assert_eq!(s.by_hour[12], 3);
        assert_eq!(s.by_weekday[0], 1);
        assert_eq!(s.by_weekday_hour[6][12], 1);
    }

    #[test]
    fn the_period_clips_time_but_counts_by_start() {
        let ivs = [
            iv(
                "2022-12-31T23:00:00Z",
                "2023-01-01T01:00:00Z",
                Relation::Itself,
            ),
            iv(
                "2023-01-31T23:00:00Z",
                "2023-02-01T01:00:00Z",
                Relation::Itself,
            ),
        ];
        let s = compute(
            &ivs,
            t("2023-01-01T00:00:00Z"),
            t("2023-02-01T00:00:00Z"),
            t("2030-01-01T00:00:00Z"),
        );
        assert_eq!(s.count, 1, "only the alert that started in the period");
        assert_eq!(s.total_seconds, 7200, "counted whole");
        assert_eq!(s.under_alert_seconds, 3600 + 3600, "clipped at both ends");
        // Kyiv months: the period starts at 02:00 Kyiv on Jan 1, in January, and ends at
        // 02:00 on Feb 1, in February.
        let months: Vec<&str> = s.by_month.iter().map(|m| m.month.as_str()).collect();
        assert_eq!(months, vec!["2023-01", "2023-02"]);
        let sum: u64 = s.by_month.iter().map(|m| m.seconds).sum();
        assert_eq!(sum, s.under_alert_seconds);
    }

    #[test]
    fn an_alert_still_on_counts_up_to_now_and_the_future_is_not_period() {
        let ivs = [Interval {
            start: t("2023-01-01T10:00:00Z"),
            end: None,
            relation: Relation::Itself,
        }];
        let s = compute(
            &ivs,
            t("2023-01-01T00:00:00Z"),
            t("2023-02-01T00:00:00Z"),
            t("2023-01-01T12:00:00Z"),
        );
        assert_eq!(s.total_seconds, 7200);
        assert_eq!(s.period_seconds, 12 * 3600);
        assert!((s.share - 2.0 / 12.0).abs() < 1e-9);
    }

    #[test]
    fn nothing_in_an_empty_period() {
        let s = compute(
            &[],
            t("2023-01-01T00:00:00Z"),
            t("2023-01-01T00:00:00Z"),
            t("2023-06-01T00:00:00Z"),
        );
        assert_eq!(s.count, 0);
        assert_eq!(s.share, 0.0);
        assert!(s.by_month.is_empty());
    }
}
