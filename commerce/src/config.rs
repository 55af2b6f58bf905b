//! `[commerce]` configuration. Every field has a default; `configs/default.toml` lists them.

use serde::{Deserialize, Serialize};

/// The `[commerce]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommerceConfig {
    /// `redis://host:port` to share events between engine processes; `None` = in-process bus.
    pub redis_url: Option<String>,
    /// Most products pinned at once per stream.
    pub pin_limit: u32,
    /// How long after a flash sale's end (in server stream time) a buyer whose playout still
    /// shows the sale open may buy.
    pub max_latency_allowance_ms: u64,
    /// Largest accepted WebSocket text frame, bytes.
    pub max_frame_bytes: usize,
    /// Per-connection command rate: sustained per second.
    pub conn_rate_per_s: u32,
    /// Per-connection burst.
    pub conn_burst: u32,
    /// Per-user command rate (all of a user's connections in this process): sustained per second.
    pub user_rate_per_s: u32,
    /// Per-user burst.
    pub user_burst: u32,
    /// Refused frames in a row (invalid or rate-limited) after which a connection is closed as
    /// a flood; 0 = never close (every refused frame gets an error frame, the socket survives).
    pub max_strikes: u32,
    /// How many past events a reconnecting client can replay; older `since` gets a `resync` frame.
    pub history_len: u64,
    /// Events queued per WebSocket connection; a reader that falls further behind is caught up
    /// from the event table, or sent `resync` if it is more than `history_len` behind (it never
    /// slows the publisher).
    pub send_queue: usize,
    /// A write to one WebSocket that does not complete within this many ms (the client stopped
    /// reading: its TCP window and our buffers are full) closes that socket; the client
    /// reconnects with `since=<last seq>`.
    pub ws_write_timeout_ms: u64,
    /// Lifetime of issued tokens, seconds.
    pub token_ttl_s: u64,
    /// Longest chat message, characters.
    pub max_chat_chars: usize,
}

impl Default for CommerceConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            pin_limit: 3,
            max_latency_allowance_ms: 5_000,
            max_frame_bytes: 16 * 1024,
            conn_rate_per_s: 20,
            conn_burst: 40,
            user_rate_per_s: 30,
            user_burst: 60,
            max_strikes: 0,
            history_len: 10_000,
            send_queue: 1024,
            ws_write_timeout_ms: 10_000,
            token_ttl_s: 24 * 3600,
            max_chat_chars: 500,
        }
    }
}

/// Secrets given by the engine.
#[derive(Clone)]
pub struct Secrets {
    /// Static admin bearer key.
    pub admin_key: String,
    /// HMAC secret for HS256 JWTs.
    pub jwt_secret: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}
