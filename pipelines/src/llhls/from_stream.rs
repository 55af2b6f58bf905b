//! The origin's reader on the stream bus: per publish session, a segmenter and one packager
//! per track, feeding the [`Origin`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::codecs::AudioConfig;
use super::origin::Origin;
use super::origin_feed::Feed;
use super::packager::{Output, Packager};
use super::segmenter::{Segmenter, SegmenterConfig, Step};
use super::store::VideoInfo;
use crate::stream::{Event, Reader, Session, Stream};
use crate::unit::{Codec, TrackKind};

/// How long a finished session may take to flush its last parts.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Creates the origin of `stream` and starts its reader task (needs a tokio runtime).
pub fn spawn(stream: Arc<Stream>, config: super::LlHlsConfig) -> Arc<Origin> {
    let reader = stream.subscribe("llhls", config.queue_units);
    let origin = Arc::new(Origin::new(stream.id(), config));
    let feeds = vec![
        Feed {
            name: "video".into(),
            kind: TrackKind::Video,
            transcoded: None,
        },
        Feed {
            name: "audio".into(),
            kind: TrackKind::Audio,
            transcoded: None,
        },
    ];
    tokio::spawn(run(reader, Arc::clone(&origin), feeds));
    origin
}

/// Adds a transcoded rendition to `origin`: the video of `bus` (a rendition bus of the
/// [`crate::transcode`] ladder) is packaged as `{name}.m3u8` and listed in the multivariant
/// playlist while its sessions run with the source's. `bitrate_bps` is announced in
/// BANDWIDTH until a segment was measured.
pub fn spawn_rendition(origin: &Arc<Origin>, name: &str, bus: &Stream, bitrate_bps: u64) {
    let reader = bus.subscribe("llhls", origin.config.queue_units);
    let feeds = vec![Feed {
        name: name.to_string(),
        kind: TrackKind::Video,
        transcoded: Some(bitrate_bps),
    }];
    tokio::spawn(run(reader, Arc::clone(origin), feeds));
}

async fn run(mut reader: Reader, origin: Arc<Origin>, feeds: Vec<Feed>) {
    let mut live: Option<Live> = None;
    while let Some(event) = reader.recv().await {
        match event {
            Event::Start(session) => {
                if let Some(old) = live.take() {
                    old.finish(&origin).await;
                }
                live = Live::start(&origin, session, &feeds);
            }
            Event::Unit(unit) => {
                if let Some(l) = live.as_mut() {
                    l.push(unit.track, unit.pts, unit.dts, unit.keyframe, unit.payload);
                }
            }
            Event::End { epoch } => {
                if live.as_ref().is_some_and(|l| l.epoch == epoch) {
                    if let Some(old) = live.take() {
                        old.finish(&origin).await;
                    }
                }
            }
        }
    }
    if let Some(old) = live.take() {
        old.finish(&origin).await;
    }
    tracing::debug!(stream = origin.id(), "llhls reader ended");
}

struct Track {
    packager: Packager,
    eos: oneshot::Receiver<()>,
}

/// One publish session being packaged.
struct Live {
    epoch: u64,
    feeds: Vec<Feed>,
    segmenter: Segmenter<Bytes>,
    video: Option<Track>,
    audio: Option<Track>,
    steps: Vec<Step<Bytes>>,
}

fn frame_of(session: &Session, kind: TrackKind) -> Option<Duration> {
    let t = session.track(kind)?;
    match (&t.codec, kind) {
        (_, TrackKind::Video) => {
            let (n, d) = t.framerate.filter(|f| f.0 > 0 && f.1 > 0)?;
            Some(Duration::from_secs_f64(f64::from(d) / f64::from(n)))
        }
        (Codec::Aac { config }, TrackKind::Audio) => {
            let rate = t
                .sample_rate
                .filter(|r| *r > 0)
                .or_else(|| AudioConfig::parse(config).map(|a| a.sample_rate))?;
            (rate > 0).then(|| Duration::from_secs_f64(1024.0 / f64::from(rate)))
        }
        _ => None,
    }
}

impl Live {
    fn start(origin: &Arc<Origin>, session: Arc<Session>, feeds: &[Feed]) -> Option<Self> {
        let feeds: Vec<Feed> = feeds
            .iter()
            .filter(|f| {
                session
                    .track(f.kind)
                    .is_some_and(|t| matches!(t.codec, Codec::H264 { .. } | Codec::Aac { .. }))
            })
            .cloned()
            .collect();
        let kinds: Vec<TrackKind> = feeds.iter().map(|f| f.kind).collect();
        if kinds.is_empty() {
            tracing::warn!(
                stream = origin.id(),
                epoch = session.epoch,
                "llhls: no H.264/AAC track, session not packaged"
            );
            return None;
        }
        if let Err(e) = crate::gst_init::init() {
            tracing::error!(stream = origin.id(), error = %e, "llhls: GStreamer unavailable");
            return None;
        }
        let served = origin.begin_session(&session, &feeds);
        let cfg = &origin.config;
        let seg_cfg = SegmenterConfig {
            part: cfg.part_duration(),
            segment: cfg.segment_duration(),
            target: served.target,
            video_part_limit: served.video_part.map(Duration::from_secs_f64),
            audio_part_limit: served.audio_part.map(Duration::from_secs_f64),
            video_frame: frame_of(&session, TrackKind::Video),
            audio_frame: frame_of(&session, TrackKind::Audio),
            has_video: kinds.contains(&TrackKind::Video),
            has_audio: kinds.contains(&TrackKind::Audio),
        };
        let mut live = Self {
            epoch: session.epoch,
            feeds: feeds.clone(),
            segmenter: Segmenter::new(&seg_cfg),
            video: None,
            audio: None,
            steps: Vec::with_capacity(8),
        };
        for feed in &feeds {
            let kind = feed.kind;
            let Some(track) = session.track(kind) else {
                continue;
            };
            let (tx, eos) = oneshot::channel();
            let sink = output_sink(Arc::clone(origin), feed.name.clone(), session.epoch, tx);
            let frame = frame_of(&session, kind);
            match Packager::start(
                origin.id(),
                track,
                frame,
                cfg.part_duration(),
                cfg.segment_duration(),
                sink,
            ) {
                Ok(packager) => {
                    let t = Some(Track { packager, eos });
                    match kind {
                        TrackKind::Video => live.video = t,
                        TrackKind::Audio => live.audio = t,
                    }
                }
                Err(e) => {
                    tracing::error!(stream = origin.id(), ?kind, error = %e, "llhls: packager failed to start");
                    return None;
                }
            }
        }
        tracing::info!(
            stream = origin.id(),
            epoch = live.epoch,
            renditions = ?live.feeds.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            "llhls: packaging session"
        );
        Some(live)
    }

    fn track(&self, kind: TrackKind) -> Option<&Track> {
        match kind {
            TrackKind::Video => self.video.as_ref(),
            TrackKind::Audio => self.audio.as_ref(),
        }
    }

    fn push(
        &mut self,
        kind: TrackKind,
        pts: Duration,
        dts: Duration,
        keyframe: bool,
        payload: Bytes,
    ) {
        if self.track(kind).is_none() {
            return;
        }
        let mut steps = std::mem::take(&mut self.steps);
        self.segmenter
            .push(kind, pts, dts, keyframe, payload, &mut steps);
        self.feed(&mut steps);
        self.steps = steps;
    }

    fn feed(&self, steps: &mut Vec<Step<Bytes>>) {
        for s in steps.drain(..) {
            if let Some(t) = self.track(s.track) {
                t.packager
                    .push(s.pts, s.dts, s.keyframe, s.payload, s.cut, s.closed);
            }
        }
    }

    async fn finish(mut self, origin: &Origin) {
        let mut steps = Vec::new();
        let closed = self.segmenter.finish(&mut steps);
        self.feed(&mut steps);
        for kind in [TrackKind::Video, TrackKind::Audio] {
            if let Some(t) = self.track(kind) {
                t.packager
                    .finish(closed.iter().filter(|c| c.track == kind).cloned().collect());
            }
        }
        for t in [self.video.take(), self.audio.take()].into_iter().flatten() {
            if tokio::time::timeout(FLUSH_TIMEOUT, t.eos).await.is_err() {
                tracing::warn!(stream = origin.id(), kind = ?t.packager.kind(), "llhls: packager did not flush in time");
            }
        }
        origin.end_session(self.epoch, &self.feeds);
        tracing::info!(
            stream = origin.id(),
            epoch = self.epoch,
            "llhls: session packaged"
        );
    }
}

fn output_sink(
    origin: Arc<Origin>,
    rendition: String,
    epoch: u64,
    eos: oneshot::Sender<()>,
) -> Arc<dyn Fn(Output) + Send + Sync> {
    let eos = Mutex::new(Some(eos));
    Arc::new(move |out| match out {
        Output::Init(bytes, caps) => {
            origin.push_init(&rendition, epoch, bytes, caps.as_ref().and_then(video_info))
        }
        Output::Part(meta, bytes) => origin.push_part(&rendition, epoch, &meta, bytes),
        Output::Eos => {
            if let Some(tx) = eos.lock().take() {
                let _ = tx.send(());
            }
        }
    })
}

fn video_info(caps: &gst::Caps) -> Option<VideoInfo> {
    let s = caps.structure(0)?;
    if !s.name().starts_with("video/") {
        return None;
    }
    let width = s.get::<i32>("width").ok()?;
    let height = s.get::<i32>("height").ok()?;
    let framerate = s
        .get::<gst::Fraction>("framerate")
        .ok()
        .filter(|f| f.numer() > 0 && f.denom() > 0)
        .map(|f| f64::from(f.numer()) / f64::from(f.denom()));
    Some(VideoInfo {
        width: width.max(0) as u32,
        height: height.max(0) as u32,
        framerate,
    })
}
