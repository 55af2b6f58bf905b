//! A UDP relay on 127.0.0.1 between one WebRTC viewer and the SFU, with a bottleneck towards
//! the viewer: a link of `down_bps` with a queue of `queue` (packets that would wait longer are
//! dropped), like a congested access link.
//!
//! The viewer is told (in the answer's candidates) that the server is at [`Relay::viewer_side`];
//! the server is told (in the offer's candidates) that the viewer is at [`Relay::server_side`].
//! Datagrams from the viewer leave through the server side to the server, and the server's
//! through the bottleneck and the viewer side to the viewer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

#[derive(Debug, Default)]
pub struct RelayStats {
    pub up_packets: AtomicU64,
    pub down_packets: AtomicU64,
    pub down_bytes: AtomicU64,
    pub down_dropped: AtomicU64,
}

pub struct Relay {
    pub viewer_side: SocketAddr,
    pub server_side: SocketAddr,
    pub stats: Arc<RelayStats>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn bind() -> Arc<UdpSocket> {
    match UdpSocket::bind("127.0.0.1:0").await {
        Ok(s) => Arc::new(s),
        Err(e) => panic!("relay bind: {e}"),
    }
}

/// When a packet of `bytes` entering at `now` leaves a link of `bps` that is busy until
/// `busy_until`; `None` when it would wait more than `queue` (dropped).
fn departure(
    now: Instant,
    busy_until: Instant,
    bytes: usize,
    bps: u64,
    queue: Duration,
) -> Option<Instant> {
    let start = busy_until.max(now);
    if start.saturating_duration_since(now) > queue {
        return None;
    }
    let tx = Duration::from_nanos(bytes as u64 * 8 * 1_000_000_000 / bps.max(1));
    Some(start + tx)
}

/// Starts a relay to `server` whose link towards the viewer carries `down_bps`.
pub async fn spawn(server: SocketAddr, down_bps: u64, queue: Duration) -> Relay {
    let a = bind().await;
    let b = bind().await;
    let viewer_side = a.local_addr().unwrap_or_else(|e| panic!("relay addr: {e}"));
    let server_side = b.local_addr().unwrap_or_else(|e| panic!("relay addr: {e}"));
    let stats = Arc::new(RelayStats::default());
    let viewer: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));

    let up = {
        let (a, b, viewer, stats) = (
            Arc::clone(&a),
            Arc::clone(&b),
            Arc::clone(&viewer),
            Arc::clone(&stats),
        );
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            while let Ok((n, from)) = a.recv_from(&mut buf).await {
                *viewer.lock() = Some(from);
                stats.up_packets.fetch_add(1, Ordering::Relaxed);
                let _ = b.send_to(&buf[..n], server).await;
            }
        })
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let down_in = {
        let (b, stats) = (Arc::clone(&b), Arc::clone(&stats));
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let mut busy_until = Instant::now();
            while let Ok((n, from)) = b.recv_from(&mut buf).await {
                if from != server {
                    continue;
                }
                match departure(Instant::now(), busy_until, n + 28, down_bps, queue) {
                    Some(at) => {
                        busy_until = at;
                        let _ = tx.send((at, buf[..n].to_vec()));
                    }
                    None => {
                        stats.down_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    let down_out = {
        let (a, viewer, stats) = (Arc::clone(&a), Arc::clone(&viewer), Arc::clone(&stats));
        tokio::spawn(async move {
            while let Some((at, data)) = rx.recv().await {
                tokio::time::sleep_until(at).await;
                let to = *viewer.lock();
                if let Some(to) = to {
                    stats.down_packets.fetch_add(1, Ordering::Relaxed);
                    stats
                        .down_bytes
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                    let _ = a.send_to(&data, to).await;
                }
            }
        })
    };
    Relay {
        viewer_side,
        server_side,
        stats,
        tasks: vec![up, down_in, down_out],
    }
}
