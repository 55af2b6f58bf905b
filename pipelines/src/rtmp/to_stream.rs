//! RTMP media to bus units: FLV tags in, [`Track`]s and [`Unit`]s out. Sans-IO: time is an
//! argument, outputs are polled.
//!
//! Tracks are known from onMetaData (`videocodecid`/`audiocodecid`) when sent; otherwise once
//! the video sequence header arrived and an audio one arrived too, or `audio_wait` passed.
//! Units that arrive before are buffered (bounded) and released right after the tracks.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rml_rtmp::sessions::StreamMetadata;

use super::asc::{parse_asc, AudioInfo};
use super::error::MediaError;
use super::flv::{self, AudioTag, VideoTag};
use super::sps::{parse_avc_config, VideoInfo};
use super::timeline::Timeline;
use crate::stream::Track;
use crate::unit::{Codec, TrackKind, Unit};

const MAX_PENDING_UNITS: usize = 1024;
const MAX_PENDING_BYTES: usize = 16 * 1024 * 1024;

/// What the connection hands to the publisher, in order.
#[derive(Debug, Clone)]
pub enum Output {
    /// Call `Publisher::set_tracks` (exactly once, before any unit).
    Tracks(Vec<Track>),
    Unit(Unit),
}

pub struct ToStream {
    audio_wait: Duration,
    video_wait: Duration,
    expect_audio: Option<bool>,
    meta_size: Option<(u32, u32)>,
    framerate: Option<(u32, u32)>,
    video: Option<(Bytes, VideoInfo)>,
    audio: Option<(Bytes, AudioInfo)>,
    video_cfg_at: Option<Instant>,
    first_media_at: Option<Instant>,
    /// DTS (ms) of the first audio tag, to measure audio-only media time.
    first_audio_dts: Option<i64>,
    /// `Some(has_audio)` once the tracks are out.
    decided: Option<bool>,
    pending: VecDeque<Unit>,
    pending_bytes: usize,
    out: VecDeque<Output>,
    timeline: Timeline,
    dropped: u64,
}

impl ToStream {
    pub fn new(audio_wait: Duration, video_wait: Duration) -> Self {
        Self {
            audio_wait,
            video_wait,
            expect_audio: None,
            meta_size: None,
            framerate: None,
            video: None,
            audio: None,
            video_cfg_at: None,
            first_media_at: None,
            first_audio_dts: None,
            decided: None,
            pending: VecDeque::new(),
            pending_bytes: 0,
            out: VecDeque::new(),
            timeline: Timeline::default(),
            dropped: 0,
        }
    }

    /// onMetaData: refuses non-H.264/AAC codec ids at once.
    ///
    /// A codec id that is *missing* proves nothing: GStreamer's `flvmux` writes onMetaData as
    /// soon as its first pad has caps, so it often lists only audio (or only video) although
    /// both follow. Missing video is refused only after `video_wait` of media without video;
    /// missing audio is waited for (`audio_wait`) like a publish without metadata.
    pub fn on_metadata(&mut self, meta: &StreamMetadata, now: Instant) -> Result<(), MediaError> {
        if let Some(id) = meta.video_codec_id {
            flv::check_meta_video(id).map_err(MediaError::UnsupportedVideo)?;
        }
        if let Some(id) = meta.audio_codec_id {
            flv::check_meta_audio(id).map_err(MediaError::UnsupportedAudio)?;
        }
        if self.decided.is_none() {
            self.expect_audio = meta.audio_codec_id.map(|_| true);
            self.meta_size = meta.video_width.zip(meta.video_height);
            self.framerate = meta.video_frame_rate.and_then(framerate);
        }
        self.decide(now)
    }

    pub fn on_video(&mut self, ts: u32, data: &Bytes, now: Instant) -> Result<(), MediaError> {
        let dts = self.timeline.unwrap(ts);
        self.first_media_at.get_or_insert(now);
        match flv::parse_video(data)? {
            VideoTag::Unsupported(name) => return Err(MediaError::UnsupportedVideo(name)),
            VideoTag::Ignored => {}
            VideoTag::AvcConfig(cfg) => {
                let info = parse_avc_config(&cfg)?;
                match &self.video {
                    Some((old, _)) if self.decided.is_some() && *old != cfg => {
                        tracing::warn!("H.264 configuration changed mid-session; keeping the first")
                    }
                    Some(_) if self.decided.is_some() => {}
                    _ => {
                        self.video = Some((cfg, info));
                        self.video_cfg_at.get_or_insert(now);
                    }
                }
            }
            VideoTag::AvcFrame {
                keyframe,
                cts,
                data,
            } => {
                if self.video.is_none() {
                    self.dropped += 1;
                } else {
                    let pts = (dts + i64::from(cts)).max(0);
                    self.push(Unit {
                        track: TrackKind::Video,
                        pts: millis(pts),
                        dts: millis(dts),
                        keyframe,
                        payload: data,
                    });
                }
            }
        }
        self.decide(now)
    }

    pub fn on_audio(&mut self, ts: u32, data: &Bytes, now: Instant) -> Result<(), MediaError> {
        let dts = self.timeline.unwrap(ts);
        self.first_media_at.get_or_insert(now);
        // Audio spanning `video_wait` of media time with no video is refused even if it came
        // faster than real time (a burst would otherwise end before the wall-clock wait).
        let first = *self.first_audio_dts.get_or_insert(dts);
        if self.video_cfg_at.is_none()
            && u64::try_from(dts - first).unwrap_or(0) >= self.video_wait.as_millis() as u64
        {
            return Err(MediaError::NoVideo(
                "media is flowing but no H.264 sequence header arrived",
            ));
        }
        match flv::parse_audio(data)? {
            AudioTag::Unsupported(name) => return Err(MediaError::UnsupportedAudio(name)),
            AudioTag::Ignored => {}
            AudioTag::AacConfig(cfg) => {
                let info = parse_asc(&cfg).ok_or(MediaError::AacConfig)?;
                match self.decided {
                    None => self.audio = Some((cfg, info)),
                    Some(false) => {
                        tracing::info!("AAC configuration after a video-only start, ignored")
                    }
                    Some(true) => {}
                }
            }
            AudioTag::AacFrame(frame) => {
                let usable = self.audio.is_some() && self.decided != Some(false);
                match usable {
                    true => self.push(Unit {
                        track: TrackKind::Audio,
                        pts: millis(dts),
                        dts: millis(dts),
                        keyframe: true,
                        payload: frame,
                    }),
                    false => self.dropped += 1,
                }
            }
        }
        self.decide(now)
    }

    /// Lets time pass: may start the session video-only, or refuse a stream with no video.
    pub fn on_tick(&mut self, now: Instant) -> Result<(), MediaError> {
        self.decide(now)
    }

    /// When `on_tick` must be called next, if a decision is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.decided.is_some() {
            return None;
        }
        match (self.video_cfg_at, self.first_media_at) {
            (Some(v), _) => Some(v + self.audio_wait),
            (None, Some(a)) => Some(a + self.video_wait),
            (None, None) => None,
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Frames dropped because they came before their codec configuration or overflowed the
    /// pre-start buffer.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn push(&mut self, unit: Unit) {
        if self.decided.is_some() {
            self.out.push_back(Output::Unit(unit));
            return;
        }
        self.pending_bytes += unit.payload.len();
        self.pending.push_back(unit);
        while self.pending.len() > MAX_PENDING_UNITS || self.pending_bytes > MAX_PENDING_BYTES {
            if let Some(old) = self.pending.pop_front() {
                self.pending_bytes -= old.payload.len();
                self.dropped += 1;
            }
        }
    }

    fn decide(&mut self, now: Instant) -> Result<(), MediaError> {
        if self.decided.is_some() {
            return Ok(());
        }
        let Some(video_at) = self.video_cfg_at else {
            return match self.first_media_at {
                Some(a) if now >= a + self.video_wait => Err(MediaError::NoVideo(
                    "media is flowing but no H.264 sequence header arrived",
                )),
                _ => Ok(()),
            };
        };
        let audio_done = self.audio.is_some()
            || self.expect_audio == Some(false)
            || now >= video_at + self.audio_wait;
        if !audio_done {
            return Ok(());
        }
        let mut tracks = Vec::with_capacity(2);
        if let Some((config, info)) = &self.video {
            let mut t = Track::video(Codec::H264 {
                config: config.clone(),
            });
            t.width = Some(info.width).or(self.meta_size.map(|s| s.0));
            t.height = Some(info.height).or(self.meta_size.map(|s| s.1));
            t.framerate = self.framerate;
            tracks.push(t);
        }
        let has_audio = self.audio.is_some();
        if let Some((config, info)) = &self.audio {
            let mut t = Track::audio(Codec::Aac {
                config: config.clone(),
            });
            t.sample_rate = Some(info.sample_rate);
            t.channels = Some(info.channels);
            tracks.push(t);
        }
        self.decided = Some(has_audio);
        self.out.push_back(Output::Tracks(tracks));
        for unit in self.pending.drain(..) {
            if has_audio || unit.track == TrackKind::Video {
                self.out.push_back(Output::Unit(unit));
            }
        }
        self.pending_bytes = 0;
        Ok(())
    }
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// onMetaData `framerate` as a fraction: integers as n/1, NTSC rates as n*1000/1001.
fn framerate(fps: f32) -> Option<(u32, u32)> {
    if !(fps.is_finite() && fps > 0.0 && fps <= 1000.0) {
        return None;
    }
    let fps = f64::from(fps);
    let rounded = fps.round();
    if (fps - rounded).abs() < 0.001 {
        return Some((rounded as u32, 1));
    }
    let ntsc = (fps * 1.001).round();
    if (fps - ntsc / 1.001).abs() < 0.001 {
        return Some((ntsc as u32 * 1000, 1001));
    }
    Some(((fps * 1000.0).round() as u32, 1000))
}

#[cfg(test)]
mod tests;
