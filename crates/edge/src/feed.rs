//! Feeds the hub from the event source: every committed batch, in order. Whatever the feed did
//! not hear (events committed before it started following, or batches lost because it fell
//! behind the source) is read from the source's history first, so the hub's rings never skip a
//! sequence number that a subscriber would then wait for.

use std::sync::Arc;
use std::time::Duration;

use tryvoga_bus::{EventSource, Follow, Next};

use crate::hub::Hub;
use crate::protocol::PAGE;

/// Follows `source` into `hub` until the source stops. `follow` was taken before the hub's
/// position was last read, so nothing falls between the two.
pub async fn run(source: Arc<dyn EventSource>, hub: Arc<Hub>, mut follow: Follow) {
    fill(&*source, &hub, source.head()).await;
    loop {
        match follow.next().await {
            Next::Events(events) => {
                let Some(first) = events.first() else {
                    continue;
                };
                if first.seq > hub.last_seq() + 1 {
                    fill(&*source, &hub, first.seq - 1).await;
                }
                let last = hub.last_seq();
                let fresh = events.iter().position(|e| e.seq > last);
                if let Some(from) = fresh {
                    hub.publish(&events[from..]);
                }
            }
            Next::Lagged => {
                tracing::warn!("the stream fan-out fell behind the log; reading what it missed");
                fill(&*source, &hub, source.head()).await;
            }
            Next::Closed => return,
        }
    }
}

/// Publishes the log from the hub's position up to `until`, read from the source's history.
async fn fill(source: &dyn EventSource, hub: &Hub, until: u64) {
    while hub.last_seq() < until {
        let after = hub.last_seq();
        match source.history(after, PAGE).await {
            Ok(page) if page.is_empty() => return,
            Ok(page) => {
                let upto = page.iter().take_while(|e| e.seq <= until).count();
                hub.publish_stored(&page[..upto]);
                if upto < page.len() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the stream fan-out could not read the log; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
