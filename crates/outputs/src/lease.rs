//! One pipeline per output across every node on a shared record: each output's pipeline runs
//! only while this node holds the output's lease in the record (`webhook:<id>`,
//! `compat-webhook:<token name>`, `mqtt`). The holder renews it every third of its length;
//! a node that does not hold it asks again every half. When the holder dies, its lease
//! expires by the database's clock and another node takes it and starts the pipeline, which
//! resumes from the position kept in the record, so nothing is skipped; what the dead node
//! delivered after it last saved its position is delivered again (at least once, as after a
//! restart).
//!
//! A holder that cannot renew stops its pipeline before the database could give the lease to
//! anyone else: its own deadline runs from before it last asked, less a margin, so it is
//! earlier than the database's. Stopping drops the pipeline's future, so no new delivery
//! starts; one already handed to the HTTP client may still finish, the only overlap there can
//! be between two nodes.
//!
//! On a SQLite file only one server runs, so the lease is always won at once and the outputs
//! behave as they did before there were leases.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand_core::RngCore;
use tokio::time::Instant;
use tryvoga_store::{Leases, StoreError};

use crate::{OutputError, Outputs};

/// Who this node is to the leases, and how long a lease lasts.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// This node's id: the holder of its leases and the `X-Tryvoga-Node` of its deliveries.
    pub node: String,
    pub ttl: Duration,
}

impl Default for LeaseOptions {
    fn default() -> LeaseOptions {
        LeaseOptions {
            node: node_id(),
            ttl: Duration::from_secs(5),
        }
    }
}

/// A node id unique to this process: the process id alone can repeat across machines and
/// restarts, and two nodes with one id would both believe they held the same lease.
pub fn node_id() -> String {
    format!(
        "node-{}-{:08x}",
        std::process::id(),
        rand_core::OsRng.next_u32()
    )
}

/// The lease of a native webhook subscription's pipeline.
pub fn webhook(id: &str) -> String {
    format!("webhook:{id}")
}

/// The lease of a ukrainealarm webhook's pipeline (one per token).
pub fn compat_webhook(token: &str) -> String {
    format!("compat-webhook:{token}")
}

/// The lease of the MQTT publisher.
pub const MQTT: &str = "mqtt";

async fn call<T: Send + 'static>(
    outputs: &Outputs,
    f: impl FnOnce(&dyn Leases) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, OutputError> {
    let leases = Arc::clone(outputs.store.leases());
    tokio::task::spawn_blocking(move || f(leases.as_ref()))
        .await
        .map_err(|e| OutputError::Task(e.to_string()))?
        .map_err(OutputError::from)
}

/// Asks for (or renews) the lease; whether it is held, and until when this node may act on
/// it: the lease's length from before the question was sent, less a tenth for clocks that
/// run at slightly different rates.
async fn take(outputs: &Outputs, name: &str) -> Result<Option<Instant>, OutputError> {
    let LeaseOptions { node, ttl } = outputs.options.lease.clone();
    let asked = Instant::now();
    let name = name.to_string();
    let held = call(outputs, move |l| l.take(&name, &node, ttl)).await?;
    Ok(held.then(|| asked + ttl - ttl / 10))
}

/// Runs `pipeline` whenever this node holds the lease `name`, stopping it as soon as the
/// lease is lost; returns (giving the lease back) once a run of the pipeline ends by itself,
/// which means its output is gone.
pub async fn leased<F, Fut>(outputs: Arc<Outputs>, name: String, mut pipeline: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let ttl = outputs.options.lease.ttl;
    loop {
        let mut until = match take(&outputs, &name).await {
            Ok(Some(until)) => until,
            Ok(None) => {
                tokio::time::sleep(ttl / 2).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(lease = %name, error = %e, "could not ask for an output's lease");
                tokio::time::sleep(ttl / 2).await;
                continue;
            }
        };
        tracing::info!(lease = %name, node = %outputs.options.lease.node, "holding the lease: the output runs here");
        outputs.holding(&name, true);
        let run = pipeline();
        tokio::pin!(run);
        let mut renew_at = Instant::now() + ttl / 3;
        let ended = loop {
            tokio::select! {
                () = &mut run => break true,
                () = tokio::time::sleep_until(renew_at.min(until)) => {
                    if Instant::now() >= until {
                        tracing::warn!(lease = %name, "could not renew the lease in time: stopping the output here");
                        break false;
                    }
                    // The pipeline waits while its lease is renewed: nothing is delivered
                    // on a lease whose renewal is in doubt.
                    match tokio::time::timeout_at(until, take(&outputs, &name)).await {
                        Ok(Ok(Some(next))) => until = next,
                        Ok(Ok(None)) => {
                            tracing::warn!(lease = %name, "the lease was taken by another node: stopping the output here");
                            break false;
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(lease = %name, error = %e, "could not renew the lease; trying again");
                            // Soon, while the lease still runs.
                            renew_at = Instant::now() + ttl / 10;
                            continue;
                        }
                        Err(_) => {}
                    }
                    renew_at = Instant::now() + ttl / 3;
                }
            }
        };
        outputs.holding(&name, false);
        if ended {
            let (lease, node) = (name.clone(), outputs.options.lease.node.clone());
            if let Err(e) = call(&outputs, move |l| l.release(&lease, &node)).await {
                tracing::warn!(lease = %name, error = %e, "could not give back a lease; it will expire");
            }
            return;
        }
        // The pipeline's future is dropped here, before the lease is asked for again.
    }
}
