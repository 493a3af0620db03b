//! Keeping one delivery worker running per webhook subscription: whichever kind of webhook
//! (native or ukrainealarm-compatible), the set of subscriptions is read from the record,
//! changes are signalled through a `Notify`, a worker that ends is started again on the
//! next look, and the worker of a subscription no longer listed is stopped (it may be waiting
//! for a lease another node holds, and would wait forever).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tryvoga_store::{Queries, StoreError};

use crate::Outputs;

/// Even without a signal, the table is looked at this often.
const RESCAN: Duration = Duration::from_secs(5);

/// Runs forever: reads the subscription keys with `list`, starts `worker(outputs, key)` for
/// every key without a live worker, and looks again when `changed(outputs)` is notified.
pub async fn supervise<W, F>(
    outputs: Arc<Outputs>,
    changed: fn(&Outputs) -> &Notify,
    list: fn(&dyn Queries) -> Result<Vec<String>, StoreError>,
    worker: W,
) where
    W: Fn(Arc<Outputs>, String) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let mut workers: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        // Armed before reading the table, so a change made while reading is not missed.
        let notified = changed(&outputs).notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let listed = outputs.read(list).await;
        workers.retain(|_, handle| !handle.is_finished());
        match listed {
            Ok(keys) => {
                workers.retain(|key, handle| {
                    let listed = keys.contains(key);
                    if !listed {
                        handle.abort();
                    }
                    listed
                });
                for key in keys {
                    if let Entry::Vacant(slot) = workers.entry(key) {
                        let key = slot.key().clone();
                        slot.insert(tokio::spawn(worker(Arc::clone(&outputs), key)));
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list webhooks"),
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(RESCAN) => {}
        }
    }
}
