//! A reader of a stream: a bounded queue that never blocks the publisher.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::session::Session;
use crate::unit::Unit;

/// What a reader receives, in order.
#[derive(Debug, Clone)]
pub enum Event {
    /// A publish session started (or was already running when the reader joined).
    /// Every unit that follows belongs to it until `End`.
    Start(Arc<Session>),
    Unit(Unit),
    /// The session of this epoch ended (publisher left or was dropped).
    End {
        epoch: u64,
    },
}

/// The publisher side of one reader's queue.
pub(super) struct ReaderSlot {
    pub(super) id: u64,
    pub(super) name: &'static str,
    pub(super) tx: mpsc::Sender<Event>,
    pub(super) shared: Arc<ReaderShared>,
}

#[derive(Default)]
pub(super) struct ReaderShared {
    pub(super) dropped: AtomicU64,
    last_warn: Mutex<Option<Instant>>,
}

impl ReaderSlot {
    /// Hands an event to the reader without waiting. A full queue drops the event, counts it and
    /// warns at most once a second: a slow reader never stalls the publisher. Returns false
    /// when the reader is gone.
    pub(super) fn offer(&self, stream: &str, event: Event) -> bool {
        match self.tx.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                let dropped = self.shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                let mut last = self.shared.last_warn.lock();
                let now = Instant::now();
                if last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
                    *last = Some(now);
                    tracing::warn!(
                        stream,
                        reader = self.name,
                        dropped,
                        "reader queue full, dropping units"
                    );
                }
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// The consumer side: one egress (LL-HLS packager, SFU, recorder...) of one stream.
///
/// Dropping it unregisters the reader.
pub struct Reader {
    pub(super) rx: mpsc::Receiver<Event>,
    pub(super) shared: Arc<ReaderShared>,
}

impl Reader {
    /// The next event; `None` once the stream itself is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// Blocking variant for GStreamer streaming threads (never call it from async code).
    pub fn blocking_recv(&mut self) -> Option<Event> {
        self.rx.blocking_recv()
    }

    /// Events this reader lost because its queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}
