//! The relay: publishes every committed event of the log to the stream, in order, exactly
//! once, however many relays run (one per `serve` node on a shared database) and whichever of
//! them crashed. It keeps no position of its own: the stream's last sequence is the position,
//! asked of the server whenever the relay (re)starts or is told it is wrong. Each event goes
//! out as its stored JSON with `Nats-Msg-Id: <seq>` and `Nats-Expected-Last-Sequence:
//! <seq - 1>`, so the stream takes it only as its next message: a relay that lost a race is
//! refused ("wrong last sequence") or, if it repeats the message it just published, told it is
//! a duplicate, and either way reads the stream's position again and carries on from there.
//! It waits for each acknowledgement before the next event, so nothing is skipped or reordered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, stream};
use bytes::Bytes;

use super::{Backoff, NatsConfig, NatsError, client, context, ensure_stream, last_sequence};
use crate::{EventSource, Next, SourceError};

/// Events read from the log per page.
const PAGE: usize = 500;
/// How long a relay that has published everything waits for the log before it looks again
/// anyway (a batch it did not hear of, another relay that moved the stream).
const IDLE: Duration = Duration::from_secs(5);

/// What a relay has done, for health checks and tests.
#[derive(Debug, Default)]
pub struct RelayStatus {
    /// The stream's last sequence as this relay last knew it.
    pub position: AtomicU64,
    /// Events this relay published itself.
    pub published: AtomicU64,
    /// Publishes the stream refused because another relay had got there first.
    pub lost_races: AtomicU64,
    /// Whether the relay's last request reached the stream.
    pub connected: AtomicBool,
}

/// A relay from a log to the stream.
pub struct Relay {
    config: NatsConfig,
    log: Arc<dyn EventSource>,
    status: Arc<RelayStatus>,
}

/// Why one pass of the relay ended.
enum Stop {
    /// The stream's position must be read again (a race lost, an ack lost, a new connection).
    Reread,
    /// The stream or the log could not be reached: wait, then read again.
    Failed(String),
    /// The stream holds messages that are not this log's: never publish onto it.
    Foreign(String),
    /// The log has stopped.
    Closed,
}

impl Relay {
    pub fn new(config: NatsConfig, log: Arc<dyn EventSource>) -> Relay {
        Relay {
            config,
            log,
            status: Arc::default(),
        }
    }

    pub fn status(&self) -> Arc<RelayStatus> {
        Arc::clone(&self.status)
    }

    /// Relays until the log stops; never returns an error, only logs it and tries again.
    pub async fn run(self) {
        let mut backoff = Backoff::new();
        let client = loop {
            match client(&self.config, "tryvoga relay").await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::error!(error = %e, "the relay cannot connect to NATS");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        };
        let js = context(client);
        let mut stream = None;
        let mut checked = None;
        loop {
            if stream.is_none() {
                match ensure_stream(&js, &self.config).await {
                    Ok(s) => stream = Some(s),
                    Err(e) => {
                        self.status.connected.store(false, Ordering::Relaxed);
                        tracing::warn!(error = %e, "the relay is waiting for the stream");
                        backoff.wait().await;
                        continue;
                    }
                }
            }
            let Some(s) = stream.as_ref() else { continue };
            match self.pass(&js, s, &mut checked).await {
                Stop::Reread => backoff.reset(),
                Stop::Failed(e) => {
                    self.status.connected.store(false, Ordering::Relaxed);
                    tracing::warn!(error = %e, "the relay will read the stream's position again");
                    // The stream may have been deleted and made again: look it up afresh.
                    stream = None;
                    backoff.wait().await;
                }
                Stop::Foreign(e) => {
                    self.status.connected.store(false, Ordering::Relaxed);
                    tracing::error!(
                        error = %e,
                        stream = %self.config.stream,
                        "the stream is not a mirror of this log; nothing is published to it"
                    );
                    checked = None;
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                Stop::Closed => return,
            }
        }
    }

    /// From the stream's position, publishes the log until something makes the position
    /// uncertain.
    async fn pass(
        &self,
        js: &jetstream::Context,
        stream: &stream::Stream,
        checked: &mut Option<u64>,
    ) -> Stop {
        // Followed before the position is read, so a commit in between still wakes the relay.
        let mut follow = self.log.follow();
        let mut position = match last_sequence(stream).await {
            Ok(p) => p,
            Err(e) => return Stop::Failed(e.to_string()),
        };
        self.status.connected.store(true, Ordering::Relaxed);
        self.status.position.store(position, Ordering::Relaxed);
        if *checked != Some(position)
            && let Err(stop) = self.check_mirror(stream, position).await
        {
            return stop;
        }
        *checked = Some(position);
        loop {
            let page = match self.log.history(position, PAGE).await {
                Ok(page) => page,
                Err(SourceError::Closed) => return Stop::Closed,
                Err(e) => return Stop::Failed(e.to_string()),
            };
            if page.is_empty() {
                // Everything the log holds is in the stream (or the stream is ahead of this
                // node's view of a shared log): wait for a commit.
                tokio::select! {
                    next = follow.next() => if let Next::Closed = next { return Stop::Closed },
                    () = tokio::time::sleep(IDLE) => return Stop::Reread,
                }
                continue;
            }
            for event in page {
                if event.seq != position + 1 {
                    return Stop::Failed(format!(
                        "the log gave sequence {} after {position}",
                        event.seq
                    ));
                }
                let message = PublishMessage::build()
                    .payload(Bytes::from(event.payload.into_bytes()))
                    .message_id(event.seq.to_string())
                    .expected_last_sequence(position);
                let ack = match js.send_publish(self.config.subject(), message).await {
                    Ok(ack) => ack.await,
                    Err(e) => Err(e),
                };
                match ack {
                    Ok(ack) if ack.sequence == event.seq => {
                        if ack.duplicate {
                            tracing::debug!(seq = event.seq, "already in the stream");
                        } else {
                            self.status.published.fetch_add(1, Ordering::Relaxed);
                        }
                        position = event.seq;
                        *checked = Some(position);
                        self.status.position.store(position, Ordering::Relaxed);
                    }
                    Ok(ack) => {
                        // A duplicate id stored elsewhere: the window holds another record's.
                        return Stop::Foreign(format!(
                            "log sequence {} was stored as stream sequence {}",
                            event.seq, ack.sequence
                        ));
                    }
                    Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                        self.status.lost_races.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(seq = event.seq, "another relay published first");
                        return Stop::Reread;
                    }
                    Err(e) => return Stop::Failed(format!("publishing {}: {e}", event.seq)),
                }
            }
        }
    }

    /// The stream's last message must be the log's event at that sequence, byte for byte:
    /// otherwise the stream mirrors another record (or the database was replaced) and
    /// publishing onto it would mix two logs.
    async fn check_mirror(&self, stream: &stream::Stream, position: u64) -> Result<(), Stop> {
        if position == 0 {
            return Ok(());
        }
        let ours = match self.log.history(position - 1, 1).await {
            Ok(page) => page.into_iter().next(),
            Err(SourceError::Closed) => return Err(Stop::Closed),
            Err(e) => return Err(Stop::Failed(e.to_string())),
        };
        let Some(ours) = ours.filter(|e| e.seq == position) else {
            // The stream is ahead of this node's log; a shared log will catch up with it.
            return Err(Stop::Failed(format!(
                "the stream holds {position} events and the log fewer"
            )));
        };
        let theirs = stream
            .get_raw_message(position)
            .await
            .map_err(|e| Stop::Failed(NatsError::Read(e.to_string()).to_string()))?;
        if theirs.payload != ours.payload.as_bytes() {
            return Err(Stop::Foreign(format!(
                "stream message {position} differs from the log's event {position}"
            )));
        }
        Ok(())
    }
}
