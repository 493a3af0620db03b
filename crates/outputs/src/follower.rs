//! The one way an output follows the log: from its saved position, a page at a time, each
//! page delivered in order and the position reached saved, then wait for the next commit (or
//! for the output to be told something changed). Native webhooks, ukrainealarm webhooks and
//! MQTT are [`Sink`]s of it; what differs between them is only where the position is kept and
//! what "deliver" means.

use std::future::Future;
use std::time::Duration;

use tryvoga_bus::{EventSource, Next, StoredEvent};
use tryvoga_store::{OutputWrite, Store};

use crate::OutputError;

/// How often an idle follower looks at its position even when nothing woke it.
const IDLE_RECHECK: Duration = Duration::from_secs(2);
/// How long a follower waits after failing to read its position or the log.
const READ_RETRY: Duration = Duration::from_secs(1);

/// How far a page's delivery got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The last sequence number delivered (or passed over as not for this output).
    pub position: u64,
    /// Why delivery stopped short, and how long to wait before trying again.
    pub failure: Option<(String, Duration)>,
}

/// An output that follows the log.
pub trait Sink: Send {
    /// Entries read from the log at a time.
    const PAGE: usize = 256;

    /// Where to deliver from. `Ok(None)`: the output is gone, and the follower ends.
    fn resume(&mut self) -> impl Future<Output = Result<Option<u64>, OutputError>> + Send;
    /// Delivers entries after the position in order, stopping at the first that fails.
    fn deliver(&mut self, page: &[StoredEvent]) -> impl Future<Output = Progress> + Send;
    /// How far delivery got, as the change that keeps it in the record; `None` for a sink
    /// that keeps its position in memory (and has kept it) or has nothing new to keep.
    fn saved(&mut self, progress: &Progress) -> Option<OutputWrite>;
    /// Resolves when something other than a commit should wake the follower (the
    /// subscription changed, the broker reconnected).
    fn woken(&mut self) -> impl Future<Output = ()> + Send;
}

/// Runs `sink` (called `name` in the logs) over `source` until the sink is gone or the source
/// stops; positions are kept in `store`.
pub async fn follow<S: Sink>(source: &dyn EventSource, store: &Store, name: &str, mut sink: S) {
    let mut commits = source.follow();
    loop {
        let from = match sink.resume().await {
            Ok(Some(position)) => position,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(output = name, error = %e, "could not read an output's position");
                tokio::time::sleep(READ_RETRY).await;
                continue;
            }
        };
        if from >= source.head() {
            tokio::select! {
                next = commits.next() => if matches!(next, Next::Closed) { return },
                () = sink.woken() => {}
                () = tokio::time::sleep(IDLE_RECHECK) => {}
            }
            continue;
        }
        let page = match source.history(from, S::PAGE).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(output = name, error = %e, "could not read the log for an output");
                tokio::time::sleep(READ_RETRY).await;
                continue;
            }
        };
        let progress = sink.deliver(&page).await;
        if let Some(write) = sink.saved(&progress)
            && let Err(e) = store.output(write).await
        {
            tracing::warn!(output = name, error = %e, "could not store an output's position");
            tokio::time::sleep(READ_RETRY).await;
        }
        if let Some((error, wait)) = progress.failure {
            tracing::info!(output = name, %error, wait_ms = wait.as_millis() as u64, "delivery failed; retrying");
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                // A removed or changed output stops waiting at once.
                () = sink.woken() => {}
            }
        }
    }
}
