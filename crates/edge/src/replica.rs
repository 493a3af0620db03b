//! The state replica of a stateless edge (`tryvoga edge`): the fold of the log as the event
//! source carries it, through the same state machine the writer decides with
//! (`core::State::apply`), so that an edge answers the reads that depend on the state alone
//! (the active alerts, the IoT strings, the compatibility APIs' active sets) without a
//! database. It keeps beside the state what those answers also need and a serve node reads
//! from its record: when each active alert and each region's actual alerts last changed.
//! Each batch it applies becomes a new immutable [`View`], so a reader holds one consistent
//! state, and answers built once per state can be keyed by it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tryvoga_bus::{EventSource, Next, StoredEvent, is_history};
use tryvoga_core::{AlertId, Event, RegionId, State};

use crate::protocol::PAGE;

/// One state of the replica, as readers see it.
#[derive(Debug, Default)]
pub struct View {
    pub state: Arc<State>,
    /// The last sequence applied.
    pub applied: u64,
    /// When the last event that announced a change happened, in Unix milliseconds.
    pub last_event_ms: i64,
    /// When each active alert last changed: the time of its last event.
    pub changed: HashMap<AlertId, DateTime<Utc>>,
    /// When the actual alerts declared on each region last changed.
    pub region_changed: HashMap<RegionId, DateTime<Utc>>,
}

impl View {
    /// When the actual alerts on any of `regions` last changed.
    pub fn last_actual_change(&self, regions: &[RegionId]) -> Option<DateTime<Utc>> {
        regions
            .iter()
            .filter_map(|r| self.region_changed.get(r))
            .max()
            .copied()
    }
}

/// The replica: the latest [`View`], and whether it has caught up with the log it found.
#[derive(Default)]
pub struct Replica {
    view: RwLock<Arc<View>>,
    ready: AtomicBool,
    applied: AtomicU64,
}

/// What the replica works on between two views.
#[derive(Default)]
struct Work {
    state: State,
    applied: u64,
    last_event_ms: i64,
    changed: HashMap<AlertId, DateTime<Utc>>,
    region_changed: HashMap<RegionId, DateTime<Utc>>,
}

impl Work {
    fn new() -> Work {
        Work {
            state: State::new(),
            ..Work::default()
        }
    }

    fn apply(&mut self, event: &Event) {
        if event.seq <= self.applied {
            return;
        }
        self.state.apply(event);
        self.applied = event.seq;
        if !is_history(event) {
            self.last_event_ms = self.last_event_ms.max(event.at.timestamp_millis());
        }
        if let Some(alert) = event.body.alert() {
            if self.state.active_alert(alert.id).is_some() {
                self.changed.insert(alert.id, event.at);
            } else {
                self.changed.remove(&alert.id);
            }
            if alert.status.is_actual() {
                let at = self
                    .region_changed
                    .entry(alert.region.id)
                    .or_insert(event.at);
                *at = (*at).max(event.at);
            }
        }
    }

    fn view(&self) -> View {
        View {
            state: Arc::new(self.state.clone()),
            applied: self.applied,
            last_event_ms: self.last_event_ms,
            changed: self.changed.clone(),
            region_changed: self.region_changed.clone(),
        }
    }
}

impl Replica {
    pub fn new() -> Arc<Replica> {
        Arc::new(Replica::default())
    }

    pub fn view(&self) -> Arc<View> {
        match self.view.read() {
            Ok(v) => Arc::clone(&v),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The last sequence applied.
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }

    /// Whether the replica has applied the log up to where it stood when the replica started:
    /// until then its state is an old one and reads are refused.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn publish(&self, work: &Work) {
        let view = Arc::new(work.view());
        match self.view.write() {
            Ok(mut v) => *v = view,
            Err(poisoned) => *poisoned.into_inner() = view,
        }
        self.applied.store(work.applied, Ordering::Release);
    }

    /// Folds `source` from its first event, then follows it, until it stops.
    pub async fn run(self: Arc<Self>, source: Arc<dyn EventSource>) {
        let mut follow = source.follow();
        let mut work = Work::new();
        let target = source.head();
        let started = std::time::Instant::now();
        self.fill(&*source, &mut work, target).await;
        self.ready.store(true, Ordering::Release);
        tracing::info!(
            seq = work.applied,
            ms = started.elapsed().as_millis() as u64,
            "the state replica has caught up with the log"
        );
        loop {
            match follow.next().await {
                Next::Events(events) => {
                    let Some(first) = events.first() else {
                        continue;
                    };
                    if first.seq > work.applied + 1 {
                        self.fill(&*source, &mut work, first.seq - 1).await;
                    }
                    for e in events.iter() {
                        work.apply(e);
                    }
                    self.publish(&work);
                }
                Next::Lagged => {
                    tracing::warn!("the state replica fell behind; reading what it missed");
                    self.fill(&*source, &mut work, source.head()).await;
                }
                Next::Closed => return,
            }
        }
    }

    /// Applies the log after the replica's position up to `until`, read from history.
    async fn fill(&self, source: &dyn EventSource, work: &mut Work, until: u64) {
        while work.applied < until {
            match source.history(work.applied, PAGE).await {
                Ok(page) if page.is_empty() => break,
                Ok(page) => {
                    for stored in page.iter().take_while(|e| e.seq <= until) {
                        match parse(stored) {
                            Some(event) => work.apply(&event),
                            None => work.applied = stored.seq,
                        }
                    }
                    self.publish(work);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the state replica could not read the log; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        self.publish(work);
    }
}

fn parse(stored: &StoredEvent) -> Option<Event> {
    match serde_json::from_str(&stored.payload) {
        Ok(event) => Some(event),
        Err(e) => {
            // The sources refuse such events before they get here; if one slips through, the
            // state goes on without it rather than stopping.
            tracing::error!(seq = stored.seq, error = %e, "an event of the log could not be read");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use tryvoga_core::{Alert, AlertStatus, AlertType, EventBody, Origin, Registry};

    fn alert_event(seq: u64, id: u64, ms: i64, ended: bool) -> Event {
        let at = Utc.timestamp_millis_opt(ms).unwrap();
        let region = Registry::embedded().get(RegionId(14)).unwrap().to_ref();
        let alert = Alert {
            id: AlertId(id),
            region,
            alert_type: AlertType::AirRaid,
            level: None,
            status: AlertStatus::Actual,
            started_at: at,
            ended_at: ended.then_some(at),
            cancelled: false,
            cancel_reason: None,
            note: None,
            issuer: None,
            seq,
            origin: Origin::Live,
        };
        let body = if ended {
            EventBody::AlertEnded { alert }
        } else {
            EventBody::AlertStarted { alert }
        };
        Event {
            seq,
            at,
            issuer: None,
            body,
            sig: None,
        }
    }

    #[test]
    fn the_replica_keeps_the_state_and_when_things_last_changed() {
        let mut work = Work::new();
        work.apply(&alert_event(1, 1, 1_000, false));
        work.apply(&alert_event(2, 2, 2_000, false));
        work.apply(&alert_event(3, 1, 3_000, true));
        // A repeat changes nothing.
        work.apply(&alert_event(2, 2, 9_000, false));
        let view = work.view();
        assert_eq!(view.applied, 3);
        assert_eq!(view.state.active().count(), 1);
        assert_eq!(view.changed.len(), 1);
        assert_eq!(
            view.changed.get(&AlertId(2)).map(|t| t.timestamp_millis()),
            Some(2_000)
        );
        assert_eq!(
            view.last_actual_change(&[RegionId(14)])
                .map(|t| t.timestamp_millis()),
            Some(3_000)
        );
        assert_eq!(view.last_event_ms, 3_000);
        assert_eq!(view.state.last_seq(), 3);
    }
}
