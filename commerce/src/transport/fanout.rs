//! A stream's live WebSocket fan-out: one task per shard (one shard per core but one), each
//! holding a share of the stream's sockets. For each event (or each batch of events already
//! waiting) a shard writes the event's pre-built frame to each of its sockets in turn, in one
//! `try_write`/`writev` per socket: one task wake per shard per event instead of one per
//! subscriber, no per-subscriber framing, no copy.
//!
//! A socket that would block gets the rest queued, and its session task drains it
//! ([`super::ws_conn`]). A socket with more than `send_queue` events queued, or one that
//! sees a gap, leaves live mode and its session catches up from history, as before.

use super::ws_conn::Conn;
use crate::bus::Delivered;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{broadcast, Notify};

/// Events written per batch at most (one vectored write per socket per batch).
const BATCH: usize = 64;
/// Sockets written between two yields to the runtime (and two looks for newer events).
const CHUNK: usize = 256;

pub(crate) struct Shard {
    /// Sockets added since the shard's last batch (the shard's own list is its task's).
    added: Mutex<Vec<Arc<Conn>>>,
    /// Highest seq this shard has started to hand out (stored before any socket sees it).
    pub seq: AtomicU64,
    /// A session ended: drop closed sockets now, not at the next event (a quiet stream).
    pub closed: Notify,
}

/// A stream's shards.
pub(crate) struct Fanout {
    shards: Vec<Arc<Shard>>,
    next: AtomicUsize,
}

impl Fanout {
    /// One shard per core but one (at least one), each reading the stream's broadcast in its own
    /// task. The core left over keeps a runtime worker free for the rest: the HTTP requests that
    /// publish, sessions, other streams. With a shard on every worker, a publish waited for a
    /// shard's yield on a busy core: on 2 cores, 10,000 subscribers, one shard instead of two
    /// cut the median publish-to-first-delivery from 25–75 ms to 2–17 ms at the same deliveries/s
    /// (docs/benchmarks.md, fan-out, session 5).
    pub fn start(tx: &broadcast::Sender<Delivered>, head: u64) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let n = cores.saturating_sub(1).max(1);
        let shards: Vec<Arc<Shard>> = (0..n)
            .map(|_| {
                let shard = Arc::new(Shard {
                    added: Mutex::new(Vec::new()),
                    seq: AtomicU64::new(head),
                    closed: Notify::new(),
                });
                tokio::spawn(run(shard.clone(), tx.subscribe()));
                shard
            })
            .collect();
        Self {
            shards,
            next: AtomicUsize::new(0),
        }
    }

    /// Add a socket (not live yet: its session sends hello and replays first); returns its shard.
    pub fn add(&self, conn: Arc<Conn>) -> Arc<Shard> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        let shard = self.shards[i].clone();
        shard.added.lock().push(conn);
        shard
    }
}

fn warn_lagged(skipped: u64) {
    tracing::warn!(
        skipped,
        "websocket fan-out shard lagged; sockets catch up from history"
    );
}

/// Take the events already waiting (up to [`BATCH`] in all); false if the shard lagged.
fn pull(
    shard: &Shard,
    rx: &mut broadcast::Receiver<Delivered>,
    batch: &mut Vec<Delivered>,
) -> bool {
    while batch.len() < BATCH {
        match rx.try_recv() {
            Ok(d) => {
                // Stored before any socket is offered it (see `Conn::go_live`).
                shard.seq.fetch_max(d.seq, Ordering::SeqCst);
                batch.push(d);
            }
            Err(broadcast::error::TryRecvError::Lagged(n)) => {
                warn_lagged(n);
                return false;
            }
            Err(_) => break, // empty or closed: the next recv() reports it
        }
    }
    true
}

async fn run(shard: Arc<Shard>, mut rx: broadcast::Receiver<Delivered>) {
    let mut batch: Vec<Delivered> = Vec::with_capacity(BATCH);
    let mut conns: Vec<Arc<Conn>> = Vec::new();
    loop {
        if batch.is_empty() {
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                _ = shard.closed.notified() => {
                    conns.append(&mut shard.added.lock());
                    conns.retain(|c| !c.is_closed());
                    continue;
                }
            };
            match ev {
                Ok(d) => {
                    shard.seq.fetch_max(d.seq, Ordering::SeqCst);
                    batch.push(d);
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    warn_lagged(n);
                    conns.append(&mut shard.added.lock());
                    conns.iter().for_each(|c| c.lagged());
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
        let mut in_order = pull(&shard, &mut rx, &mut batch);
        // One pass over the sockets. Every `CHUNK` sockets the task yields (the runtime's other
        // tasks, e.g. the HTTP requests that publish, are not starved by a long pass) and takes
        // events that arrived meanwhile: the rest of this pass writes them too, the next pass
        // brings them to the sockets before. Under load a socket gets several events per write.
        let offered = batch.len();
        conns.append(&mut shard.added.lock());
        let mut i = 0;
        while i < conns.len() {
            if i > 0 && i % CHUNK == 0 {
                tokio::task::yield_now().await;
                in_order &= pull(&shard, &mut rx, &mut batch);
            }
            if conns[i].offer(&batch) {
                i += 1;
            } else {
                conns.swap_remove(i);
            }
        }
        if !in_order {
            conns.iter().for_each(|c| c.lagged());
        }
        batch.drain(..offered);
    }
}
