//! GStreamer caps for a bus [`Track`]: what an `appsrc` fed with the track's units announces.

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
    gst_app::AppSrc::builder()
        .caps(&caps_for(track))
        .format(gst::Format::Time)
        .is_live(false)
        .stream_type(gst_app::AppStreamType::Stream)
        .max_bytes(0)
        .block(false)
        .build()
}
