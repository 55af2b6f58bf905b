//! Viewer counting: WebRTC (WHEP) sessions from the SFU and LL-HLS player sessions estimated from
//! media playlist requests ([`hls_sessions`]), reported every [`REPORT_EVERY`] to the commerce
//! layer, which adds the stream's `/ws` connections, sums the engines over Redis when configured,
//! keeps the total for `GET /api/v1/streams/{id}/info` and `/stats`, and pushes `viewers` frames
//! to WebSocket clients when it changes (`showroom_commerce::presence`).

mod hls_sessions;

use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use showroom_commerce::{Commerce, Players};
use showroom_signaling::Sfu;

pub use hls_sessions::HlsSessions;

use crate::registry::Registry;

/// How often the counts are reported (and pushed when changed).
pub const REPORT_EVERY: Duration = Duration::from_secs(2);
/// An LL-HLS client counts while it asked for a media playlist this recently (three 2 s
/// segments: covers a plain HLS player's reloads as well as hls.js's blocking requests).
pub const HLS_WINDOW: Duration = Duration::from_secs(6);
/// Most LL-HLS clients tracked at once (all streams).
const HLS_CAP: usize = 200_000;

/// The engine's viewer bookkeeping (LL-HLS side; the SFU keeps its own sessions).
pub struct ViewerCounter {
    hls: Mutex<HlsSessions>,
    /// Client keys are hashed with a per-process random seed (no strings kept).
    keys: std::collections::hash_map::RandomState,
}

impl ViewerCounter {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            hls: Mutex::new(HlsSessions::new(HLS_WINDOW, HLS_CAP)),
            keys: Default::default(),
        })
    }

    /// A media playlist of `stream` was served to `client_key` (see [`hls_sessions`]).
    pub fn hls_request(&self, stream: &str, client_key: &str) {
        let h = self.keys.hash_one(client_key);
        self.hls.lock().seen(stream, h, Instant::now());
    }

    /// LL-HLS sessions of `stream` now.
    pub fn hls_sessions(&self, stream: &str) -> usize {
        self.hls.lock().count(stream, Instant::now())
    }
}

/// Reports every stream's players to commerce every [`REPORT_EVERY`].
pub fn spawn_reporter(
    counter: Arc<ViewerCounter>,
    registry: Arc<Registry>,
    sfu: Sfu,
    shop: Arc<Commerce>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REPORT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            counter.hls.lock().prune(Instant::now());
            for entry in registry.list() {
                let id = &entry.record.id;
                let players = Players {
                    webrtc: sfu.viewer_count(id) as u64,
                    llhls: counter.hls_sessions(id) as u64,
                };
                shop.report_viewers(id, players).await;
            }
        }
    });
}
