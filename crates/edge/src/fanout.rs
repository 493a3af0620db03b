//! The fan-out threads: every lean stream subscriber lives on one of a few single-threaded
//! runtimes, apart from the runtime that serves requests. Writing one event to tens of
//! thousands of sockets then never queues an issuer's command behind it (the kernel shares the
//! cores between the threads), and each thread reads its own ring of the hub, so the threads
//! never contend for a ring's lock or a frame's reference count.

use std::io;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::Edge;
use crate::hub::{Hub, Relay};
use crate::protocol::{Cursor, Wire};
use crate::subscriber::Subscriber;

/// A subscription whose handshake is done, on its way to the thread that owns its ring.
pub struct Handoff {
    pub edge: Arc<Edge>,
    pub stream: std::net::TcpStream,
    pub cursor: Cursor,
    pub wire: Wire,
    /// Its address's connection slot, held for as long as it is subscribed.
    pub slot: Option<crate::limits::ConnSlot>,
}

/// The fan-out threads, one per ring of the hub. Dropping this ends them and closes every
/// stream they hold.
pub struct Fanout {
    threads: Vec<mpsc::UnboundedSender<Handoff>>,
}

impl Fanout {
    /// Starts one thread per ring of `hub`; a hub has one set of fan-out threads.
    pub fn start(hub: &Hub) -> io::Result<Fanout> {
        let relays = hub
            .take_relays()
            .ok_or_else(|| io::Error::other("this hub's fan-out threads are already running"))?;
        let mut threads = Vec::with_capacity(relays.len());
        for (index, relay) in relays.into_iter().enumerate() {
            let (sender, arrivals) = mpsc::unbounded_channel::<Handoff>();
            let (started_tx, started) = std::sync::mpsc::sync_channel::<io::Result<()>>(1);
            std::thread::Builder::new()
                .name(format!("tryvoga-fanout-{index}"))
                // The runtime is made, run and dropped on its own thread: never inside the
                // caller's async context, where dropping a runtime is not allowed.
                .spawn(move || {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => {
                            let _ = started_tx.send(Ok(()));
                            runtime.block_on(run(relay, arrivals));
                        }
                        Err(e) => {
                            let _ = started_tx.send(Err(e));
                        }
                    }
                })?;
            started
                .recv()
                .map_err(|_| io::Error::other("a fan-out thread ended before it started"))??;
            threads.push(sender);
        }
        Ok(Fanout { threads })
    }

    /// Gives a subscriber to the thread that owns `ring`. A thread that has ended (the server
    /// is shutting down) drops it, which closes its connection.
    pub fn hand_over(&self, ring: usize, handoff: Handoff) {
        if let Some(thread) = self.threads.get(ring % self.threads.len().max(1)) {
            let _ = thread.send(handoff);
        }
    }
}

/// A fan-out thread's work: relay its inbox into its ring, and run every subscriber handed to
/// it, until the [`Fanout`] is dropped.
async fn run(relay: Relay, mut arrivals: mpsc::UnboundedReceiver<Handoff>) {
    let Relay { mut inbox, ring } = relay;
    tokio::spawn(async move {
        while let Some(frame) = inbox.recv().await {
            // No receivers is not an error: nobody is listening yet.
            let _ = ring.send(frame);
        }
    });
    while let Some(handoff) = arrivals.recv().await {
        match tokio::net::TcpStream::from_std(handoff.stream) {
            Ok(stream) => {
                tokio::spawn(
                    Subscriber {
                        edge: handoff.edge,
                        stream,
                        cursor: handoff.cursor,
                        wire: handoff.wire,
                        _slot: handoff.slot,
                    }
                    .run(),
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "a subscriber's socket could not be registered");
            }
        }
    }
}
