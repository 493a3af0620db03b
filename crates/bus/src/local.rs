//! The in-process source: the local writer hands it every committed batch, and its history
//! is read from the record on a blocking thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use tokio::sync::broadcast;
use tryvoga_core::Event;

use crate::{BoxFuture, Committed, EventSource, Follow, SourceError, StoredEvent, is_history};

/// Batches a follower may fall behind by before it hears [`crate::Next::Lagged`]. A batch
/// holds up to a thousand events, and followers only move them along.
const BACKLOG: usize = 4096;

/// The record's log, read on a blocking thread.
pub trait History: Send + Sync + 'static {
    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, SourceError>;
}

pub struct LocalSource {
    history: Arc<dyn History>,
    committed: broadcast::Sender<Committed>,
    head: AtomicU64,
    last_event_ms: AtomicI64,
}

impl LocalSource {
    /// A source over `history` whose log ends at `head`, its last change made at
    /// `last_event_ms`.
    pub fn new(history: Arc<dyn History>, head: u64, last_event_ms: i64) -> LocalSource {
        LocalSource {
            history,
            committed: broadcast::channel(BACKLOG).0,
            head: AtomicU64::new(head),
            last_event_ms: AtomicI64::new(last_event_ms),
        }
    }

    /// Called by the writer after each commit, in sequence order.
    pub fn publish(&self, events: &[Event]) {
        let Some(last) = events.last() else {
            return;
        };
        if let Some(latest) = events.iter().rev().find(|e| !is_history(e)) {
            self.last_event_ms
                .fetch_max(latest.at.timestamp_millis(), Ordering::AcqRel);
        }
        self.head.fetch_max(last.seq, Ordering::AcqRel);
        // No followers is not an error: nobody is listening yet.
        let _ = self.committed.send(Arc::from(events));
    }
}

impl EventSource for LocalSource {
    fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    fn last_event_ms(&self) -> i64 {
        self.last_event_ms.load(Ordering::Acquire)
    }

    fn history(
        &self,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredEvent>, SourceError>> {
        let history = Arc::clone(&self.history);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || history.events_after(after, limit))
                .await
                .map_err(|e| SourceError::Read(format!("the read task failed: {e}")))?
        })
    }

    fn follow(&self) -> Follow {
        Follow::new(self.committed.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Next;
    use chrono::{TimeZone, Utc};
    use tryvoga_core::{Alert, AlertId, AlertStatus, AlertType, EventBody, Origin, Registry};

    struct Empty;
    impl History for Empty {
        fn events_after(&self, _: u64, _: usize) -> Result<Vec<StoredEvent>, SourceError> {
            Ok(Vec::new())
        }
    }

    fn started(seq: u64, ms: i64, origin: Origin) -> Event {
        let at = Utc.timestamp_millis_opt(ms).unwrap();
        let region = Registry::embedded()
            .get(tryvoga_core::RegionId(14))
            .unwrap()
            .to_ref();
        Event {
            seq,
            at,
            issuer: None,
            body: EventBody::AlertStarted {
                alert: Alert {
                    id: AlertId(seq),
                    region,
                    alert_type: AlertType::AirRaid,
                    level: None,
                    status: AlertStatus::Actual,
                    started_at: at,
                    ended_at: None,
                    cancelled: false,
                    cancel_reason: None,
                    note: None,
                    issuer: None,
                    seq,
                    origin,
                },
            },
            sig: None,
        }
    }

    #[tokio::test]
    async fn followers_hear_every_batch_and_imports_do_not_move_the_last_change() {
        let source = LocalSource::new(Arc::new(Empty), 0, 5);
        let mut follower = source.follow();
        source.publish(&[started(1, 1_000, Origin::Live)]);
        source.publish(&[started(2, 9_000, Origin::Import)]);
        assert_eq!(source.head(), 2);
        assert_eq!(source.last_event_ms(), 1_000);
        for want in [1, 2] {
            match follower.next().await {
                Next::Events(events) => assert_eq!(events[0].seq, want),
                other => panic!("expected events, got {other:?}"),
            }
        }
    }
}
