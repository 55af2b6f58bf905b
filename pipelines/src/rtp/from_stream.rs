//! The SFU's reader on the stream bus: per publish session, one RTP graph per track.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::graph::Graph;
use super::{RtpConfig, RtpSink, VideoMode};
use crate::stream::{Event, Reader, Session, Stream};
use crate::unit::{Codec, TrackKind, Unit};

/// The running RTP egress of one stream. Dropping it stops the reader and its graphs.
pub struct RtpEgress {
    stream: Weak<Stream>,
    shared: Arc<Mutex<Option<Live>>>,
    task: tokio::task::JoinHandle<()>,
}

/// Who a keyframe request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyframeSource {
    /// The transcode's encoder (forced key unit).
    Encoder,
    /// The publisher (WHIP: an RTCP PLI to the browser or encoder that publishes).
    Publisher,
    /// Nobody can make one (passthrough RTMP): viewers start on the SFU's cached GOP or wait.
    None,
}

impl RtpEgress {
    /// Asks for a keyframe: the transcode's encoder when the video is re-encoded, otherwise the
    /// publisher through the bus ([`Stream::request_keyframe`]). Callers coalesce requests.
    pub fn request_keyframe(&self) -> KeyframeSource {
        {
            let shared = self.shared.lock();
            if let Some(video) = shared.as_ref().and_then(|l| l.video.as_ref()) {
                if video.mode == Some(VideoMode::Transcode) {
                    if let Some(g) = &video.graph {
                        g.request_keyframe();
                        return KeyframeSource::Encoder;
                    }
                }
            }
        }
        match self.stream.upgrade() {
            Some(s) if s.request_keyframe() => KeyframeSource::Publisher,
            _ => KeyframeSource::None,
        }
    }

    /// The video mode of the running session, once chosen.
    pub fn video_mode(&self) -> Option<VideoMode> {
        self.shared.lock().as_ref()?.video.as_ref()?.mode
    }
}

impl Drop for RtpEgress {
    fn drop(&mut self) {
        self.task.abort();
        self.shared.lock().take();
    }
}

/// Starts the RTP egress of `stream` (needs a tokio runtime): packets go to `sink`.
pub fn spawn(stream: &Arc<Stream>, config: RtpConfig, sink: Arc<dyn RtpSink>) -> RtpEgress {
    let reader = stream.subscribe("rtp", config.queue_units);
    let shared = Arc::new(Mutex::new(None));
    let task = tokio::spawn(run(
        reader,
        stream.id().to_owned(),
        config,
        sink,
        Arc::clone(&shared),
    ));
    RtpEgress {
        stream: Arc::downgrade(stream),
        shared,
        task,
    }
}

struct VideoTrack {
    track: crate::stream::Track,
    mode: Option<VideoMode>,
    graph: Option<Graph>,
    /// Units held while the mode is being chosen.
    probe: Vec<Unit>,
}

struct Live {
    epoch: u64,
    video: Option<VideoTrack>,
    audio: Option<Graph>,
}

async fn run(
    mut reader: Reader,
    id: String,
    cfg: RtpConfig,
    sink: Arc<dyn RtpSink>,
    shared: Arc<Mutex<Option<Live>>>,
) {
    while let Some(event) = reader.recv().await {
        match event {
            Event::Start(session) => {
                let old = shared.lock().take();
                if let Some(old) = old {
                    sink.session_ended(old.epoch);
                }
                let live = start(&id, &session, &cfg, &sink);
                *shared.lock() = live;
            }
            Event::Unit(unit) => {
                let mut guard = shared.lock();
                if let Some(live) = guard.as_mut() {
                    push(&id, live, unit, &cfg, &sink);
                }
            }
            Event::End { epoch } => {
                let mut guard = shared.lock();
                if guard.as_ref().is_some_and(|l| l.epoch == epoch) {
                    guard.take();
                    drop(guard);
                    sink.session_ended(epoch);
                    tracing::info!(stream = %id, epoch, "rtp: session ended");
                }
            }
        }
    }
    tracing::debug!(stream = %id, "rtp reader ended");
}

fn start(id: &str, session: &Session, cfg: &RtpConfig, sink: &Arc<dyn RtpSink>) -> Option<Live> {
    if let Err(e) = crate::gst_init::init() {
        tracing::error!(stream = id, error = %e, "rtp: GStreamer unavailable, session not sent");
        return None;
    }
    let video = session
        .track(TrackKind::Video)
        .filter(|t| matches!(t.codec, Codec::H264 { .. }))
        .map(|t| VideoTrack {
            track: t.clone(),
            mode: None,
            graph: None,
            probe: Vec::with_capacity(cfg.probe_units),
        });
    let audio = session
        .track(TrackKind::Audio)
        .and_then(|t| match Graph::audio(id, t, cfg, Arc::clone(sink)) {
            Ok(g) => Some(g),
            Err(e) => {
                tracing::error!(stream = id, error = %e, "rtp: audio graph failed, session sent without audio");
                None
            }
        });
    if video.is_none() && audio.is_none() {
        tracing::warn!(
            stream = id,
            epoch = session.epoch,
            "rtp: no H.264 or audio track, session not sent over WebRTC"
        );
        return None;
    }
    tracing::info!(
        stream = id,
        epoch = session.epoch,
        video = video.is_some(),
        audio = audio.is_some(),
        "rtp: session starts"
    );
    if video.is_none() {
        sink.session_started(session.epoch, None, audio.is_some());
    }
    Some(Live {
        epoch: session.epoch,
        video,
        audio,
    })
}

fn push(id: &str, live: &mut Live, unit: Unit, cfg: &RtpConfig, sink: &Arc<dyn RtpSink>) {
    match unit.track {
        TrackKind::Audio => {
            if let Some(g) = &live.audio {
                g.push(unit.pts, unit.dts, unit.keyframe, unit.payload);
            }
        }
        TrackKind::Video => {
            let Some(v) = live.video.as_mut() else { return };
            let reordered = unit.pts != unit.dts;
            match v.mode {
                None => {
                    v.probe.push(unit);
                    let any_b = v.probe.iter().any(|u| u.pts != u.dts);
                    if any_b || v.probe.len() >= cfg.probe_units {
                        let mode = if any_b {
                            VideoMode::Transcode
                        } else {
                            VideoMode::Passthrough
                        };
                        set_mode(id, live, mode, cfg, sink);
                    }
                }
                Some(VideoMode::Passthrough) if reordered => {
                    tracing::warn!(
                        stream = id,
                        "rtp: B-frames appeared, switching to the transcode"
                    );
                    v.probe.push(unit);
                    set_mode(id, live, VideoMode::Transcode, cfg, sink);
                }
                Some(_) => {
                    if let Some(g) = &v.graph {
                        g.push(unit.pts, unit.dts, unit.keyframe, unit.payload);
                    }
                }
            }
        }
    }
}

fn set_mode(id: &str, live: &mut Live, mode: VideoMode, cfg: &RtpConfig, sink: &Arc<dyn RtpSink>) {
    let Some(v) = live.video.as_mut() else { return };
    v.mode = Some(mode);
    v.graph = None;
    v.graph = match Graph::video(id, &v.track, mode, cfg, Arc::clone(sink)) {
        Ok(g) => Some(g),
        Err(e) => {
            tracing::error!(stream = id, error = %e, ?mode, "rtp: video graph failed");
            None
        }
    };
    tracing::info!(stream = id, ?mode, "rtp: video mode chosen");
    sink.session_started(live.epoch, Some(mode), live.audio.is_some());
    let held: Vec<Unit> = std::mem::take(&mut v.probe);
    if let Some(g) = &v.graph {
        for u in skip_to_keyframe(held) {
            g.push(u.pts, u.dts, u.keyframe, u.payload);
        }
    }
}

/// Units from the first keyframe on (a graph must start on one).
fn skip_to_keyframe(units: Vec<Unit>) -> impl Iterator<Item = Unit> {
    units.into_iter().skip_while(|u| !u.keyframe)
}
