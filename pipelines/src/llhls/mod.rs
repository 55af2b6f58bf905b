//! Low-Latency HLS: the CMAF packager (GStreamer `cmafmux`) and the origin.
//!
//! ```text
//! Stream bus ─▶ from_stream (reader task) ─▶ segmenter (sans-IO cut decisions)
//!                 └▶ per track: appsrc → h264parse|aacparse → cmafmux → appsink ─▶ Origin
//! Origin ◀─ typed requests (engine/src/http/hls.rs maps /hls/{id}/... to them)
//! ```
//!
//! The engine calls [`spawn`] once per stream; the [`Origin`] lives across publish sessions
//! (a new session is a discontinuity with a new init segment). Playlists answer
//! [`OriginError::NotLive`] until the first segment is complete, because TARGETDURATION and
//! PART-TARGET are fixed from it and never change afterwards.

mod chunks;
pub mod codecs;
pub mod config;
mod cutter;
pub mod daterange;
pub mod error;
mod from_stream;
pub mod origin;
mod origin_feed;
pub mod packager;
pub mod playlist;
pub mod request;
pub mod segmenter;
mod state;
mod store;

pub use config::LlHlsConfig;
pub use daterange::DateRange;
pub use error::OriginError;
pub use from_stream::spawn;
pub use origin::{HlsBody, Origin, OriginStats};
pub use request::{PlaylistQuery, Resource};
