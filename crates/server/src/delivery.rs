//! Keeping one delivery worker running per webhook subscription: whichever kind of webhook
//! (native or ukrainealarm-compatible), the set of subscriptions lives in a table, changes are
//! signalled through a `Notify`, and a worker that ends is started again on the next look.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::app::{App, SharedApp};

/// Even without a signal, the table is looked at this often.
const RESCAN: Duration = Duration::from_secs(5);

/// Runs forever: reads the subscription keys with `list_sql` (one text column), starts
/// `worker(app, key)` for every key without a live worker, and looks again when `changed(app)`
/// is notified.
pub async fn supervise<W, F>(
    app: SharedApp,
    changed: fn(&App) -> &Notify,
    list_sql: &'static str,
    worker: W,
) where
    W: Fn(SharedApp, String) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let mut workers: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        // Armed before reading the table, so a change made while reading is not missed.
        let notified = changed(&app).notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let listed = app
            .read(move |s| {
                s.read(|c| {
                    let mut stmt = c.prepare_cached(list_sql)?;
                    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
            })
            .await;
        workers.retain(|_, handle| !handle.is_finished());
        match listed {
            Ok(keys) => {
                for key in keys {
                    if let Entry::Vacant(slot) = workers.entry(key) {
                        let key = slot.key().clone();
                        slot.insert(tokio::spawn(worker(Arc::clone(&app), key)));
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e.message, "could not list webhooks"),
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(RESCAN) => {}
        }
    }
}
