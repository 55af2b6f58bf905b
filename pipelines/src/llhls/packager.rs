//! One track's CMAF packager: `appsrc → h264parse|aacparse → cmafmux → appsink`.
//!
//! We decide the cuts (see [`super::segmenter`]); cmafmux runs with `manual-split=true` and
//! gets a serialized `FMP4MuxSplitNow` custom event right before the first buffer of each new
//! part. The event is pushed from a buffer probe on the parser's source pad, keyed by DTS, so
//! its order relative to the buffers never depends on how appsrc or the parser queue events.
//! appsrc is not live, so the aggregator never waits for a latency deadline: a part leaves
//! cmafmux as soon as the first buffer of the next part reaches it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gst::prelude::*;
use parking_lot::Mutex;

use super::segmenter::{ClosedPart, Cut};
use crate::stream::Track;
use crate::unit::{Codec, TrackKind};

/// What a packager produces, in order.
#[derive(Debug)]
pub enum Output {
    /// The init segment (ftyp + moov), with the parser's output caps (width, height...).
    Init(Bytes, Option<gst::Caps>),
    /// One part (moof + mdat, with styp at a segment start) and what the segmenter said of it.
    Part(ClosedPart, Bytes),
    /// All media was flushed after `finish`.
    Eos,
}

/// Why a packager could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackagerError {
    #[error("GStreamer: {0}")]
    Gst(String),
    #[error("codec {0} is not packaged for LL-HLS")]
    Codec(&'static str),
}

impl From<gst::glib::BoolError> for PackagerError {
    fn from(e: gst::glib::BoolError) -> Self {
        Self::Gst(e.to_string())
    }
}

impl From<gst::StateChangeError> for PackagerError {
    fn from(e: gst::StateChangeError) -> Self {
        Self::Gst(e.to_string())
    }
}

pub(super) type Sink = Arc<dyn Fn(Output) + Send + Sync>;

#[derive(Default)]
pub(super) struct Shared {
    /// DTS of buffers that must be preceded by a split event, and whether it is a chunk.
    pub(super) splits: VecDeque<(gst::ClockTime, bool)>,
    /// Parts closed by the segmenter whose bytes cmafmux has not emitted yet.
    pub(super) metas: VecDeque<ClosedPart>,
}

/// A running packager graph for one track.
pub struct Packager {
    kind: TrackKind,
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    shared: Arc<Mutex<Shared>>,
    frame: Option<Duration>,
    refused: std::sync::atomic::AtomicBool,
}

/// cmafmux takes H.264 and AAC from the bus; anything else is refused.
fn caps_for(track: &Track) -> Result<gst::Caps, PackagerError> {
    match &track.codec {
        Codec::H264 { .. } | Codec::Aac { .. } => Ok(crate::caps::caps_for(track)),
        other => Err(PackagerError::Codec(other.name())),
    }
}

impl Packager {
    /// Builds and starts the graph. `sink` receives the output on a GStreamer thread.
    pub fn start(
        stream_id: &str,
        track: &Track,
        frame: Option<Duration>,
        part: Duration,
        segment: Duration,
        sink: Sink,
    ) -> Result<Self, PackagerError> {
        let caps = caps_for(track)?;
        let kind = track.kind;
        let name = format!(
            "llhls-{stream_id}-{}",
            if kind == TrackKind::Video {
                "video"
            } else {
                "audio"
            }
        );
        let pipeline = gst::Pipeline::with_name(&name);
        let appsrc = crate::caps::unit_appsrc(&caps, false);
        let parser = match kind {
            TrackKind::Video => gst::ElementFactory::make("h264parse").build()?,
            TrackKind::Audio => gst::ElementFactory::make("aacparse").build()?,
        };
        let mux = gst::ElementFactory::make("cmafmux")
            .property("manual-split", true)
            .property(
                "fragment-duration",
                gst::ClockTime::from_nseconds(segment.as_nanos() as u64),
            )
            .property(
                "chunk-duration",
                gst::ClockTime::from_nseconds(part.as_nanos() as u64),
            )
            .build()?;
        let appsink = crate::caps::drain_appsink(true);
        pipeline.add_many([appsrc.upcast_ref(), &parser, &mux, appsink.upcast_ref()])?;
        gst::Element::link_many([appsrc.upcast_ref(), &parser, &mux, appsink.upcast_ref()])?;

        let shared = Arc::new(Mutex::new(Shared::default()));
        install_split_probe(&parser, Arc::clone(&shared))?;
        let parsed = parser
            .static_pad("src")
            .ok_or_else(|| PackagerError::Gst("parser without src pad".into()))?;
        super::chunks::install_sink(&appsink, Arc::clone(&shared), sink, name.clone(), parsed);

        crate::gst_bus::play_watched(&pipeline, "llhls packager")?;
        Ok(Self {
            kind,
            pipeline,
            appsrc,
            shared,
            frame,
            refused: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub fn kind(&self) -> TrackKind {
        self.kind
    }

    /// Pushes one unit; `cut` asks for a split right before it, `closed` is the part it ends.
    pub fn push(
        &self,
        pts: Duration,
        dts: Duration,
        keyframe: bool,
        payload: Bytes,
        cut: Option<Cut>,
        closed: Option<ClosedPart>,
    ) {
        let dts_ct = gst::ClockTime::from_nseconds(dts.as_nanos() as u64);
        {
            let mut shared = self.shared.lock();
            if let Some(c) = closed {
                shared.metas.push_back(c);
            }
            if let Some(cut) = cut {
                shared.splits.push_back((dts_ct, cut == Cut::Chunk));
            }
        }
        let buffer = crate::caps::unit_buffer(payload, pts, dts, keyframe, self.frame);
        if let Err(e) = self.appsrc.push_buffer(buffer) {
            // Once the graph failed (logged by the bus task) every push fails: warn once.
            if !self
                .refused
                .swap(true, std::sync::atomic::Ordering::Relaxed)
            {
                tracing::warn!(error = ?e, track = ?self.kind, "llhls: appsrc refused a buffer, track stalls until the next session");
            }
        }
    }

    /// Ends the stream: the final parts' descriptions, then EOS flushes cmafmux.
    pub fn finish(&self, closed: Vec<ClosedPart>) {
        self.shared.lock().metas.extend(closed);
        if let Err(e) = self.appsrc.end_of_stream() {
            tracing::warn!(error = ?e, track = ?self.kind, "llhls: appsrc refused EOS");
        }
    }
}

impl Drop for Packager {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn install_split_probe(
    parser: &gst::Element,
    shared: Arc<Mutex<Shared>>,
) -> Result<(), PackagerError> {
    let pad = parser
        .static_pad("src")
        .ok_or_else(|| PackagerError::Gst("parser without src pad".into()))?;
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(dts) = info.buffer().and_then(|b| b.dts().or(b.pts())) else {
            return gst::PadProbeReturn::Ok;
        };
        let mut split: Option<bool> = None;
        {
            let mut s = shared.lock();
            while let Some(&(at, chunk)) = s.splits.front() {
                if at > dts {
                    break;
                }
                s.splits.pop_front();
                split = Some(split.unwrap_or(true) && chunk);
            }
        }
        if let Some(chunk) = split {
            let st = gst::Structure::builder("FMP4MuxSplitNow")
                .field("chunk", chunk)
                .build();
            if !pad.push_event(gst::event::CustomDownstream::new(st)) {
                tracing::warn!("llhls: split event refused downstream");
            }
        }
        gst::PadProbeReturn::Ok
    });
    Ok(())
}
