//! One track's RTP graph: `appsrc → (parse | decode → encode) → payloader → appsink`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gst::prelude::*;

use super::{is_gop_start, RtpConfig, RtpError, RtpKind, RtpPacket, RtpSink, VideoMode};
use crate::caps::caps_for;
use crate::stream::Track;
use crate::unit::Codec;

/// A running graph for one track of one session.
pub(super) struct Graph {
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    appsink: gst_app::AppSink,
    refused: AtomicBool,
    name: String,
}

fn make(factory: &str) -> Result<gst::Element, RtpError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|e| RtpError::Gst(format!("{factory}: {e}")))
}

impl Graph {
    /// Video: passthrough or transcode, then `rtph264pay`.
    pub(super) fn video(
        stream_id: &str,
        track: &Track,
        mode: VideoMode,
        cfg: &RtpConfig,
        sink: Arc<dyn RtpSink>,
    ) -> Result<Self, RtpError> {
        let Codec::H264 { .. } = &track.codec else {
            return Err(RtpError::Codec(track.codec.name()));
        };
        let caps = caps_for(track);
        let mut chain = vec![make("h264parse")?];
        if mode == VideoMode::Transcode {
            let enc = gst::ElementFactory::make("x264enc")
                .property_from_str("tune", "zerolatency")
                .property_from_str("speed-preset", "ultrafast")
                .property("bframes", 0u32)
                .property("key-int-max", cfg.transcode_key_int)
                .property("bitrate", cfg.transcode_kbps)
                .build()
                .map_err(|e| RtpError::Gst(format!("x264enc: {e}")))?;
            let profile = gst::ElementFactory::make("capsfilter")
                .property(
                    "caps",
                    gst::Caps::builder("video/x-h264")
                        .field("profile", "constrained-baseline")
                        .build(),
                )
                .build()?;
            chain.extend([make("avdec_h264")?, make("videoconvert")?, enc, profile]);
        }
        let pay = gst::ElementFactory::make("rtph264pay")
            .property("config-interval", -1i32)
            .property("mtu", cfg.mtu)
            .property_from_str("aggregate-mode", "zero-latency")
            .build()
            .map_err(|e| RtpError::Gst(format!("rtph264pay: {e}")))?;
        chain.push(pay);
        Self::build(stream_id, "video", caps, chain, RtpKind::H264, sink)
    }

    /// Audio: AAC decoded once and encoded to Opus, then `rtpopuspay`.
    pub(super) fn audio(
        stream_id: &str,
        track: &Track,
        cfg: &RtpConfig,
        sink: Arc<dyn RtpSink>,
    ) -> Result<Self, RtpError> {
        if let Codec::H264 { .. } = track.codec {
            return Err(RtpError::Codec("h264"));
        }
        let caps = caps_for(track);
        let mut chain = Vec::new();
        if matches!(track.codec, Codec::Aac { .. }) {
            let opus = gst::ElementFactory::make("opusenc")
                .property("bitrate", cfg.opus_bps)
                .build()
                .map_err(|e| RtpError::Gst(format!("opusenc: {e}")))?;
            let rate = gst::ElementFactory::make("capsfilter")
                .property(
                    "caps",
                    gst::Caps::builder("audio/x-raw")
                        .field("rate", 48_000i32)
                        .build(),
                )
                .build()?;
            chain.extend([
                make("avdec_aac")?,
                make("audioconvert")?,
                make("audioresample")?,
                rate,
                opus,
            ]);
        }
        let pay = gst::ElementFactory::make("rtpopuspay")
            .property("mtu", cfg.mtu)
            .build()
            .map_err(|e| RtpError::Gst(format!("rtpopuspay: {e}")))?;
        chain.push(pay);
        Self::build(stream_id, "audio", caps, chain, RtpKind::Opus, sink)
    }

    fn build(
        stream_id: &str,
        what: &str,
        caps: gst::Caps,
        chain: Vec<gst::Element>,
        kind: RtpKind,
        sink: Arc<dyn RtpSink>,
    ) -> Result<Self, RtpError> {
        crate::gst_init::init()?;
        let name = format!("rtp-{stream_id}-{what}");
        let pipeline = gst::Pipeline::with_name(&name);
        let appsrc = crate::caps::unit_appsrc(&caps, true);
        let appsink = crate::caps::drain_appsink(false);
        let mut all: Vec<gst::Element> = vec![appsrc.clone().upcast()];
        all.extend(chain);
        all.push(appsink.clone().upcast());
        pipeline.add_many(&all)?;
        gst::Element::link_many(&all)?;
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |appsink| {
                    let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(buffer) = sample.buffer() {
                        if let Ok(map) = buffer.map_readable() {
                            let data = Bytes::copy_from_slice(map.as_slice());
                            let gop_start = kind == RtpKind::H264 && is_gop_start(&data);
                            sink.packet(RtpPacket {
                                kind,
                                data,
                                gop_start,
                            });
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        crate::gst_bus::play_watched(&pipeline, "rtp egress")?;
        Ok(Self {
            pipeline,
            appsrc,
            appsink,
            refused: AtomicBool::new(false),
            name,
        })
    }

    pub(super) fn push(&self, pts: Duration, dts: Duration, keyframe: bool, payload: Bytes) {
        let buffer = crate::caps::unit_buffer(payload, pts, dts, keyframe, None);
        if let Err(e) = self.appsrc.push_buffer(buffer) {
            if !self.refused.swap(true, Ordering::Relaxed) {
                tracing::warn!(pipeline = %self.name, error = ?e, "rtp: appsrc refused a buffer, track stalls until the next session");
            }
        }
    }

    /// Asks the encoder (transcode only; a no-op for passthrough) for a keyframe now.
    pub(super) fn request_keyframe(&self) {
        let st = gst::Structure::builder("GstForceKeyUnit")
            .field("all-headers", true)
            .build();
        let sent = self.appsink.send_event(gst::event::CustomUpstream::new(st));
        tracing::debug!(pipeline = %self.name, sent, "rtp: keyframe requested upstream");
    }
}

impl Drop for Graph {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
