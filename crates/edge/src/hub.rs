//! Fan-out: committed events become frames, serialised once per wire format and shared by
//! every subscriber through bounded rings: one per fan-out thread (so that threads never share
//! a ring's lock or a frame's reference count, and the thread wakes its own subscribers), and
//! one for the few other consumers. A subscriber that falls a ring behind is told
//! where to resume and dropped; it never slows the publisher or anyone else.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};
use tryvoga_bus::{StoredEvent, is_history};
use tryvoga_core::{AlertType, Event, Interest, RegionId, Registry};

/// One event ready for the wire.
#[derive(Debug, Clone)]
pub struct Frame {
    pub seq: u64,
    pub region: Option<RegionId>,
    /// Every region of an event about several (a threat, a pre-alert, a power restriction);
    /// `None` for one about `region` alone.
    pub regions: Option<Arc<[RegionId]>>,
    pub alert_type: Option<AlertType>,
    /// For a run of imported past alerts, the first sequence number of the run (`seq` is its
    /// last); otherwise equal to `seq`.
    pub first_seq: u64,
    /// `id:`, `event:` and `data:` lines of Server-Sent Events, blank line included.
    pub sse: Bytes,
    /// A whole WebSocket text frame carrying the same JSON as `data:`.
    pub ws_frame: Bytes,
    /// An imported past alert: part of the log, never announced as something happening now.
    pub history: bool,
}

impl Frame {
    /// What every subscriber is sent when nothing has happened for a while: an SSE comment, a
    /// WebSocket ping. Sequence 0 marks it as outside the log.
    pub fn heartbeat() -> Frame {
        Frame {
            seq: 0,
            first_seq: 0,
            region: None,
            regions: None,
            alert_type: None,
            sse: Bytes::from_static(b": keepalive\n\n"),
            ws_frame: Bytes::from_static(&[0x89, 0x00]),
            history: false,
        }
    }

    /// Stands for a run of imported past alerts: subscribers move past it without reading the
    /// log, and nothing goes on the wire.
    pub fn history_run(first_seq: u64, last_seq: u64) -> Frame {
        Frame {
            seq: last_seq,
            first_seq,
            history: true,
            ..Frame::heartbeat()
        }
    }

    pub fn new(
        seq: u64,
        kind: &str,
        region: Option<RegionId>,
        alert_type: Option<AlertType>,
        json: &str,
    ) -> Frame {
        let mut sse = String::with_capacity(json.len() + kind.len() + 32);
        sse.push_str("id: ");
        sse.push_str(&seq.to_string());
        sse.push_str("\nevent: ");
        sse.push_str(kind);
        sse.push_str("\ndata: ");
        sse.push_str(json);
        sse.push_str("\n\n");
        Frame {
            seq,
            first_seq: seq,
            region,
            regions: None,
            alert_type,
            sse: Bytes::from(sse),
            ws_frame: crate::protocol::ws_text(json),
            history: false,
        }
    }

    pub fn from_event(event: &Event) -> Frame {
        let json = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
        let mut frame = Frame::new(
            event.seq,
            event.kind(),
            event.body.region(),
            event.body.alert().map(|a| a.alert_type),
            &json,
        );
        if event.body.alert().is_none() {
            let all = event.body.regions();
            if all.len() > 1 {
                frame.regions = Some(Arc::from(all));
            }
        }
        frame
    }

    /// A frame rebuilt from the log for a subscriber catching up.
    pub fn from_stored(e: &StoredEvent) -> Frame {
        let about = e.about();
        let mut frame = Frame::new(e.seq, &e.kind, e.region, about.alert_type, &e.payload);
        frame.history = about.history;
        frame.regions = about.regions;
        frame
    }
}

/// How many frames the shared ring holds: a subscriber further behind than this is dropped.
pub const RING: usize = 4096;

/// A fan-out thread's share of the hub: the writer leaves each frame in its inbox (one wake-up),
/// and the thread itself puts it on its ring, so the thousands of wake-ups that follow are
/// local to that thread instead of being made by the writer across threads.
pub struct Relay {
    pub inbox: mpsc::UnboundedReceiver<Arc<Frame>>,
    pub ring: broadcast::Sender<Arc<Frame>>,
}

pub struct Hub {
    /// The ring of the few consumers that are not lean stream subscribers (webhooks, MQTT, the
    /// fall-back stream), fed by the writer itself.
    direct: broadcast::Sender<Arc<Frame>>,
    /// One ring per fan-out thread; a subscriber reads the ring of the thread it lives on.
    rings: Vec<broadcast::Sender<Arc<Frame>>>,
    inboxes: Vec<mpsc::UnboundedSender<Arc<Frame>>>,
    /// The other ends of the inboxes, until the fan-out threads take them.
    relays: Mutex<Option<Vec<Relay>>>,
    /// Whether the fan-out threads are running: until then nothing is left in their inboxes.
    relaying: AtomicBool,
    next_ring: AtomicUsize,
    last_seq: AtomicU64,
    pub subscribers: AtomicU64,
    pub dropped: AtomicU64,
    pub published: AtomicU64,
}

impl Hub {
    /// A hub with `rings` fan-out rings (at least one), starting from an empty log.
    pub fn new(rings: usize) -> Hub {
        let mut senders = Vec::new();
        let mut inboxes = Vec::new();
        let mut relays = Vec::new();
        for _ in 0..rings.max(1) {
            let ring = broadcast::channel(RING).0;
            let (inbox, arrivals) = mpsc::unbounded_channel();
            senders.push(ring.clone());
            inboxes.push(inbox);
            relays.push(Relay {
                inbox: arrivals,
                ring,
            });
        }
        Hub {
            direct: broadcast::channel(RING).0,
            rings: senders,
            inboxes,
            relays: Mutex::new(Some(relays)),
            relaying: AtomicBool::new(false),
            next_ring: AtomicUsize::new(0),
            last_seq: AtomicU64::new(0),
            subscribers: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            published: AtomicU64::new(0),
        }
    }

    /// The fan-out threads' ends of their rings, once: from now on every frame is relayed.
    pub fn take_relays(&self) -> Option<Vec<Relay>> {
        let relays = self.relays.lock().ok()?.take()?;
        self.relaying.store(true, Ordering::Release);
        Some(relays)
    }

    /// Sets the log position the hub starts from, before anything is published.
    pub fn start_at(&self, last_seq: u64) {
        self.last_seq.fetch_max(last_seq, Ordering::AcqRel);
    }

    /// Called by the writer after each commit, in sequence order.
    pub fn publish(&self, events: &[Event]) {
        let mut history: Option<(u64, u64)> = None;
        for event in events {
            self.last_seq.store(event.seq, Ordering::Release);
            if is_history(event) {
                // Thousands of imported rows would overflow the ring and drop every
                // subscriber: one frame stands for the whole run.
                history = Some(history.map_or((event.seq, event.seq), |(f, _)| (f, event.seq)));
                continue;
            }
            if let Some((first, last)) = history.take() {
                self.send(Frame::history_run(first, last));
            }
            self.published.fetch_add(1, Ordering::Relaxed);
            self.send(Frame::from_event(event));
        }
        if let Some((first, last)) = history {
            self.send(Frame::history_run(first, last));
        }
    }

    /// As [`Hub::publish`], for events read back from the log (what the feed missed).
    pub fn publish_stored(&self, events: &[StoredEvent]) {
        let mut history: Option<(u64, u64)> = None;
        for event in events {
            self.last_seq.store(event.seq, Ordering::Release);
            let frame = Frame::from_stored(event);
            if frame.history {
                history = Some(history.map_or((event.seq, event.seq), |(f, _)| (f, event.seq)));
                continue;
            }
            if let Some((first, last)) = history.take() {
                self.send(Frame::history_run(first, last));
            }
            self.published.fetch_add(1, Ordering::Relaxed);
            self.send(frame);
        }
        if let Some((first, last)) = history {
            self.send(Frame::history_run(first, last));
        }
    }

    /// Puts a frame on every ring, each ring its own copy: the bytes are shared, the count of
    /// references thousands of subscribers touch is not.
    fn send(&self, frame: Frame) {
        if self.relaying.load(Ordering::Acquire) {
            for (inbox, ring) in self.inboxes.iter().zip(&self.rings) {
                // A ring nobody reads is skipped: waking its thread for nothing costs a busy
                // issuer API thousands of context switches a second. Someone subscribing right
                // now reads the log position after subscribing, and that already counts this
                // frame, so skipping it loses nothing.
                if ring.receiver_count() > 0 {
                    // A fan-out thread that has ended has no subscribers left to miss it.
                    let _ = inbox.send(Arc::new(frame.clone()));
                }
            }
        }
        // No receivers is not an error: nobody is listening yet.
        let _ = self.direct.send(Arc::new(frame));
    }

    /// Sends the heartbeat frame to every subscriber; one timer for all of them.
    pub fn heartbeat(&self) {
        self.send(Frame::heartbeat());
    }

    /// How many rings (and fan-out threads) there are.
    pub fn rings(&self) -> usize {
        self.rings.len()
    }

    /// A receiver on the next ring in turn, and that ring's index: the subscriber must live on
    /// the fan-out thread of the same index.
    pub fn subscribe_next(&self) -> (usize, broadcast::Receiver<Arc<Frame>>) {
        let ring = self.next_ring.fetch_add(1, Ordering::Relaxed) % self.rings.len();
        (ring, self.rings[ring].subscribe())
    }

    /// A receiver for a consumer that is not a lean stream subscriber (webhooks, MQTT, the
    /// fall-back stream), on the ring the writer feeds itself.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Frame>> {
        self.direct.subscribe()
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }
}

/// Which frames a subscriber wants: its [`Interest`], and never imported history.
#[derive(Debug, Clone, Default)]
pub struct Filter(Interest);

impl Filter {
    pub fn new(
        registry: &Registry,
        regions: Option<Vec<RegionId>>,
        types: Option<Vec<AlertType>>,
    ) -> Filter {
        Filter(Interest::new(registry, regions, types))
    }

    pub fn matches(&self, frame: &Frame) -> bool {
        !frame.history
            && match &frame.regions {
                Some(all) => self.0.wants_any(all, frame.alert_type),
                None => self.0.wants(frame.region, frame.alert_type),
            }
    }
}
