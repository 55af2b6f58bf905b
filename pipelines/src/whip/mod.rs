//! WHIP ingest: a browser (or any WebRTC client) publishes H.264 + Opus; GStreamer `webrtcbin`
//! receives, depayloads, and writes to the stream bus like any other ingest.
//!
//! **Who drives it.** The signaling crate calls [`WhipSession::start`] with the stream's
//! [`crate::stream::Publisher`] and the client's SDP offer; it gets the full answer (all
//! candidates, no trickle) and keeps the session alive until `DELETE` or [`WhipSession::closed`].
//!
//! **Data flow.**
//! ```text
//! webrtcbin ─▶ rtph264depay ! h264parse (avc, au) ! appsink ─▶ Unit(H.264) ─▶ Publisher
//!           └▶ rtpopusdepay ! opusdec ! audioconvert ! audioresample ! avenc_aac ! appsink ─▶ Unit(AAC)
//! ```
//! Opus is turned into AAC once at ingest so LL-HLS serves it; the SFU's RTP egress turns it
//! back into Opus (one encoder per stream either way, never per viewer). Keyframes are asked of
//! the publisher on demand: a reader's [`crate::stream::Stream::request_keyframe`] (the SFU's
//! coalesced viewer PLI/FIR, or a viewer joining without a cached GOP) becomes a
//! `GstForceKeyUnit` upstream, which webrtcbin's rtpsession sends as an RTCP PLI; a periodic
//! request (`keyframe_interval`, 2 s) keeps LL-HLS segments cut. Publisher
//! candidates may also arrive later ([`WhipSession::add_candidate`], trickle ICE).
//!
//! **Time model.** Unit timestamps are the pipeline running time of each buffer.

mod depay;
mod sdp;
mod session;
mod to_stream;

pub use session::{ClosedWatch, WhipSession};

use std::time::Duration;

/// Settings of WHIP ingest.
#[derive(Debug, Clone)]
pub struct WhipConfig {
    /// Only these local IPs are used for ICE (e.g. `["127.0.0.1"]` in tests); empty = all
    /// interfaces (libnice's default, which skips loopback).
    pub ice_addresses: Vec<String>,
    /// `stun://host:port` for server-reflexive candidates.
    pub stun_server: Option<String>,
    /// Also request a keyframe from the publisher this often, so LL-HLS can cut segments
    /// (browsers send keyframes only when asked); zero = only on demand (WebRTC viewers).
    pub keyframe_interval: Duration,
    /// How long ICE gathering may take before the answer is sent with what was found.
    pub gather_timeout: Duration,
    /// AAC bitrate of the Opus → AAC transcode, bit/s.
    pub aac_bps: i32,
}

impl Default for WhipConfig {
    fn default() -> Self {
        Self {
            ice_addresses: Vec::new(),
            stun_server: None,
            keyframe_interval: Duration::from_secs(2),
            gather_timeout: Duration::from_secs(5),
            aac_bps: 128_000,
        }
    }
}

/// Why a WHIP session could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WhipError {
    #[error("malformed SDP offer: {0}")]
    BadSdp(String),
    #[error("negotiation failed: {0}")]
    Negotiation(String),
    #[error("GStreamer: {0}")]
    Gst(String),
}

impl From<gst::glib::BoolError> for WhipError {
    fn from(e: gst::glib::BoolError) -> Self {
        Self::Gst(e.to_string())
    }
}

impl From<gst::StateChangeError> for WhipError {
    fn from(e: gst::StateChangeError) -> Self {
        Self::Gst(e.to_string())
    }
}
