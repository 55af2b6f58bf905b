//! RTMP ingest: the path OBS, ffmpeg and GStreamer's `rtmp2sink` publish on.
//!
//! `rtmp://HOST:PORT/<app>/<stream key>`: the app must be [`RtmpConfig::app`] (`live`), the key
//! is authenticated with [`PublishTarget::publish`](crate::ingest::PublishTarget::publish).
//! H.264 + AAC only (B-frames included); anything else is refused with an RTMP status and a
//! warn log line, and only that connection closes.
//!
//! ```text
//! TcpListener ─▶ server (accept loop, a task per connection)
//!                 └▶ conn: handshake ─▶ read loop (idle timeout)
//!                     └▶ session: chunk_guard ─▶ rml_rtmp ServerSession ─▶ events
//!                          ├ connect / publish: app check, key auth ─▶ Publisher
//!                          └ audio/video/onMetaData ─▶ to_stream ─▶ Tracks, Units ─▶ bus
//! ```
//!
//! Time: RTMP timestamps (32-bit ms, wrapping) are unwrapped to one 64-bit timeline; a unit's
//! DTS is its tag timestamp, PTS adds the composition time. The track decision in
//! [`to_stream`] is sans-IO (time is an argument).

mod asc;
mod bits;
mod chunk_guard;
mod config;
mod conn;
mod error;
mod flv;
mod handshake;
mod server;
mod session;
mod sps;
mod stats;
mod status;
mod timeline;
pub mod to_stream;

pub use chunk_guard::ChunkError;
pub use config::RtmpConfig;
pub use error::{MediaError, RtmpError};
pub use flv::Truncated;
pub use server::{serve, RtmpServer};
pub use sps::AvcConfigError;
pub use stats::{RefusalKind, RtmpStats};
