//! The event source a room follows: the log's history after a position, its head, and every
//! batch committed from now on, in order. The rooms that serve the log (the stream fan-out in
//! `edge`, the sinks in `outputs`) know an [`EventSource`] and nothing of the writer or the
//! database behind it, so that the same rooms can follow the local writer ([`LocalSource`]) or,
//! when one machine is no longer enough, a stream that mirrors the log from elsewhere.

mod local;
#[cfg(feature = "nats")]
pub mod nats;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};
use tryvoga_core::{AlertType, Event, Origin, RegionId};

pub use local::{History, LocalSource};

/// An event as the log holds it: its JSON is passed on as it is, never re-serialised, so that
/// its signature still verifies wherever it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: u64,
    pub kind: String,
    pub region: Option<RegionId>,
    pub payload: String,
}

/// What an output filters a stored event on, read from its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    pub region: Option<RegionId>,
    /// Every region of an event about several (a threat's `from` and `towards`, a
    /// pre-alert's or power restriction's regions); `None` for the others, whose one region is
    /// `region`.
    pub regions: Option<Arc<[RegionId]>>,
    pub alert_type: Option<AlertType>,
    /// An imported past alert: part of the log, never announced as something happening now.
    pub history: bool,
}

impl About {
    /// Whether a subscriber with this interest wants the event.
    pub fn wanted_by(&self, interest: &tryvoga_core::Interest) -> bool {
        match &self.regions {
            Some(all) => interest.wants_any(all, self.alert_type),
            None => interest.wants(self.region, self.alert_type),
        }
    }
}

impl StoredEvent {
    pub fn about(&self) -> About {
        #[derive(serde::Deserialize)]
        struct AlertOnly {
            alert: Option<TypeField>,
        }
        #[derive(serde::Deserialize)]
        struct TypeField {
            #[serde(rename = "type")]
            alert_type: AlertType,
            #[serde(default)]
            origin: Origin,
        }
        let alert = serde_json::from_str::<AlertOnly>(&self.payload)
            .ok()
            .and_then(|a| a.alert);
        // Only the rarer kinds about several regions are read whole.
        let regions = if tryvoga_core::EventBody::is_situation(&self.kind) {
            serde_json::from_str::<Event>(&self.payload)
                .ok()
                .map(|e| e.body.regions())
                .filter(|r| r.len() > 1)
                .map(Arc::from)
        } else {
            None
        };
        About {
            region: self.region,
            regions,
            alert_type: alert.as_ref().map(|a| a.alert_type),
            history: alert.is_some_and(|a| a.origin == Origin::Import),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("the record could not be read: {0}")]
    Read(String),
    #[error("the event source has stopped")]
    Closed,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Events committed together, in sequence order.
pub type Committed = Arc<[Event]>;

/// Where a room reads the log from.
pub trait EventSource: Send + Sync + 'static {
    /// The sequence number of the last event committed (0 for an empty log).
    fn head(&self) -> u64;
    /// When the last event that announced a change happened, in Unix milliseconds: imported
    /// history is in the log but changed nothing now, so it does not count.
    fn last_event_ms(&self) -> i64;
    /// Up to `limit` events after `after`, in order.
    fn history(
        &self,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredEvent>, SourceError>>;
    /// Every batch committed from now on, in order.
    fn follow(&self) -> Follow;
}

/// A follower of the committed batches.
pub struct Follow {
    rx: broadcast::Receiver<Committed>,
}

/// What a follower hears next.
#[derive(Debug)]
pub enum Next {
    Events(Committed),
    /// The follower fell so far behind that batches were lost to it: whatever it keeps must be
    /// brought up to date from [`EventSource::history`].
    Lagged,
    /// The source has stopped.
    Closed,
}

impl Follow {
    pub(crate) fn new(rx: broadcast::Receiver<Committed>) -> Follow {
        Follow { rx }
    }

    pub async fn next(&mut self) -> Next {
        match self.rx.recv().await {
            Ok(events) => Next::Events(events),
            Err(RecvError::Lagged(_)) => Next::Lagged,
            Err(RecvError::Closed) => Next::Closed,
        }
    }
}

/// Whether an event records the past (an import) rather than announcing a change now.
pub fn is_history(event: &Event) -> bool {
    event
        .body
        .alert()
        .is_some_and(|a| a.origin == Origin::Import)
}
