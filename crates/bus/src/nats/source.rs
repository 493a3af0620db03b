//! [`NatsSource`]: the log as an edge follows it, from the stream. A pump task reads the
//! stream from the sequence after the last one it delivered, through an ephemeral pull
//! consumer of its own, and hands followers every event in order; when the consumer fails (the
//! server died, a heartbeat was missed, the consumer was lost in a restart) it makes a new one
//! from that same sequence, so a restart of nats-server costs a pause and never a gap or a
//! repeat. A message that arrives out of turn is checked against the last one delivered: an
//! older one is dropped, and a jump is filled from the stream first. History is read from the
//! stream's retained messages, and the most recent events are kept in memory too, so that a
//! crowd of subscribers resuming after a blip does not turn into a crowd of consumers on the
//! server.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::{self, stream};
use futures_util::{FutureExt, StreamExt};
use tokio::sync::broadcast;
use tryvoga_core::Event;

use super::{
    Backoff, NatsConfig, NatsError, client, context, ensure_stream, last_sequence, stored,
};
use crate::{BoxFuture, Committed, EventSource, Follow, SourceError, StoredEvent, is_history};

/// Batches a follower may fall behind by before it hears [`crate::Next::Lagged`].
const BACKLOG: usize = 4096;
/// The most events one delivered batch holds.
const BATCH: usize = 1000;
/// Recent events kept in memory for history reads.
const WINDOW: usize = 10_000;
/// A live consumer that hears nothing from the server for twice this is made again.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How far back the last announced change is looked for when the source opens.
const LOOK_BACK: u64 = 100;

/// The stream, followed.
pub struct NatsSource {
    inner: Arc<Inner>,
    pump: tokio::task::JoinHandle<()>,
}

struct Inner {
    stream: stream::Stream,
    committed: broadcast::Sender<Committed>,
    /// The last sequence handed to followers.
    delivered: AtomicU64,
    /// The stream's last sequence as last heard from the server.
    stream_last: AtomicU64,
    last_event_ms: AtomicI64,
    connected: AtomicBool,
    /// The last events delivered, contiguous.
    window: Mutex<VecDeque<StoredEvent>>,
}

impl NatsSource {
    /// Connects to the stream (made if missing) and follows it from its current end. Waits,
    /// retrying, until the server answers.
    pub async fn connect(config: &NatsConfig) -> Result<NatsSource, NatsError> {
        let js = context(client(config, "tryvoga edge").await?);
        let mut backoff = Backoff::new();
        let (stream, last) = loop {
            let attempt = async {
                let stream = ensure_stream(&js, config).await?;
                let last = last_sequence(&stream).await?;
                Ok::<_, NatsError>((stream, last))
            };
            match attempt.await {
                Ok(found) => break found,
                Err(e) => {
                    tracing::warn!(error = %e, "waiting for the stream");
                    backoff.wait().await;
                }
            }
        };
        let last_event_ms = last_change(&stream, last).await;
        let inner = Arc::new(Inner {
            stream,
            committed: broadcast::channel(BACKLOG).0,
            delivered: AtomicU64::new(last),
            stream_last: AtomicU64::new(last),
            last_event_ms: AtomicI64::new(last_event_ms),
            connected: AtomicBool::new(true),
            window: Mutex::new(VecDeque::new()),
        });
        let pump = tokio::spawn(pump(Arc::clone(&inner)));
        Ok(NatsSource { inner, pump })
    }

    /// The stream's last sequence as last heard from the server: what an edge's lag is
    /// measured against.
    pub fn stream_last(&self) -> u64 {
        self.inner.stream_last.load(Ordering::Acquire)
    }

    /// The last sequence handed to followers.
    pub fn delivered(&self) -> u64 {
        self.inner.delivered.load(Ordering::Acquire)
    }

    /// Whether the live consumer is in place (false while nats-server is away).
    pub fn connected(&self) -> bool {
        self.inner.connected.load(Ordering::Acquire)
    }

    /// Asks the server for the stream's last sequence now.
    pub async fn refresh(&self) -> Result<u64, NatsError> {
        let last = last_sequence(&self.inner.stream).await?;
        Ok(self
            .inner
            .stream_last
            .fetch_max(last, Ordering::AcqRel)
            .max(last))
    }
}

impl Drop for NatsSource {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

impl EventSource for NatsSource {
    fn head(&self) -> u64 {
        self.delivered().max(self.stream_last())
    }

    fn last_event_ms(&self) -> i64 {
        self.inner.last_event_ms.load(Ordering::Acquire)
    }

    fn history(
        &self,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredEvent>, SourceError>> {
        Box::pin(async move {
            if let Some(page) = self.inner.page_in_window(after, limit, self.head()) {
                return Ok(page);
            }
            read(&self.inner.stream, after, limit)
                .await
                .map(|(page, last)| {
                    self.inner.stream_last.fetch_max(last, Ordering::AcqRel);
                    page.into_iter().map(|(_, stored)| stored).collect()
                })
                .map_err(|e| SourceError::Read(e.to_string()))
        })
    }

    fn follow(&self) -> Follow {
        Follow::new(self.inner.committed.subscribe())
    }
}

impl Inner {
    /// The page after `after` from memory, when memory holds all of it (or all there is).
    fn page_in_window(&self, after: u64, limit: usize, head: u64) -> Option<Vec<StoredEvent>> {
        let window = self.window.lock().ok()?;
        let first = window.front()?.seq;
        let last = window.back()?.seq;
        if after + 1 < first || after > last {
            return None;
        }
        let start = (after + 1 - first) as usize;
        let page: Vec<StoredEvent> = window.iter().skip(start).take(limit).cloned().collect();
        (page.len() == limit || last >= head).then_some(page)
    }

    fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Acquire)
    }

    /// Hands `events` (contiguous, right after the last delivered) to the followers.
    fn deliver(&self, events: Vec<(Event, StoredEvent)>) {
        let Some(last) = events.last().map(|(e, _)| e.seq) else {
            return;
        };
        if let Some((latest, _)) = events.iter().rev().find(|(e, _)| !is_history(e)) {
            self.last_event_ms
                .fetch_max(latest.at.timestamp_millis(), Ordering::AcqRel);
        }
        let mut committed = Vec::with_capacity(events.len());
        if let Ok(mut window) = self.window.lock() {
            for (event, stored) in events {
                window.push_back(stored);
                committed.push(event);
            }
            while window.len() > WINDOW {
                window.pop_front();
            }
        }
        // Memory and the position first, then the followers: one that subscribes in between
        // reads the position and finds these in history.
        self.delivered.store(last, Ordering::Release);
        self.stream_last.fetch_max(last, Ordering::AcqRel);
        // No followers is not an error.
        let _ = self.committed.send(Arc::from(committed));
    }
}

/// Reads the stream after `after`: up to `limit` messages, and the stream's last sequence.
async fn read(
    stream: &stream::Stream,
    after: u64,
    limit: usize,
) -> Result<(Vec<(Event, StoredEvent)>, u64), NatsError> {
    let last = last_sequence(stream).await?;
    if last <= after || limit == 0 {
        return Ok((Vec::new(), last));
    }
    let want = limit.min((last - after).try_into().unwrap_or(usize::MAX));
    let consumer = stream
        .create_consumer(consumer_config(after + 1, Duration::from_secs(10)))
        .await
        .map_err(|e| NatsError::Read(e.to_string()))?;
    let mut out = Vec::with_capacity(want);
    let outcome = async {
        while out.len() < want {
            let mut batch = consumer
                .fetch()
                .max_messages(want - out.len())
                .messages()
                .await
                .map_err(|e| NatsError::Read(e.to_string()))?;
            let before = out.len();
            while let Some(message) = batch.next().await {
                let message = message.map_err(|e| NatsError::Read(e.to_string()))?;
                let seq = message
                    .info()
                    .map_err(|e| NatsError::Read(e.to_string()))?
                    .stream_sequence;
                out.push(stored(seq, &message.payload)?);
            }
            if out.len() == before {
                // Fewer messages than sequences: some were removed from the stream.
                break;
            }
        }
        Ok(())
    }
    .await;
    forget(stream, &consumer);
    outcome.map(|()| (out, last))
}

fn consumer_config(start: u64, inactive: Duration) -> pull::Config {
    pull::Config {
        deliver_policy: DeliverPolicy::ByStartSequence {
            start_sequence: start,
        },
        ack_policy: AckPolicy::None,
        inactive_threshold: inactive,
        memory_storage: true,
        ..pull::Config::default()
    }
}

/// Deletes an ephemeral consumer without waiting; the server forgets it anyway once idle.
fn forget(stream: &stream::Stream, consumer: &jetstream::consumer::PullConsumer) {
    let (stream, name) = (stream.clone(), consumer.cached_info().name.clone());
    tokio::spawn(async move {
        let _ = stream.delete_consumer(&name).await;
    });
}

/// When the last change before `last` was announced: the newest event that is not imported
/// history among the last few, or the newest event if all of them are.
async fn last_change(stream: &stream::Stream, last: u64) -> i64 {
    let mut newest = None;
    for seq in (last.saturating_sub(LOOK_BACK) + 1..=last).rev() {
        let Ok(message) = stream.get_raw_message(seq).await else {
            continue;
        };
        let Ok((event, _)) = stored(seq, &message.payload) else {
            continue;
        };
        let ms = event.at.timestamp_millis();
        newest.get_or_insert(ms);
        if !is_history(&event) {
            return ms;
        }
    }
    newest.unwrap_or(0)
}

/// Follows the stream into the followers, for as long as the source lives.
async fn pump(inner: Arc<Inner>) {
    let mut backoff = Backoff::new();
    loop {
        let from = inner.delivered() + 1;
        let consumer = match inner
            .stream
            .create_consumer(consumer_config(from, Duration::from_secs(30)))
            .await
        {
            Ok(c) => c,
            Err(e) => {
                inner.connected.store(false, Ordering::Release);
                tracing::warn!(error = %e, from, "the stream cannot be followed yet");
                backoff.wait().await;
                continue;
            }
        };
        let messages = consumer
            .stream()
            .max_messages_per_batch(BATCH)
            .heartbeat(HEARTBEAT)
            .expires(HEARTBEAT * 5)
            .messages()
            .await;
        match messages {
            Ok(mut messages) => {
                inner.connected.store(true, Ordering::Release);
                tracing::info!(from, "following the stream");
                if let Err(e) = follow(&inner, &mut messages, &mut backoff).await {
                    tracing::warn!(error = %e, "the stream's consumer failed; making it again");
                }
            }
            Err(e) => tracing::warn!(error = %e, "the stream's consumer failed to start"),
        }
        inner.connected.store(false, Ordering::Release);
        forget(&inner.stream, &consumer);
        backoff.wait().await;
    }
}

/// Delivers what one live consumer reads, in batches of what has already arrived.
async fn follow(
    inner: &Inner,
    messages: &mut pull::Stream,
    backoff: &mut Backoff,
) -> Result<(), NatsError> {
    let fail = |e: &dyn std::fmt::Display| NatsError::Read(e.to_string());
    loop {
        let first = match messages.next().await {
            Some(Ok(m)) => m,
            Some(Err(e)) => return Err(fail(&e)),
            None => return Err(NatsError::Read("the consumer ended".into())),
        };
        let mut arrived = vec![first];
        let mut failed = None;
        while arrived.len() < BATCH {
            match messages.next().now_or_never() {
                Some(Some(Ok(m))) => arrived.push(m),
                Some(Some(Err(e))) => {
                    failed = Some(fail(&e));
                    break;
                }
                Some(None) | None => break,
            }
        }
        let mut batch = Vec::with_capacity(arrived.len());
        let mut next = inner.delivered() + 1;
        for message in arrived {
            let info = message.info().map_err(|e| fail(&e))?;
            let (seq, pending) = (info.stream_sequence, info.pending);
            inner.stream_last.fetch_max(seq + pending, Ordering::AcqRel);
            if seq < next {
                continue;
            }
            if seq > next {
                // Never a gap: what the consumer skipped is read from the stream first.
                let missing = (seq - next) as usize;
                let filled = match read(&inner.stream, next - 1, missing).await {
                    Ok((filled, _)) => filled,
                    Err(e) => {
                        inner.deliver(batch);
                        return Err(e);
                    }
                };
                next += filled.len() as u64;
                batch.extend(filled);
                if next != seq {
                    inner.deliver(batch);
                    return Err(NatsError::Read(format!(
                        "stream sequences {next} to {} are missing",
                        seq - 1
                    )));
                }
            }
            match stored(seq, &message.payload) {
                Ok(pair) => batch.push(pair),
                Err(e) => {
                    inner.deliver(batch);
                    tracing::error!(error = %e, "a message the stream holds is not the log's");
                    return Err(e);
                }
            }
            next = seq + 1;
        }
        inner.deliver(batch);
        backoff.reset();
        if let Some(e) = failed {
            return Err(e);
        }
    }
}
