//! One session's transcode graph: decode once, scale and encode each rendition once.
//!
//! ```text
//! appsrc → h264parse → avdec_h264 → [videoconvert] → tee → queue → scale → [videorate] → caps(720p) → tee ─┬─ queue → enc → caps(avc) → appsink ─▶ bus 720p
//!                                                                                              ├─ queue → scale → caps(480p) → enc → … ─▶ bus 480p
//!                                                                                              └─ queue → scale → caps(360p) → enc → … ─▶ bus 360p
//! ```
//! `scale` is `showroomscale` (libswscale, bicubic: ffmpeg's `scale` filter default), or
//! `videoscale` if libswscale gives no context on this machine (a warning says so); with
//! `showroomscale`, a `videoconvert` after the decoder turns anything but I420/NV12 into I420
//! (passthrough for the usual 8-bit 4:2:0 decode).
//! Scaling is a cascade: the largest rendition is scaled from the decoded frames, the smaller
//! ones (same frame rate) from its frames (2.25x fewer pixels than 1080p for 720p).
//! Keyframes line up: the reader records each source keyframe's PTS; a buffer probe at the
//! head of every branch sends a force-key-unit event ahead of the frame with that PTS, and the
//! encoders never place keyframes of their own. Segment and part cuts follow keyframes and PTS,
//! so they line up across renditions too.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gst::prelude::*;
use parking_lot::Mutex;

use super::encoder::{self, Encoder};
use super::plan::Planned;
use super::TranscodeError;
use crate::elements::showroomscale;
use crate::stream::{Publisher, Track};
use crate::unit::{Codec, TrackKind, Unit};

/// What one branch shares between the reader task and its GStreamer threads.
pub(super) struct Branch {
    pub(super) planned: Planned,
    pub(super) name: String,
    /// Source keyframe PTS still to be forced on this branch's encoder.
    keys: Mutex<VecDeque<gst::ClockTime>>,
    /// Newest output PTS in ns + 1 (0: nothing yet).
    last_out: AtomicU64,
    dropped: AtomicBool,
    publisher: Mutex<Option<Publisher>>,
    announced: AtomicBool,
}

impl Branch {
    /// Newest PTS the encoder produced.
    pub(super) fn last_out(&self) -> Option<Duration> {
        match self.last_out.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n - 1)),
        }
    }

    pub(super) fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Stops encoding this rendition (its frames are discarded before scaling) and ends its
    /// session on the rendition bus.
    pub(super) fn drop_rendition(&self) {
        self.dropped.store(true, Ordering::Relaxed);
        self.publisher.lock().take();
    }

    /// Ends the rendition's session (after the graph flushed).
    pub(super) fn end(&self) {
        self.publisher.lock().take();
    }
}

/// A running transcode graph for one publish session.
pub(super) struct Graph {
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    pub(super) branches: Vec<Arc<Branch>>,
    refused: AtomicBool,
    name: String,
    eos: Arc<AtomicU64>,
}

fn make(factory: &str) -> Result<gst::Element, TranscodeError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|e| TranscodeError::Gst(format!("{factory}: {e}")))
}

impl Graph {
    /// Builds and starts the graph; `outputs` pairs each planned rendition with its name and
    /// the publisher of its bus.
    pub(super) fn start(
        stream_id: &str,
        track: &Track,
        encoder: Encoder,
        preset: &str,
        outputs: Vec<(Planned, String, Publisher)>,
    ) -> Result<Self, TranscodeError> {
        let Codec::H264 { .. } = &track.codec else {
            return Err(TranscodeError::Codec(track.codec.name()));
        };
        let name = format!("abr-{stream_id}");
        let pipeline = gst::Pipeline::with_name(&name);
        let appsrc = crate::caps::appsrc_for(track);
        let parse = make("h264parse")?;
        let decode = make("avdec_h264")?;
        let tee = make("tee")?;
        let mut head = vec![appsrc.clone().upcast(), parse, decode];
        if scaler_factory() == showroomscale::NAME {
            // showroomscale takes I420/NV12 only: 4:2:2, 4:4:4 or 10-bit decodes become
            // I420 here (passthrough, no cost, for the usual 8-bit 4:2:0).
            head.push(make("videoconvert")?);
        }
        head.push(tee.clone());
        pipeline.add_many(&head)?;
        gst::Element::link_many(&head)?;
        let eos = Arc::new(AtomicU64::new(0));
        let mut branches = Vec::with_capacity(outputs.len());
        // Scale in a cascade: the largest rendition is scaled from the decoded frames, the
        // others (same frame rate) from its scaled frames, which have far fewer pixels.
        let mut outputs = outputs;
        outputs.sort_by_key(|(p, _, _)| std::cmp::Reverse(p.height));
        let first_fps = outputs.first().map(|(p, _, _)| p.fps);
        let mut scaled: Option<gst::Element> = None;
        for (i, (planned, rname, publisher)) in outputs.into_iter().enumerate() {
            let cascade_from = scaled.as_ref().filter(|_| Some(planned.fps) == first_fps);
            let from = cascade_from.unwrap_or(&tee).clone();
            let branch = Arc::new(Branch {
                planned,
                name: rname,
                keys: Mutex::new(VecDeque::new()),
                last_out: AtomicU64::new(0),
                dropped: AtomicBool::new(false),
                publisher: Mutex::new(Some(publisher)),
                announced: AtomicBool::new(false),
            });
            let split = add_branch(&pipeline, &from, encoder, preset, &branch, &eos, i == 0)?;
            if i == 0 {
                scaled = split;
            }
            branches.push(branch);
        }
        crate::gst_bus::play_watched(&pipeline, "abr transcode")?;
        Ok(Self {
            pipeline,
            appsrc,
            branches,
            refused: AtomicBool::new(false),
            name,
            eos,
        })
    }

    /// Pushes one source video unit (decode order).
    pub(super) fn push(&self, pts: Duration, dts: Duration, keyframe: bool, payload: Bytes) {
        let pts_ct = gst::ClockTime::from_nseconds(pts.as_nanos() as u64);
        if keyframe {
            for b in &self.branches {
                b.keys.lock().push_back(pts_ct);
            }
        }
        let buffer = crate::caps::unit_buffer(payload, pts, dts, keyframe, None);
        if let Err(e) = self.appsrc.push_buffer(buffer) {
            if !self.refused.swap(true, Ordering::Relaxed) {
                tracing::warn!(pipeline = %self.name, error = ?e, "abr: appsrc refused a buffer, renditions stall until the next session");
            }
        }
    }

    /// Sends EOS and waits (at most `timeout`) until every running branch flushed.
    pub(super) async fn finish(self, timeout: Duration) {
        let _ = self.appsrc.end_of_stream();
        let want = self.branches.iter().filter(|b| !b.is_dropped()).count() as u64;
        let deadline = tokio::time::Instant::now() + timeout;
        while self.eos.load(Ordering::Relaxed) < want && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for b in &self.branches {
            b.end();
        }
    }
}

impl Drop for Graph {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        for b in &self.branches {
            b.end();
        }
    }
}

/// One rendition's chain from `from` (the decoder's tee, or the largest rendition's scaled
/// frames). With `split`, a tee sits between scaling and encoding and is returned, so smaller
/// renditions can be scaled from these frames.
fn add_branch(
    pipeline: &gst::Pipeline,
    from: &gst::Element,
    encoder: Encoder,
    preset: &str,
    branch: &Arc<Branch>,
    eos: &Arc<AtomicU64>,
    split: bool,
) -> Result<Option<gst::Element>, TranscodeError> {
    let p = &branch.planned;
    let queue = || {
        gst::ElementFactory::make("queue")
            .property("max-size-buffers", 8u32)
            .property("max-size-bytes", 0u32)
            .property("max-size-time", 0u64)
            .build()
            .map_err(|e| TranscodeError::Gst(format!("queue: {e}")))
    };
    let input = queue()?;
    let scale = scaler()?;
    let mut raw = gst::Caps::builder("video/x-raw")
        .field("width", p.width as i32)
        .field("height", p.height as i32)
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1));
    let mut chain = vec![input.clone(), scale];
    if let Some((n, d)) = p.fps {
        chain.push(make("videorate")?);
        raw = raw.field("framerate", gst::Fraction::new(n as i32, d as i32));
    }
    chain.push(
        gst::ElementFactory::make("capsfilter")
            .property("caps", raw.build())
            .build()?,
    );
    // Keyframes are forced (and a dropped rendition's frames discarded) at the queue right
    // before the encoder's chain: the input queue when nothing is split off.
    let mut probe_at = input.clone();
    let mut tee = None;
    if split {
        let t = make("tee")?;
        let q = queue()?;
        chain.extend([t.clone(), q.clone()]);
        probe_at = q;
        tee = Some(t);
    }
    if encoder.is_hardware() {
        chain.push(make("videoconvert")?);
    }
    chain.push(encoder::make(encoder, p.bitrate_kbps, preset)?);
    chain.push(
        gst::ElementFactory::make("capsfilter")
            .property("caps", crate::caps::avc_au())
            .build()?,
    );
    let appsink = crate::caps::drain_appsink(false);
    chain.push(appsink.clone().upcast());
    pipeline.add_many(&chain)?;
    gst::Element::link_many(&chain)?;
    from.link(&input)?;
    install_key_probe(&probe_at, Arc::clone(branch))?;
    let out = Arc::clone(branch);
    let eos = Arc::clone(eos);
    appsink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                emit(&out, &sample);
                Ok(gst::FlowSuccess::Ok)
            })
            .eos(move |_| {
                eos.fetch_add(1, Ordering::Relaxed);
            })
            .build(),
    );
    for el in &chain {
        el.sync_state_with_parent()?;
    }
    Ok(tee)
}

/// The scaler of every branch: `showroomscale` (libswscale, bicubic like ffmpeg's `scale`),
/// or `videoscale` when libswscale gives no context here (logged once per process).
fn scaler_factory() -> &'static str {
    static CHOSEN: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    CHOSEN.get_or_init(|| match showroomscale::usable() {
        Ok(()) => {
            tracing::info!(
                scaler = showroomscale::NAME,
                "abr: scaler libswscale, bicubic"
            );
            showroomscale::NAME
        }
        Err(e) => {
            tracing::warn!(error = %e, "abr: libswscale unusable, scaling with videoscale instead");
            "videoscale"
        }
    })
}

fn scaler() -> Result<gst::Element, TranscodeError> {
    let factory = scaler_factory();
    let scale = gst::ElementFactory::make(factory);
    let scale = match factory {
        "videoscale" => scale.property("add-borders", false),
        _ => scale,
    };
    scale
        .build()
        .map_err(|e| TranscodeError::Gst(format!("{factory}: {e}")))
}

/// Forces a keyframe on the frame carrying a source keyframe's PTS (or the first frame after
/// it, when `videorate` dropped that one), and discards everything once the rendition is
/// dropped.
fn install_key_probe(queue: &gst::Element, branch: Arc<Branch>) -> Result<(), TranscodeError> {
    let pad = queue
        .static_pad("src")
        .ok_or_else(|| TranscodeError::Gst("queue without src pad".into()))?;
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        if branch.is_dropped() {
            return gst::PadProbeReturn::Drop;
        }
        let Some(pts) = info.buffer().and_then(|b| b.pts()) else {
            return gst::PadProbeReturn::Ok;
        };
        let mut force = false;
        {
            let mut keys = branch.keys.lock();
            while keys.front().is_some_and(|k| *k <= pts) {
                keys.pop_front();
                force = true;
            }
        }
        if force {
            let st = gst::Structure::builder("GstForceKeyUnit")
                .field("timestamp", pts)
                .field("all-headers", true)
                .field("count", 0u32)
                .build();
            if !pad.push_event(gst::event::CustomDownstream::new(st)) {
                tracing::debug!(rendition = %branch.name, "abr: force-key-unit refused");
            }
        }
        gst::PadProbeReturn::Ok
    });
    Ok(())
}

/// Writes one encoded access unit to the rendition's bus (announcing the track first).
fn emit(branch: &Branch, sample: &gst::Sample) {
    let Some(buffer) = sample.buffer() else {
        return;
    };
    // Encoders may shift timestamps (x264enc adds 1000 h so DTS never goes negative) along
    // with their segment: the running time is the source's PTS again (appsrc's segment
    // starts at 0).
    let segment = sample
        .segment()
        .and_then(|s| s.downcast_ref::<gst::ClockTime>().cloned());
    let running = |t: gst::ClockTime| match &segment {
        Some(seg) => seg.to_running_time(t).unwrap_or(t),
        None => t,
    };
    let Some(pts) = buffer.pts().map(running) else {
        return;
    };
    let dts = buffer.dts().map(running).unwrap_or(pts).min(pts);
    branch.last_out.store(pts.nseconds() + 1, Ordering::Relaxed);
    let publisher = branch.publisher.lock();
    let Some(publisher) = publisher.as_ref() else {
        return;
    };
    if !branch.announced.load(Ordering::Relaxed) {
        let Some(track) = sample.caps().and_then(track_of) else {
            tracing::warn!(rendition = %branch.name, "abr: encoder caps without codec_data");
            return;
        };
        publisher.set_tracks(vec![track]);
        branch.announced.store(true, Ordering::Relaxed);
    }
    let Ok(map) = buffer.map_readable() else {
        return;
    };
    let unit = Unit {
        track: TrackKind::Video,
        pts: Duration::from_nanos(pts.nseconds()),
        dts: Duration::from_nanos(dts.nseconds()),
        keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
        payload: Bytes::copy_from_slice(map.as_slice()),
    };
    if let Err(e) = publisher.write(unit) {
        tracing::debug!(rendition = %branch.name, error = %e, "abr: rendition write refused");
    }
}

/// The bus track of an encoder's output caps (AVC with codec_data).
fn track_of(caps: &gst::CapsRef) -> Option<Track> {
    let s = caps.structure(0)?;
    let config = s.get::<gst::Buffer>("codec_data").ok()?;
    let config = Bytes::copy_from_slice(config.map_readable().ok()?.as_slice());
    let mut track = Track::video(Codec::H264 { config });
    track.width = s.get::<i32>("width").ok().map(|w| w.max(0) as u32);
    track.height = s.get::<i32>("height").ok().map(|h| h.max(0) as u32);
    track.framerate = s
        .get::<gst::Fraction>("framerate")
        .ok()
        .filter(|f| f.numer() > 0 && f.denom() > 0)
        .map(|f| (f.numer() as u32, f.denom() as u32));
    Some(track)
}
