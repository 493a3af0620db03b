//! The streams open under each token, so that a revocation ends them. Every stream opened with
//! a token (when reads are private) holds a grant on that token's one channel; a sweeper asks
//! the record every [`SWEEP`] whether any of those tokens has been revoked, and withdraws the
//! grants of each that has. Asking the record, not the token cache, is what makes every way of
//! revoking count the same: through this server, through another node of the same database,
//! or offline on the file (`tryvoga token revoke --db`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::watch;
use tryvoga_edge::gate::Grant;
use tryvoga_store::Store;

/// How often the tokens of open streams are checked: a revoked token's streams end within
/// this and one query of the record.
pub const SWEEP: Duration = Duration::from_millis(250);

#[derive(Default)]
pub struct Grants {
    /// Token hash → the channel its streams' grants watch.
    live: Mutex<HashMap<String, watch::Sender<bool>>>,
    sweeping: AtomicBool,
}

impl Grants {
    /// A grant for a stream opened with the token whose hash is `hash`.
    pub fn grant(self: &Arc<Self>, hash: String, store: &Store) -> Grant {
        let withdrawn = {
            let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            live.entry(hash)
                .or_insert_with(|| watch::channel(false).0)
                .subscribe()
        };
        if !self.sweeping.swap(true, Ordering::AcqRel) {
            tokio::spawn(sweep(Arc::downgrade(self), store.clone()));
        }
        Grant::until_withdrawn(withdrawn)
    }

    /// The hashes of tokens with streams still open, forgetting those with none.
    fn watched(&self) -> Vec<String> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, sender| sender.receiver_count() > 0);
        live.keys().cloned().collect()
    }

    fn withdraw(&self, hash: &str) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sender) = live.remove(hash) {
            sender.send_replace(true);
        }
    }
}

async fn sweep(grants: Weak<Grants>, store: Store) {
    let mut tick = tokio::time::interval(SWEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(grants) = grants.upgrade() else {
            return;
        };
        let hashes = grants.watched();
        if hashes.is_empty() {
            continue;
        }
        let queries = Arc::clone(store.queries());
        let revoked = tokio::task::spawn_blocking(move || {
            hashes
                .into_iter()
                .filter(|hash| match queries.token_revoked(hash) {
                    Ok(revoked) => revoked,
                    Err(e) => {
                        // Kept open while the record cannot answer; asked again next sweep.
                        tracing::warn!(error = %e, "could not check a stream's token");
                        false
                    }
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for hash in revoked {
            tracing::info!("a revoked token's streams are closed");
            grants.withdraw(&hash);
        }
    }
}
