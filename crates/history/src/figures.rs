//! The figures analysts ask for, from the record to numbers and charts: statistics of a region
//! over a period, oblasts ranked by time under alert, and the charts drawn from them. Shared by
//! the server and the command line so that both show the same thing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tryvoga_charts::{Bar, Chart};
use tryvoga_core::stats::{self, Interval, Relation, Stats};
use tryvoga_core::{AlertType, Region, RegionId, RegionRef, Registry};
use tryvoga_store::{AlertQueries, Span, StoreError};

/// Statistics of one region, with the region they are about.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegionStats {
    pub region: RegionRef,
    #[serde(rename = "type")]
    pub alert_type: Option<AlertType>,
    #[serde(flatten)]
    pub stats: Stats,
}

pub fn region_stats(
    record: &dyn AlertQueries,
    registry: &Registry,
    region: &Region,
    alert_type: Option<AlertType>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<RegionStats, StoreError> {
    let types = alert_type.map(|t| vec![t]);
    let intervals = intervals_for(record, registry, region.id, types.as_deref(), from, to)?;
    Ok(RegionStats {
        region: region.to_ref(),
        alert_type,
        stats: stats::compute(&intervals, from, to, now),
    })
}

/// One oblast's time under alert in a period.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OblastHours {
    pub region: RegionRef,
    /// Alerts on the oblast as a whole that started in the period.
    pub count: u64,
    /// Time the whole oblast was under alert.
    pub under_alert_seconds: u64,
    /// Time only part of it (a raion, a hromada) was.
    pub partial_seconds: u64,
}

/// Every oblast (Crimea and the two cities included), most time under alert first.
pub fn oblast_ranking(
    record: &dyn AlertQueries,
    registry: &Registry,
    alert_type: Option<AlertType>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<OblastHours>, StoreError> {
    let types = alert_type.map(|t| vec![t]);
    let mut by_oblast = intervals_by_oblast(record, registry, types.as_deref(), from, to)?;
    let mut out: Vec<OblastHours> = registry
        .oblasts()
        .map(|o| {
            let intervals = by_oblast.remove(&o.id).unwrap_or_default();
            let s = stats::compute(&intervals, from, to, now);
            OblastHours {
                region: o.to_ref(),
                count: s.count,
                under_alert_seconds: s.under_alert_seconds,
                partial_seconds: s.partial_seconds,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (b.under_alert_seconds + b.partial_seconds)
            .cmp(&(a.under_alert_seconds + a.partial_seconds))
            .then(a.region.id.cmp(&b.region.id))
    });
    Ok(out)
}

/// Alert starts by Kyiv weekday and hour: of one region (its own alerts), or of every region.
pub fn starts_heatmap(
    record: &dyn AlertQueries,
    registry: &Registry,
    region: Option<&Region>,
    alert_type: Option<AlertType>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Vec<u64>>, StoreError> {
    let types = alert_type.map(|t| vec![t]);
    let intervals: Vec<Interval> = match region {
        Some(r) => intervals_for(record, registry, r.id, types.as_deref(), from, to)?,
        None => record
            .spans(None, types.as_deref(), from, to)?
            .into_iter()
            .map(|s| Interval {
                start: time_of_ms(s.started_ms),
                end: s.ended_ms.map(time_of_ms),
                relation: Relation::Itself,
            })
            .collect(),
    };
    Ok(stats::compute(&intervals, from, to, now).by_weekday_hour)
}

/// The alerts that bear on `region` in `[from, to)`, each marked by how its region stands to
/// `region`: for `tryvoga_core::stats::compute`. Alerts on unrelated regions of the same
/// oblast are left out.
pub fn intervals_for(
    record: &dyn AlertQueries,
    registry: &Registry,
    region: RegionId,
    types: Option<&[AlertType]>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Interval>, StoreError> {
    let oblast = registry.get(region).map_or(region, |r| r.oblast);
    let spans = record.spans(Some(oblast), types, from, to)?;
    Ok(spans
        .into_iter()
        .filter_map(|s| {
            let relation = if s.region == region {
                Relation::Itself
            } else if registry.is_within(region, s.region) {
                Relation::Ancestor
            } else if registry.is_within(s.region, region) {
                Relation::Descendant
            } else {
                return None;
            };
            Some(interval(s, relation))
        })
        .collect())
}

/// The alerts of every oblast in `[from, to)`, grouped by oblast: alerts on the oblast itself,
/// and on its parts as descendants.
pub fn intervals_by_oblast(
    record: &dyn AlertQueries,
    registry: &Registry,
    types: Option<&[AlertType]>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<BTreeMap<RegionId, Vec<Interval>>, StoreError> {
    let mut out: BTreeMap<RegionId, Vec<Interval>> = BTreeMap::new();
    for s in record.spans(None, types, from, to)? {
        let oblast = registry.get(s.region).map_or(s.region, |r| r.oblast);
        let relation = if s.region == oblast {
            Relation::Itself
        } else {
            Relation::Descendant
        };
        out.entry(oblast).or_default().push(interval(s, relation));
    }
    Ok(out)
}

fn interval(s: Span, relation: Relation) -> Interval {
    Interval {
        start: time_of_ms(s.started_ms),
        end: s.ended_ms.map(time_of_ms),
        relation,
    }
}

fn time_of_ms(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

fn hours(seconds: u64) -> f64 {
    seconds as f64 / 3600.0
}

fn period(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    format!(
        "{} – {}",
        from.format("%Y-%m-%d"),
        (to - chrono::Duration::seconds(1)).format("%Y-%m-%d")
    )
}

pub fn monthly_chart(s: &RegionStats) -> Chart {
    Chart::Monthly {
        title: format!(
            "Hours under alert per month — {} ({})",
            s.region.name_en,
            period(s.stats.from, s.stats.to)
        ),
        months: s
            .stats
            .by_month
            .iter()
            .map(|m| Bar {
                label: m.month.clone(),
                hours: hours(m.seconds),
                partial_hours: hours(m.partial_seconds),
            })
            .collect(),
    }
}

pub fn heatmap_chart(
    region: Option<&Region>,
    counts: Vec<Vec<u64>>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Chart {
    let place = region.map_or_else(|| "all regions".to_string(), |r| r.name_en.clone());
    Chart::Heatmap {
        title: format!(
            "Alert starts by weekday and hour — {place} ({})",
            period(from, to)
        ),
        counts,
    }
}

pub fn ranking_chart(ranking: &[OblastHours], from: DateTime<Utc>, to: DateTime<Utc>) -> Chart {
    Chart::Ranking {
        title: format!("Oblasts by hours under alert ({})", period(from, to)),
        bars: ranking
            .iter()
            .map(|o| Bar {
                label: o.region.name_en.clone(),
                hours: hours(o.under_alert_seconds),
                partial_hours: hours(o.partial_seconds),
            })
            .collect(),
    }
}
