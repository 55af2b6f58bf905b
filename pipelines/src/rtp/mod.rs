//! RTP egress for the SFU: one packetization per stream, read from the bus.
//!
//! **Who drives it.** [`from_stream::spawn`] registers one reader on a [`crate::stream::Stream`]
//! and runs a tokio task; per publish session it builds one GStreamer graph per track whose
//! appsink hands finished RTP packets to an [`RtpSink`] (the SFU) on a GStreamer thread.
//!
//! **Data flow.**
//! ```text
//! bus ─▶ H.264 without B-frames: appsrc ! h264parse ! rtph264pay ! appsink   (passthrough)
//!     ─▶ H.264 with B-frames:    appsrc ! h264parse ! avdec_h264 ! x264enc bframes=0 ! rtph264pay ! appsink
//!     ─▶ AAC:                    appsrc ! avdec_aac ! audioconvert ! audioresample ! opusenc ! rtpopuspay ! appsink
//! ```
//! Each graph runs once per stream, whatever the number of viewers. B-frames are detected on
//! the first video units (`pts != dts`); a later B-frame switches the session to the transcode.
//! [`RtpEgress::request_keyframe`] forces a keyframe from the transcode's encoder, or asks the
//! publisher through the bus ([`crate::stream::Stream::request_keyframe`]: a WHIP publisher gets
//! an RTCP PLI; RTMP cannot be asked).
//!
//! **Time model.** RTP timestamps follow the bus PTS (90 kHz video, 48 kHz Opus).

mod from_stream;
mod graph;
mod h264;

pub use from_stream::{spawn, KeyframeSource, RtpEgress};
pub use h264::is_gop_start;

use bytes::Bytes;

/// Which RTP stream a packet belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RtpKind {
    /// H.264, `packetization-mode=1`, 90 kHz.
    H264,
    /// Opus, 48 kHz, stereo signalled.
    Opus,
}

/// How the video of a session reaches RTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoMode {
    /// The published H.264 is packetized untouched.
    Passthrough,
    /// Re-encoded once (zero latency, no B-frames) because the publisher sends B-frames.
    Transcode,
}

/// One RTP packet as the payloader made it (header included).
#[derive(Debug, Clone)]
pub struct RtpPacket {
    pub kind: RtpKind,
    pub data: Bytes,
    /// The first packet of an access unit that starts with SPS (a decoder can start here).
    pub gop_start: bool,
}

/// Where the RTP of one stream goes. Called on GStreamer threads: never block.
pub trait RtpSink: Send + Sync + 'static {
    /// A publish session starts producing RTP (`epoch` from the bus).
    fn session_started(&self, epoch: u64, video: Option<VideoMode>, audio: bool);
    fn packet(&self, packet: RtpPacket);
    /// The session ended (the publisher left).
    fn session_ended(&self, epoch: u64);
}

/// Settings of the RTP egress.
#[derive(Debug, Clone)]
pub struct RtpConfig {
    /// Largest RTP packet, header included.
    pub mtu: u32,
    /// Bus queue of the reader, in units.
    pub queue_units: usize,
    /// Keyframe interval of the transcode, in frames.
    pub transcode_key_int: u32,
    /// Bitrate of the transcode, kbit/s.
    pub transcode_kbps: u32,
    /// Opus bitrate, bit/s.
    pub opus_bps: i32,
    /// Video units looked at before choosing passthrough or transcode.
    pub probe_units: usize,
}

impl Default for RtpConfig {
    fn default() -> Self {
        Self {
            mtu: 1200,
            queue_units: 512,
            transcode_key_int: 60,
            transcode_kbps: 2000,
            opus_bps: 64_000,
            probe_units: 6,
        }
    }
}

/// Why an RTP graph could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    #[error("GStreamer: {0}")]
    Gst(String),
    #[error("codec {0} cannot be sent over RTP here")]
    Codec(&'static str),
}

impl From<gst::glib::BoolError> for RtpError {
    fn from(e: gst::glib::BoolError) -> Self {
        Self::Gst(e.to_string())
    }
}

impl From<gst::StateChangeError> for RtpError {
    fn from(e: gst::StateChangeError) -> Self {
        Self::Gst(e.to_string())
    }
}

impl From<crate::gst_init::InitError> for RtpError {
    fn from(e: crate::gst_init::InitError) -> Self {
        Self::Gst(e.to_string())
    }
}
