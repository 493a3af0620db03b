//! The log mirrored in a NATS JetStream stream, both halves of one contract: the [`relay`]
//! that publishes every committed event, and the [`NatsSource`] that edges follow. They live
//! together, in the room of event sources, because they are one agreement and nothing else in
//! the workspace may know it: stream sequence N holds log sequence N, its payload is the
//! event's stored JSON byte for byte (it carries the signature), its `Nats-Msg-Id` is N, and
//! the stream keeps every message (file storage, no limits) so that any position can be read
//! back. `async-nats` is named here only.

mod relay;
mod source;

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use tryvoga_core::Event;

use crate::StoredEvent;

pub use relay::{Relay, RelayStatus};
pub use source::NatsSource;

/// The stream's name when the operator names none.
pub const DEFAULT_STREAM: &str = "TRYVOGA";
/// How long the stream remembers message ids to drop a repeated publish. Exactly-once rests on
/// the expected-last-sequence check; the ids only spare a relay that lost an ack a re-read.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(3600);
/// How long a JetStream request (a publish's ack, a stream's info) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the stream is and what it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// `nats://host:port` (several, comma-separated, for a cluster).
    pub url: String,
    pub stream: String,
}

impl NatsConfig {
    pub fn new(url: impl Into<String>, stream: impl Into<String>) -> NatsConfig {
        NatsConfig {
            url: url.into(),
            stream: stream.into(),
        }
    }

    /// The one subject the stream holds, named after it so that two records' streams on one
    /// server never claim the same subject: `tryvoga.log` for the default stream.
    pub fn subject(&self) -> String {
        format!("{}.log", self.stream.to_lowercase())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("{0} is not a NATS address: {1}")]
    Address(String, String),
    #[error("the stream {0} could not be set up: {1}")]
    Stream(String, String),
    #[error("the stream could not be read: {0}")]
    Read(String),
    #[error("stream message {seq} is not an event of the log: {reason}")]
    Foreign { seq: u64, reason: String },
}

/// A client that connects in the background and reconnects for ever, soon after a server comes
/// back (at most two seconds between attempts).
async fn client(config: &NatsConfig, name: &str) -> Result<async_nats::Client, NatsError> {
    async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis(100u64.saturating_mul(1 << attempts.min(5)))
                .min(Duration::from_secs(2))
        })
        .event_callback(|event| async move {
            tracing::info!(%event, "NATS connection");
        })
        .connect(config.url.as_str())
        .await
        .map_err(|e| NatsError::Address(config.url.clone(), e.to_string()))
}

fn context(client: async_nats::Client) -> jetstream::Context {
    jetstream::ContextBuilder::new()
        .timeout(REQUEST_TIMEOUT)
        .build(client)
}

/// The stream, made if missing: file storage, every message kept, one subject.
async fn ensure_stream(
    js: &jetstream::Context,
    config: &NatsConfig,
) -> Result<stream::Stream, NatsError> {
    js.get_or_create_stream(stream::Config {
        name: config.stream.clone(),
        subjects: vec![config.subject()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::New,
        max_messages: -1,
        max_bytes: -1,
        max_age: Duration::ZERO,
        duplicate_window: DUPLICATE_WINDOW,
        allow_direct: true,
        deny_delete: true,
        description: Some("The Tryvoga log: stream sequence N is log sequence N".into()),
        ..stream::Config::default()
    })
    .await
    .map_err(|e| NatsError::Stream(config.stream.clone(), e.to_string()))
}

/// The stream's last sequence, asked of the server.
async fn last_sequence(stream: &stream::Stream) -> Result<u64, NatsError> {
    stream
        .get_info()
        .await
        .map(|info| info.state.last_sequence)
        .map_err(|e| NatsError::Read(e.to_string()))
}

/// A stream message read back as the log's event: its payload must be an event carrying the
/// message's own sequence number.
fn stored(seq: u64, payload: &[u8]) -> Result<(Event, StoredEvent), NatsError> {
    let foreign = |reason: String| NatsError::Foreign { seq, reason };
    let payload = std::str::from_utf8(payload)
        .map_err(|e| foreign(format!("not UTF-8: {e}")))?
        .to_string();
    let event: Event =
        serde_json::from_str(&payload).map_err(|e| foreign(format!("not an event: {e}")))?;
    if event.seq != seq {
        return Err(foreign(format!("it carries sequence {}", event.seq)));
    }
    let stored = StoredEvent {
        seq,
        kind: event.kind().to_string(),
        region: event.body.region(),
        payload,
    };
    Ok((event, stored))
}

/// Waits between attempts: from 100 ms, doubling to 2 s, and back to the start after a success.
struct Backoff(u32);

impl Backoff {
    fn new() -> Backoff {
        Backoff(0)
    }

    async fn wait(&mut self) {
        let ms = 100u64.saturating_mul(1 << self.0.min(5)).min(2000);
        self.0 += 1;
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    fn reset(&mut self) {
        self.0 = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_subject_is_tryvoga_log_and_streams_never_share_one() {
        assert_eq!(
            NatsConfig::new("nats://x", DEFAULT_STREAM).subject(),
            "tryvoga.log"
        );
        assert_ne!(
            NatsConfig::new("nats://x", "A").subject(),
            NatsConfig::new("nats://x", "B").subject()
        );
    }

    fn event_json(seq: u64) -> String {
        use chrono::{TimeZone, Utc};
        use tryvoga_core::{Alert, AlertId, AlertStatus, AlertType, EventBody, Origin, Registry};
        let at = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
        let region = Registry::embedded()
            .get(tryvoga_core::RegionId(14))
            .unwrap()
            .to_ref();
        let event = Event {
            seq,
            at,
            issuer: None,
            body: EventBody::AlertStarted {
                alert: Alert {
                    id: AlertId(1),
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
                    origin: Origin::Live,
                },
            },
            sig: Some("c2ln".into()),
        };
        serde_json::to_string(&event).unwrap()
    }

    #[test]
    fn a_message_is_read_back_as_the_event_it_carries_with_its_json_untouched() {
        let json = event_json(4);
        let (event, stored) = stored(4, json.as_bytes()).unwrap();
        assert_eq!(event.seq, 4);
        assert_eq!(stored.payload, json);
        assert_eq!(stored.kind, "alert.started");
        assert_eq!(stored.region, Some(tryvoga_core::RegionId(14)));
    }

    #[test]
    fn a_message_whose_event_has_another_sequence_is_refused() {
        assert!(matches!(
            stored(5, event_json(4).as_bytes()),
            Err(NatsError::Foreign { seq: 5, .. })
        ));
        assert!(matches!(stored(4, b"\xff"), Err(NatsError::Foreign { .. })));
        assert!(matches!(stored(4, b"{}"), Err(NatsError::Foreign { .. })));
    }
}
