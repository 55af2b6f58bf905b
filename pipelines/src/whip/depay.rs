//! webrtcbin's receive pads to bus units: one depayload chain per track, and keyframe
//! requests to the publisher.

use std::sync::Arc;
use std::time::Duration;

use gst::prelude::*;
use parking_lot::Mutex;

use super::to_stream::Writer;
use super::WhipError;
use crate::unit::TrackKind;

fn make(factory: &str) -> Result<gst::Element, WhipError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|e| WhipError::Gst(format!("{factory}: {e}")))
}

pub(super) fn install_pads(
    pipeline: &gst::Pipeline,
    webrtc: &gst::Element,
    writer: &Arc<Writer>,
    video_sink: &Arc<Mutex<Option<gst_app::AppSink>>>,
    aac_bps: i32,
    stream: &str,
) {
    let weak = pipeline.downgrade();
    let writer = Arc::clone(writer);
    let video_sink = Arc::clone(video_sink);
    let stream = stream.to_owned();
    webrtc.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else { return };
        let caps = pad.current_caps();
        let s = caps.as_ref().and_then(|c| c.structure(0));
        let media = s.and_then(|s| s.get::<String>("media").ok()).unwrap_or_default();
        let encoding = s
            .and_then(|s| s.get::<String>("encoding-name").ok())
            .unwrap_or_default();
        match build_chain(&media, &encoding, aac_bps) {
            Ok((chain, kind)) => {
                let Some(appsink) = chain
                    .last()
                    .and_then(|e| e.clone().downcast::<gst_app::AppSink>().ok())
                else {
                    return;
                };
                let w = Arc::clone(&writer);
                appsink.set_callbacks(
                    gst_app::AppSinkCallbacks::builder()
                        .new_sample(move |sink| {
                            let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                            w.sample(kind, &sample);
                            Ok(gst::FlowSuccess::Ok)
                        })
                        .build(),
                );
                if kind == TrackKind::Video {
                    *video_sink.lock() = Some(appsink);
                }
                let linked = pipeline.add_many(&chain).is_ok()
                    && gst::Element::link_many(&chain).is_ok()
                    && chain.iter().all(|e| e.sync_state_with_parent().is_ok())
                    && chain[0]
                        .static_pad("sink")
                        .is_some_and(|sink| pad.link(&sink).is_ok());
                if linked {
                    tracing::info!(stream = %stream, media, encoding, "whip: receiving");
                } else {
                    tracing::error!(stream = %stream, media, encoding, "whip: cannot link the depayloader");
                }
            }
            Err(e) => tracing::warn!(stream = %stream, media, encoding, error = %e, "whip: track ignored"),
        }
    });
}

fn build_chain(
    media: &str,
    encoding: &str,
    aac_bps: i32,
) -> Result<(Vec<gst::Element>, TrackKind), WhipError> {
    let appsink = crate::caps::drain_appsink(false);
    match (media, encoding.to_ascii_uppercase().as_str()) {
        ("video", "H264") => {
            let caps = gst::ElementFactory::make("capsfilter")
                .property("caps", crate::caps::avc_au())
                .build()?;
            Ok((
                vec![
                    make("rtph264depay")?,
                    make("h264parse")?,
                    caps,
                    appsink.upcast(),
                ],
                TrackKind::Video,
            ))
        }
        ("audio", "OPUS") => {
            let enc = gst::ElementFactory::make("avenc_aac")
                .property("bitrate", aac_bps)
                .build()
                .map_err(|e| WhipError::Gst(format!("avenc_aac: {e}")))?;
            Ok((
                vec![
                    make("rtpopusdepay")?,
                    make("opusdec")?,
                    make("audioconvert")?,
                    make("audioresample")?,
                    enc,
                    appsink.upcast(),
                ],
                TrackKind::Audio,
            ))
        }
        _ => Err(WhipError::Negotiation(format!(
            "{media}/{encoding} is not H.264 or Opus"
        ))),
    }
}

/// Asks the publisher for a keyframe: `GstForceKeyUnit` upstream from the video appsink;
/// webrtcbin's rtpsession turns it into an RTCP PLI to the publisher.
pub(super) fn force_key_unit(sink: &Mutex<Option<gst_app::AppSink>>) -> bool {
    let sink = sink.lock().clone();
    let Some(s) = sink else { return false };
    let st = gst::Structure::builder("GstForceKeyUnit")
        .field("all-headers", true)
        .build();
    s.send_event(gst::event::CustomUpstream::new(st))
}

/// Asks the publisher for a keyframe every `interval` (for LL-HLS segments; WebRTC viewers
/// ask on demand).
pub(super) async fn keyframes(sink: Arc<Mutex<Option<gst_app::AppSink>>>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        force_key_unit(&sink);
    }
}
