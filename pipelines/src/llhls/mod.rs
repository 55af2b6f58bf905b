//! Low-Latency HLS: the CMAF packager (GStreamer `cmafmux`) and the origin.
//!
//! **Who drives it.** The engine calls [`spawn`] once per stream (a reader on the stream bus
//! plus one tokio task); the returned [`Origin`] lives across publish sessions and answers
//! typed requests. It knows nothing of HTTP: `engine/src/http/hls.rs` maps `/hls/{id}/{file}`
//! (see [`Resource`]) to it. GStreamer graphs run on their own streaming threads.
//!
//! **Data flow.**
//! ```text
//! Stream bus ─▶ from_stream (reader task) ─▶ segmenter (sans-IO: where parts/segments start)
//!   └▶ per track: appsrc → h264parse|aacparse → [split probe] → cmafmux → appsink
//!        └▶ chunks (init, parts + the segmenter's description) ─▶ Origin (store, watch)
//! HTTP ─▶ Origin::{multivariant, media_playlist, init, segment, part} ◀─ held on a watch
//! ```
//!
//! **Time model.** Cuts are decided from unit timestamps only ([`segmenter`]); a part is
//! published the moment cmafmux sees the first buffer of the next part (appsrc is not live, so
//! the aggregator adds no latency). PROGRAM-DATE-TIME is `session.anchor.wall_at(pts)` of each
//! segment's first unit: the same stream clock the commerce layer stamps events with.
//!
//! **Life of the playlists.** Playlists answer [`OriginError::NotLive`] until the first segment
//! is complete, because TARGETDURATION and PART-TARGET are fixed from it and never change. A
//! new publish session is a discontinuity (new init, new EXT-X-MAP, MSNs continue); the old
//! session's last segment is closed at `End`. Delta updates (CAN-SKIP-UNTIL) are advertised
//! once every playlist holds six target durations. Memory: `window_segments` complete segments
//! per rendition; part bytes only for the newest five segments; inits of evicted sessions go.
//! Parts are numbered across the stream (`video.p{seq}.m4s`), so the preload hint always names
//! the next part whether or not it starts a new segment.
//!
//! ```no_run
//! # async fn demo() -> Result<(), showroom_pipelines::llhls::OriginError> {
//! use showroom_pipelines::llhls::{self, LlHlsConfig, PlaylistQuery};
//! use showroom_pipelines::stream::Stream;
//! let stream = Stream::new("show-1");
//! let origin = llhls::spawn(stream, LlHlsConfig::default());
//! let q = PlaylistQuery::parse(Some("_HLS_msn=12&_HLS_part=3"))?;
//! let body = origin.media_playlist("video", &q).await?; // held until part 12.3 exists
//! # let _ = body; Ok(()) }
//! ```

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
mod playlist;
pub mod request;
pub mod segmenter;
mod state;
mod store;

pub use config::LlHlsConfig;
pub use daterange::DateRange;
pub use error::OriginError;
pub use from_stream::{spawn, spawn_rendition};
pub use origin::{HlsBody, Origin, OriginStats};
pub use playlist::pdt;
pub use request::{PlaylistQuery, Resource};
