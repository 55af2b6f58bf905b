//! GStreamer caps and buffers for bus units: what an `appsrc` fed with a [`Track`]'s units
//! announces and receives, and the `appsink` that hands a graph's output back to Rust.

use std::time::Duration;

use crate::llhls::codecs::AudioConfig;
use crate::stream::Track;
use crate::unit::Codec;

/// Caps for `track`'s units: H.264 in AVC form (with size and frame rate when known), raw AAC
/// (with rate and channels from its AudioSpecificConfig), or Opus.
pub fn caps_for(track: &Track) -> gst::Caps {
    match &track.codec {
        Codec::H264 { config } => {
            let mut b = gst::Caps::builder("video/x-h264")
                .field("stream-format", "avc")
                .field("alignment", "au")
                .field("codec_data", gst::Buffer::from_slice(config.clone()));
            if let (Some(w), Some(h)) = (track.width, track.height) {
                b = b.field("width", w as i32).field("height", h as i32);
            }
            if let Some((n, d)) = track.framerate.filter(|f| f.0 > 0 && f.1 > 0) {
                b = b.field("framerate", gst::Fraction::new(n as i32, d as i32));
            }
            b.build()
        }
        Codec::Aac { config } => {
            let mut b = gst::Caps::builder("audio/mpeg")
                .field("mpegversion", 4i32)
                .field("stream-format", "raw")
                .field("codec_data", gst::Buffer::from_slice(config.clone()));
            if let Some(asc) = AudioConfig::parse(config) {
                b = b
                    .field("rate", asc.sample_rate as i32)
                    .field("channels", asc.channels as i32);
            }
            b.build()
        }
        Codec::Opus => gst::Caps::builder("audio/x-opus")
            .field("channel-mapping-family", 0i32)
            .build(),
    }
}

/// A non-live `appsrc` for `track`'s units (time format, unbounded, never blocking the caller).
pub fn appsrc_for(track: &Track) -> gst_app::AppSrc {
    unit_appsrc(&caps_for(track), false)
}

/// H.264 in AVC form, one access unit per buffer: what the bus carries (for a capsfilter after
/// a depayloader or an encoder).
pub fn avc_au() -> gst::Caps {
    gst::Caps::builder("video/x-h264")
        .field("stream-format", "avc")
        .field("alignment", "au")
        .build()
}

/// A bus unit as a buffer: PTS, DTS, optional duration, and DELTA_UNIT unless a keyframe.
pub fn unit_buffer(
    payload: bytes::Bytes,
    pts: Duration,
    dts: Duration,
    keyframe: bool,
    duration: Option<Duration>,
) -> gst::Buffer {
    let ns = |d: Duration| gst::ClockTime::from_nseconds(d.as_nanos() as u64);
    let mut buffer = gst::Buffer::from_slice(payload);
    if let Some(b) = buffer.get_mut() {
        b.set_pts(ns(pts));
        b.set_dts(ns(dts));
        if let Some(d) = duration {
            b.set_duration(ns(d));
        }
        if !keyframe {
            b.set_flags(gst::BufferFlags::DELTA_UNIT);
        }
    }
    buffer
}

/// An `appsrc` for bus units with `caps`: TIME format, never blocking, unbounded (the bus
/// reader's queue is the bound). `live` for graphs that feed a network peer.
pub fn unit_appsrc(caps: &gst::Caps, live: bool) -> gst_app::AppSrc {
    gst_app::AppSrc::builder()
        .caps(caps)
        .format(gst::Format::Time)
        .is_live(live)
        .stream_type(gst_app::AppStreamType::Stream)
        .max_bytes(0)
        .block(false)
        .build()
}

/// The `appsink` at the end of every graph whose output goes back to Rust: no clock sync, no
/// queue bound (the callback drains it as buffers come), buffer lists when `buffer_list`.
pub fn drain_appsink(buffer_list: bool) -> gst_app::AppSink {
    gst_app::AppSink::builder()
        .sync(false)
        .buffer_list(buffer_list)
        .max_buffers(0)
        .build()
}
