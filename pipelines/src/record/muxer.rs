//! One session's recording graph: per track `appsrc → h264parse|aacparse`, both into one
//! `isofmp4mux` (audio and video muxed in each fragment) `→ appsink → SessionFiles`.
//!
//! No decoding, no encoding: the bus's access units are only re-wrapped. `isofmp4mux` cuts a
//! fragment at the first video keyframe after `segment` of media; each fragment becomes one
//! `.m4s` file. File writes happen on the graph's streaming thread, never on tokio.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use gst::prelude::*;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::error::RecordError;
use super::files::SessionFiles;
use crate::stream::{Session, Track};
use crate::unit::{Codec, TrackKind, Unit};

/// A fragment being collected from the muxer's output.
struct Pending {
    pts: Duration,
    duration: Duration,
    bytes: BytesMut,
}

struct Output {
    files: SessionFiles,
    pending: Option<Pending>,
    segments: u64,
    failed: bool,
    name: String,
}

impl Output {
    /// Writes the pending fragment; `next` is the start of the following one (its true end).
    fn flush(&mut self, next: Option<Duration>) {
        let Some(p) = self.pending.take() else { return };
        let duration = next
            .and_then(|n| n.checked_sub(p.pts))
            .filter(|d| !d.is_zero())
            .unwrap_or(p.duration);
        if self.failed {
            return;
        }
        match self.files.write_segment(p.pts, duration, &p.bytes) {
            Ok(_) => self.segments += 1,
            Err(e) => {
                self.failed = true;
                tracing::error!(recording = %self.name, error = %e, "recording: segment write failed, the rest of this session is not recorded");
            }
        }
    }

    fn buffer(
        &mut self,
        buffer: &gst::BufferRef,
        segment: Option<&gst::FormattedSegment<gst::ClockTime>>,
    ) {
        let Ok(map) = buffer.map_readable() else {
            return;
        };
        let data = map.as_slice();
        let kind = data.get(4..8).unwrap_or_default();
        let header = buffer.flags().contains(gst::BufferFlags::HEADER);
        if header && kind == b"ftyp" {
            if let Err(e) = self.files.write_init(data) {
                self.failed = true;
                tracing::error!(recording = %self.name, error = %e, "recording: init write failed");
            }
            return;
        }
        if header && (kind == b"moof" || kind == b"styp") {
            let pts = buffer
                .pts()
                .and_then(|p| segment.and_then(|s| s.to_running_time(p)).or(Some(p)))
                .map(|p| Duration::from_nanos(p.nseconds()))
                .unwrap_or_default();
            self.flush(Some(pts));
            self.pending = Some(Pending {
                pts,
                duration: buffer
                    .duration()
                    .map(|d| Duration::from_nanos(d.nseconds()))
                    .unwrap_or_default(),
                bytes: BytesMut::from(data),
            });
            return;
        }
        match self.pending.as_mut() {
            Some(p) => p.bytes.extend_from_slice(data),
            None => {
                tracing::warn!(recording = %self.name, "recording: media before any fragment header dropped")
            }
        }
    }
}

/// A running recording graph for one session.
pub struct Muxer {
    pipeline: gst::Pipeline,
    video: Option<gst_app::AppSrc>,
    audio: Option<gst_app::AppSrc>,
    output: Arc<Mutex<Output>>,
    eos: Option<oneshot::Receiver<()>>,
}

fn recordable(track: &Track) -> bool {
    matches!(track.codec, Codec::H264 { .. } | Codec::Aac { .. })
}

impl Muxer {
    pub fn start(
        name: &str,
        session: &Session,
        files: SessionFiles,
        segment: Duration,
    ) -> Result<Self, RecordError> {
        let tracks: Vec<&Track> = session.tracks.iter().filter(|t| recordable(t)).collect();
        if tracks.is_empty() {
            return Err(RecordError::NoTracks);
        }
        let pipeline = gst::Pipeline::with_name(&format!("record-{name}"));
        let mux = gst::ElementFactory::make("isofmp4mux")
            .property(
                "fragment-duration",
                gst::ClockTime::from_nseconds(segment.as_nanos() as u64),
            )
            .property("send-force-keyunit", false)
            .build()?;
        let appsink = crate::caps::drain_appsink(true);
        pipeline.add_many([&mux, appsink.upcast_ref()])?;
        mux.link(&appsink)?;
        let mut video = None;
        let mut audio = None;
        for track in tracks {
            let appsrc = crate::caps::appsrc_for(track);
            let parser = match track.kind {
                TrackKind::Video => gst::ElementFactory::make("h264parse").build()?,
                TrackKind::Audio => gst::ElementFactory::make("aacparse").build()?,
            };
            pipeline.add_many([appsrc.upcast_ref(), &parser])?;
            appsrc.link(&parser)?;
            let pad = mux
                .request_pad_simple("sink_%u")
                .ok_or_else(|| RecordError::Gst("isofmp4mux refused a sink pad".into()))?;
            let src = parser
                .static_pad("src")
                .ok_or_else(|| RecordError::Gst("parser without src pad".into()))?;
            src.link(&pad)
                .map_err(|e| RecordError::Gst(e.to_string()))?;
            match track.kind {
                TrackKind::Video => video = Some(appsrc),
                TrackKind::Audio => audio = Some(appsrc),
            }
        }
        let output = Arc::new(Mutex::new(Output {
            files,
            pending: None,
            segments: 0,
            failed: false,
            name: name.to_owned(),
        }));
        let (tx, eos) = oneshot::channel();
        install_sink(&appsink, Arc::clone(&output), tx);
        crate::gst_bus::play_watched(&pipeline, "recorder")?;
        Ok(Self {
            pipeline,
            video,
            audio,
            output,
            eos: Some(eos),
        })
    }

    pub fn push(&self, unit: &Unit) {
        let src = match unit.track {
            TrackKind::Video => self.video.as_ref(),
            TrackKind::Audio => self.audio.as_ref(),
        };
        let Some(src) = src else { return };
        let mut buffer = gst::Buffer::from_slice(unit.payload.clone());
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds(unit.pts.as_nanos() as u64));
            b.set_dts(gst::ClockTime::from_nseconds(unit.dts.as_nanos() as u64));
            if !unit.keyframe {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        // A refused buffer means the graph failed; its bus task has logged why.
        let _ = src.push_buffer(buffer);
    }

    /// Flushes the last fragment (EOS) and waits for it at most `timeout`. Returns the number of
    /// segments written in this session.
    pub async fn finish(mut self, timeout: Duration) -> u64 {
        for src in [self.video.as_ref(), self.audio.as_ref()]
            .into_iter()
            .flatten()
        {
            let _ = src.end_of_stream();
        }
        if let Some(eos) = self.eos.take() {
            if tokio::time::timeout(timeout, eos).await.is_err() {
                tracing::warn!(pipeline = %self.pipeline.name(), "recording: graph did not flush in time");
            }
        }
        let mut out = self.output.lock();
        out.flush(None);
        out.segments
    }

    /// The session directory name.
    pub fn session(&self) -> String {
        self.output.lock().files.session().to_owned()
    }
}

impl Drop for Muxer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn install_sink(appsink: &gst_app::AppSink, output: Arc<Mutex<Output>>, eos: oneshot::Sender<()>) {
    let eos = Mutex::new(Some(eos));
    let at_eos = Arc::clone(&output);
    appsink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |appsink| {
                let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let segment = sample
                    .segment()
                    .and_then(|s| s.downcast_ref::<gst::ClockTime>().cloned());
                let mut out = output.lock();
                if let Some(list) = sample.buffer_list() {
                    for b in list.iter() {
                        out.buffer(b, segment.as_ref());
                    }
                } else if let Some(b) = sample.buffer() {
                    out.buffer(b, segment.as_ref());
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .eos(move |_| {
                at_eos.lock().flush(None);
                if let Some(tx) = eos.lock().take() {
                    let _ = tx.send(());
                }
            })
            .build(),
    );
}
