//! Adaptive bitrate: each stream's rendition ladder, transcoded once per session.
//!
//! **Who drives it.** The engine calls [`spawn`] once per stream with the stream's ladder (from
//! config; empty = passthrough, nothing runs). It is one more reader of the source bus, and it
//! writes every rendition to a bus of its own ([`Ladder::renditions`]), so the LL-HLS origin, a
//! recorder or the SFU read a rendition exactly as they read the source. The encoder is chosen
//! once per process ([`encoder::choose`]: VA-API or NVENC when present, else x264) and logged.
//!
//! **Data flow.**
//! ```text
//! source bus ─▶ from_stream (reader task) ─▶ graph: appsrc → h264parse → avdec_h264 → tee
//!                 │  keyframe PTS ──────────────▶ ├─ scale/rate → enc ─▶ rendition bus "720p"
//!                 └─ watchdog (sans-IO) ◀─ lag ── └─ ...          enc ─▶ rendition bus "360p"
//! ```
//!
//! **Time model.** A rendition's units keep the source's PTS; its session is *derived*
//! ([`crate::stream::Stream::begin_derived`]): same epoch and clock anchor as the source, so
//! PROGRAM-DATE-TIME and MSNs line up. Encoders place keyframes only where the source has them
//! (forced per frame), so segments cut on keyframes and parts cut on PTS line up across
//! renditions. The [`watchdog`] decides, from lag values with time as an argument, when the
//! machine cannot keep up; the most expensive rendition is then dropped for the session.
//!
//! ```no_run
//! use showroom_pipelines::stream::Stream;
//! use showroom_pipelines::transcode::{self, AbrConfig};
//! # async fn demo() {
//! let source = Stream::new("show-1");
//! let cfg = AbrConfig::default();
//! let ladder = transcode::spawn(&source, cfg.ladder_for("show-1"), &cfg).expect("a ladder");
//! for (spec, bus) in &ladder.renditions {
//!     let _reader = bus.subscribe("llhls", 1024); // e.g. package `spec.name`
//! }
//! # }
//! ```

pub mod config;
pub mod encoder;
mod from_stream;
mod graph;
pub mod plan;
pub mod watchdog;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

pub use config::{AbrConfig, EncoderChoice, LadderError, RenditionSpec};
pub use from_stream::spawn;

use crate::stream::Stream;

/// Why a stream could not be transcoded.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TranscodeError {
    #[error("GStreamer: {0}")]
    Gst(String),
    #[error("codec {0} is not transcoded")]
    Codec(&'static str),
    #[error("no usable H.264 encoder (tried {0})")]
    NoEncoder(String),
}

impl From<gst::glib::BoolError> for TranscodeError {
    fn from(e: gst::glib::BoolError) -> Self {
        Self::Gst(e.to_string())
    }
}

impl From<gst::StateChangeError> for TranscodeError {
    fn from(e: gst::StateChangeError) -> Self {
        Self::Gst(e.to_string())
    }
}

impl From<gst::PadLinkError> for TranscodeError {
    fn from(e: gst::PadLinkError) -> Self {
        Self::Gst(e.to_string())
    }
}

/// Counters of one stream's transcoder.
#[derive(Debug, Default)]
pub struct TranscodeStats {
    /// Sessions transcoded.
    pub sessions: AtomicU64,
    /// Renditions dropped because the machine could not keep up in real time.
    pub dropped: AtomicU64,
}

/// A stream's running transcoder: one bus per configured rendition.
pub struct Ladder {
    pub renditions: Vec<(RenditionSpec, Arc<Stream>)>,
    pub stats: Arc<TranscodeStats>,
}

impl Ladder {
    /// Closes every rendition bus (the stream was deleted).
    pub fn close(&self) {
        for (_, bus) in &self.renditions {
            bus.close();
        }
    }
}
