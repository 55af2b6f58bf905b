//! Recording: every live stream written to disk as CMAF (fMP4) segments, straight from the
//! media bus with no second encode, and everything the replay needs.
//!
//! **Who drives it.** The engine calls [`spawn`] once per stream (a reader on the bus plus one
//! tokio task), and serves replays through [`Recordings`] (`engine/src/http/vod.rs` maps
//! `/vod/{id}/...` and `/thumbs/{id}/...` to it). GStreamer graphs run on their own threads and
//! do the file writes there. It knows nothing of HTTP.
//!
//! **Data flow.**
//! ```text
//! Stream bus ─▶ from_stream (reader task), per publish session:
//!   ├▶ muxer: appsrc → h264parse/aacparse → isofmp4mux (A+V) → appsink → files: <seq>.m4s + index.tsv
//!   └▶ thumbs: one keyframe every N s → avdec_h264 → jpegenc → thumbs/<pts>.jpg + latest.jpg
//! HTTP ─▶ Recordings::{playlist, media, thumbnails_vtt, delete}; sweep (retention)
//! [recording.s3]: files ─▶ s3::Uploader (queue, one task, retries) ─▶ PutObject; reads fall
//!   back to GetObject when a file is not on the local disk (s3::client, SigV4 in s3::sigv4)
//! ```
//!
//! **Time model.** Each segment's PROGRAM-DATE-TIME is `session.anchor.wall_at(pts)` of its
//! first frame: the stream clock that stamps commerce events (`stamp.pdt_ms`), so a pin made
//! at some frame of the live show is placed at that frame of the replay. A reconnect is a new
//! session: a new directory, a new init segment, `EXT-X-DISCONTINUITY` in the playlist.
//!
//! **Crash safety.** See [`files`]: segment file fsync'd and renamed before its index line.
//!
//! ```no_run
//! # async fn demo() -> Result<(), showroom_pipelines::record::RecordError> {
//! use showroom_pipelines::record::{self, RecordConfig, Recordings};
//! use showroom_pipelines::stream::Stream;
//! let stream = Stream::new("show-1");
//! let recordings = Recordings::new("data/recordings");
//! let _recorder = record::spawn(&stream, &recordings, RecordConfig::default());
//! // ... publish, end ...
//! let playlist = recordings.playlist("show-1", true).await?;
//! # let _ = playlist; Ok(()) }
//! ```

pub mod config;
mod download;
pub mod error;
pub mod files;
mod from_stream;
pub mod index;
mod muxer;
pub mod s3;
pub mod sprite;
pub mod store;
mod thumbs;

pub use config::{RecordConfig, S3Config};
pub use error::RecordError;
pub use from_stream::{spawn, Recorder};
pub use store::{sweep, MediaFile, Opened, Recordings, Swept};
