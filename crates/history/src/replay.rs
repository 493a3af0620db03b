//! Replaying a past record as live events, faster than it happened: each alert is started and
//! ended through the core like an issuer's command, marked with origin `replay`, so that the
//! stream, the map and every other output see it as they would a live one. For demonstrations
//! and load tests — run it on a scratch database, since the replayed alerts join the record.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tryvoga_core::{Actor, AlertId, AlertStatus, Command, Origin, RegionId, Role};
use tryvoga_store::{CommandError, HistoricalAlert, Store};

/// The name replayed commands are logged and audited under.
pub const ACTOR: &str = "replay";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Start,
    End,
}

/// One change of the timeline: row `row` starts or ends at `at` (record time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub at: DateTime<Utc>,
    pub kind: StepKind,
    pub row: usize,
}

/// The starts and ends of `rows` in time order from `from`: an alert already on at `from`
/// starts at `from`; at one instant ends go first, so that back-to-back alerts of a region do
/// not collide.
pub fn timeline(rows: &[HistoricalAlert], from: Option<DateTime<Utc>>) -> Vec<Step> {
    let mut steps = Vec::with_capacity(rows.len() * 2);
    for (i, r) in rows.iter().enumerate() {
        if from.is_some_and(|f| r.ended_at <= f) {
            continue;
        }
        let start = from.map_or(r.started_at, |f| r.started_at.max(f));
        steps.push(Step {
            at: start,
            kind: StepKind::Start,
            row: i,
        });
        steps.push(Step {
            at: r.ended_at,
            kind: StepKind::End,
            row: i,
        });
    }
    steps.sort_by_key(|s| (s.at, s.kind == StepKind::Start, s.row));
    steps
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub started: usize,
    pub ended: usize,
    /// Starts the core refused (an alert of the region was already on), with the reason.
    pub refused: Vec<(usize, String)>,
}

fn actor() -> Actor {
    Actor {
        name: ACTOR.into(),
        role: Role::Admin,
        scope: Vec::new(),
    }
}

/// Plays `rows` at `speed` times real time (3600: an hour a second), starting at `from` or at
/// the first alert. Returns when the timeline is done.
pub async fn run(
    store: Store,
    rows: Vec<HistoricalAlert>,
    speed: f64,
    from: Option<DateTime<Utc>>,
) -> ReplayReport {
    let steps = timeline(&rows, from);
    let mut report = ReplayReport::default();
    let Some(first) = steps.first() else {
        return report;
    };
    let origin_time = first.at;
    let wall_start = Instant::now();
    let due = |at: DateTime<Utc>| {
        let record_ms = (at - origin_time).num_milliseconds().max(0) as f64;
        wall_start + Duration::from_secs_f64(record_ms / 1000.0 / speed)
    };
    let mut ids: HashMap<usize, AlertId> = HashMap::new();
    let mut i = 0;
    while i < steps.len() {
        tokio::time::sleep_until(due(steps[i].at)).await;
        // Everything due by now goes in waves of commands sent together, so that they share
        // commits; a step that depends on one in the current wave waits for the next wave.
        let now = Instant::now();
        let mut wave: Vec<Step> = Vec::new();
        let mut started_in_wave: HashSet<usize> = HashSet::new();
        let mut regions_in_wave: HashSet<RegionId> = HashSet::new();
        while i < steps.len() && due(steps[i].at) <= now {
            let step = steps[i];
            let region = rows[step.row].region;
            let depends = match step.kind {
                StepKind::End => started_in_wave.contains(&step.row),
                StepKind::Start => regions_in_wave.contains(&region),
            };
            if depends {
                send_wave(
                    &store,
                    &rows,
                    std::mem::take(&mut wave),
                    &mut ids,
                    &mut report,
                )
                .await;
                started_in_wave.clear();
                regions_in_wave.clear();
            }
            if step.kind == StepKind::Start {
                started_in_wave.insert(step.row);
            }
            regions_in_wave.insert(region);
            wave.push(step);
            i += 1;
        }
        send_wave(&store, &rows, wave, &mut ids, &mut report).await;
    }
    tracing::info!(
        started = report.started,
        ended = report.ended,
        refused = report.refused.len(),
        "replay finished"
    );
    report
}

async fn send_wave(
    store: &Store,
    rows: &[HistoricalAlert],
    wave: Vec<Step>,
    ids: &mut HashMap<usize, AlertId>,
    report: &mut ReplayReport,
) {
    let mut tasks = JoinSet::new();
    for step in wave {
        let command = match step.kind {
            StepKind::Start => Command::StartAlert {
                region: rows[step.row].region,
                alert_type: rows[step.row].alert_type,
                level: None,
                status: AlertStatus::Actual,
                note: rows[step.row].note.clone(),
            },
            StepKind::End => match ids.remove(&step.row) {
                Some(id) => Command::EndAlert { id },
                // Its start was refused: nothing to end.
                None => continue,
            },
        };
        let store = store.clone();
        tasks.spawn(async move {
            let result = store
                .command_as(actor(), command, Origin::Replay, None)
                .await;
            (step, result)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let Ok((step, result)) = joined else {
            continue;
        };
        match (step.kind, result) {
            (StepKind::Start, Ok(accepted)) => {
                if let Some(alert) = accepted.event.body.alert() {
                    ids.insert(step.row, alert.id);
                }
                report.started += 1;
            }
            (StepKind::End, Ok(_)) => report.ended += 1,
            (StepKind::Start, Err(e)) => {
                tracing::debug!(line = rows[step.row].line, error = %e, "replayed start refused");
                report.refused.push((step.row, e.to_string()));
            }
            (StepKind::End, Err(CommandError::Refused(r))) => {
                // Ended by someone else meanwhile: nothing left to do.
                tracing::debug!(line = rows[step.row].line, reason = %r, "replayed end refused");
            }
            (StepKind::End, Err(e)) => {
                tracing::warn!(line = rows[step.row].line, error = %e, "replayed end failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use tryvoga_core::AlertType;

    use super::*;

    fn row(region: u32, start_min: i64, end_min: i64) -> HistoricalAlert {
        let base = Utc
            .with_ymd_and_hms(2023, 1, 1, 0, 0, 0)
            .single()
            .expect("valid");
        HistoricalAlert {
            line: 0,
            region: RegionId(region),
            alert_type: AlertType::AirRaid,
            started_at: base + chrono::Duration::minutes(start_min),
            ended_at: base + chrono::Duration::minutes(end_min),
            note: None,
        }
    }

    #[test]
    fn ends_come_before_starts_at_the_same_instant_and_from_clips() {
        let rows = vec![row(31, 10, 20), row(31, 20, 30), row(14, 0, 5)];
        let steps = timeline(&rows, None);
        let order: Vec<(usize, StepKind)> = steps.iter().map(|s| (s.row, s.kind)).collect();
        assert_eq!(
            order,
            vec![
                (2, StepKind::Start),
                (2, StepKind::End),
                (0, StepKind::Start),
                (0, StepKind::End),
                (1, StepKind::Start),
                (1, StepKind::End)
            ]
        );
        let from = rows[0].started_at + chrono::Duration::minutes(5);
        let clipped = timeline(&rows, Some(from));
        assert_eq!(clipped.len(), 4, "the alert over before `from` is left out");
        assert_eq!(clipped[0].at, from, "one under way at `from` starts then");
    }
}
