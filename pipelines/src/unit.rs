//! The unit of media on the bus: one encoded access unit with its timestamps.

use std::time::Duration;

use bytes::Bytes;

/// Which track of a session a unit belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    Video,
    Audio,
}

/// The codec of a track, with the out-of-band configuration a decoder needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Codec {
    /// H.264 in AVC form: `config` is the AVCDecoderConfigurationRecord, unit payloads are
    /// length-prefixed (4-byte) NAL units, one access unit per [`Unit`].
    H264 { config: Bytes },
    /// AAC (raw, no ADTS): `config` is the AudioSpecificConfig, one frame per [`Unit`].
    Aac { config: Bytes },
    /// Opus: one packet per [`Unit`].
    Opus,
}

impl Codec {
    pub fn name(&self) -> &'static str {
        match self {
            Codec::H264 { .. } => "h264",
            Codec::Aac { .. } => "aac",
            Codec::Opus => "opus",
        }
    }
}

/// One encoded access unit.
///
/// Timestamps are on the publish session's media timeline, which starts near zero when the
/// session starts. `dts <= pts` for video with B-frames; `dts == pts` for audio.
#[derive(Debug, Clone)]
pub struct Unit {
    pub track: TrackKind,
    pub pts: Duration,
    pub dts: Duration,
    /// A random access point (IDR for H.264; every audio frame).
    pub keyframe: bool,
    pub payload: Bytes,
}
