//! Sans-IO cut decisions: where parts and segments start, from unit timestamps alone.
//!
//! Input: units in decode order (`push`), time is their DTS/PTS; output: [`Step`]s telling the
//! packager, per unit, whether a new part ([`Cut::Chunk`]) or a new segment ([`Cut::Fragment`])
//! starts right before it, and the [`ClosedPart`] that this cut finished. No clock is read, so
//! the tests drive an hour of media in milliseconds.
//!
//! Rules:
//! - Video drives the timeline. A part is N whole frames, N = round(part / frame duration), and
//!   parts are cut on cumulative nominal boundaries from the segment start (no drift).
//! - A segment starts at the first keyframe once `segment` has elapsed (half a frame of slack
//!   for millisecond timestamps). Parts restart there.
//! - TARGETDURATION is fixed when the first segment closes: max(round(segment), round(first
//!   segment)). If a later GOP runs so long that the next part would make EXTINF round above
//!   it, the segment is cut at that part boundary anyway (the new segment then starts without a
//!   keyframe; players cope, a changing TARGETDURATION would break them all). To avoid that, an
//!   early keyframe (an encoder's scene cut) ends the segment when one more GOP of the last
//!   observed length would break the target.
//! - Audio parts are N whole AAC frames; an audio segment starts at the first audio frame at or
//!   after a video segment's start (so MSN n covers the same time in both playlists). Audio that
//!   is ahead of the video on the bus is held until the video catches up (at most ~2 s).
//! - Without video, audio cuts segments itself every `segment`.

use std::collections::VecDeque;
use std::time::Duration;

use super::cutter::Cutter;
use crate::unit::TrackKind;

const MS: Duration = Duration::from_millis(1);
const MAX_HELD_AUDIO: usize = 96;

/// What to tell cmafmux before a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// A new part (chunk) inside the current segment.
    Chunk,
    /// A new segment (fragment), normally right before a keyframe.
    Fragment,
}

/// A part whose extent became known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedPart {
    pub track: TrackKind,
    /// PTS of its first unit (for the first part of a segment: the segment's start).
    pub start_pts: Duration,
    pub duration: Duration,
    pub independent: bool,
    pub first_of_segment: bool,
    pub last_of_segment: bool,
    /// N x frame duration of this track.
    pub nominal: Duration,
    /// The TARGETDURATION once fixed.
    pub target_duration: Option<u32>,
}

/// One unit, with what to do before pushing it.
#[derive(Debug)]
pub struct Step<T> {
    pub track: TrackKind,
    pub pts: Duration,
    pub dts: Duration,
    pub keyframe: bool,
    pub payload: T,
    pub cut: Option<Cut>,
    pub closed: Option<ClosedPart>,
}

/// What the segmenter needs to know up front.
#[derive(Debug, Clone, Default)]
pub struct SegmenterConfig {
    pub part: Duration,
    pub segment: Duration,
    /// TARGETDURATION already served by the playlist (later sessions), if any.
    pub target: Option<u32>,
    /// PART-TARGETs already served: parts must not exceed them.
    pub video_part_limit: Option<Duration>,
    pub audio_part_limit: Option<Duration>,
    /// Known frame durations (from the track), else estimated from DTS deltas.
    pub video_frame: Option<Duration>,
    pub audio_frame: Option<Duration>,
    pub has_video: bool,
    pub has_audio: bool,
}

/// Decides the cuts of one publish session.
#[derive(Debug)]
pub struct Segmenter<T> {
    segment: Duration,
    target: Option<u32>,
    has_video: bool,
    video: Cutter,
    audio: Cutter,
    /// PTS of video segment starts that audio has not cut at yet.
    video_starts: VecDeque<Duration>,
    latest_video_dts: Option<Duration>,
    held_audio: VecDeque<(Duration, Duration, T)>,
    /// DTS of the last video keyframe, and the interval before it.
    last_key: Option<Duration>,
    last_gop: Option<Duration>,
    /// Last DTS accepted per track (video, audio): DTS must strictly increase.
    last_dts: [Option<Duration>; 2],
}

fn round_half_up(d: Duration) -> u32 {
    (d.as_secs_f64() + 0.5).floor() as u32
}

impl<T> Segmenter<T> {
    pub fn new(cfg: &SegmenterConfig) -> Self {
        Self {
            segment: cfg.segment,
            target: cfg.target,
            has_video: cfg.has_video,
            video: Cutter::new(
                TrackKind::Video,
                cfg.video_frame,
                cfg.part,
                cfg.video_part_limit,
            ),
            audio: Cutter::new(
                TrackKind::Audio,
                cfg.audio_frame,
                cfg.part,
                cfg.audio_part_limit,
            ),
            video_starts: VecDeque::new(),
            latest_video_dts: None,
            held_audio: VecDeque::new(),
            last_key: None,
            last_gop: None,
            last_dts: [None, None],
        }
    }

    /// TARGETDURATION, once the first segment closed (or given at construction).
    pub fn target(&self) -> Option<u32> {
        self.target
    }

    /// Nominal part duration (N x frame) of a track, as decided so far.
    pub fn nominal(&mut self, track: TrackKind) -> Duration {
        match track {
            TrackKind::Video => self.video.nominal(),
            TrackKind::Audio => self.audio.nominal(),
        }
    }

    /// Takes one unit (decode order within each track) and appends the steps to feed.
    pub fn push(
        &mut self,
        track: TrackKind,
        pts: Duration,
        dts: Duration,
        keyframe: bool,
        payload: T,
        out: &mut Vec<Step<T>>,
    ) {
        // cmafmux needs strictly increasing DTS and PTS >= DTS; a publisher that breaks this
        // loses the unit rather than the muxer.
        let slot = &mut self.last_dts[usize::from(track == TrackKind::Audio)];
        if slot.is_some_and(|last| dts <= last) {
            tracing::warn!(?track, ?dts, last = ?slot, "llhls: unit with non-increasing DTS dropped");
            return;
        }
        *slot = Some(dts);
        let pts = pts.max(dts);
        match track {
            TrackKind::Video => {
                self.push_video(pts, dts, keyframe, payload, out);
                self.latest_video_dts = Some(self.latest_video_dts.map_or(dts, |l| l.max(dts)));
                self.release_audio(false, out);
            }
            TrackKind::Audio if self.has_video => {
                self.held_audio.push_back((pts, dts, payload));
                self.release_audio(false, out);
            }
            TrackKind::Audio => self.push_audio(pts, dts, payload, out),
        }
    }

    /// Ends the session: the open parts close (their last unit lasting one frame).
    pub fn finish(&mut self, out: &mut Vec<Step<T>>) -> Vec<ClosedPart> {
        self.release_audio(true, out);
        let mut closed = Vec::new();
        let target = self.target;
        for cutter in [&mut self.video, &mut self.audio] {
            if cutter.open.is_some() {
                let end = cutter.last_dts + cutter.frame();
                closed.extend(cutter.close(end, true, target));
            }
        }
        closed
    }

    fn release_audio(&mut self, all: bool, out: &mut Vec<Step<T>>) {
        while let Some(&(pts, _, _)) = self.held_audio.front() {
            let video_past = self.latest_video_dts.is_some_and(|v| pts <= v);
            if !(all || video_past || self.held_audio.len() > MAX_HELD_AUDIO) {
                break;
            }
            if let Some((pts, dts, payload)) = self.held_audio.pop_front() {
                self.push_audio(pts, dts, payload, out);
            }
        }
    }

    fn push_video(
        &mut self,
        pts: Duration,
        dts: Duration,
        key: bool,
        payload: T,
        out: &mut Vec<Step<T>>,
    ) {
        let v = &mut self.video;
        if v.open.is_none() {
            if !key {
                tracing::debug!(?dts, "llhls: video before the first keyframe dropped");
                return;
            }
            v.observe(dts);
            v.start(dts, pts, true, true);
            self.video_starts.push_back(pts);
            self.last_key = Some(dts);
            out.push(step(TrackKind::Video, pts, dts, key, payload, None, None));
            return;
        }
        v.observe(dts);
        let fd = v.frame();
        let p = v.nominal();
        let half = fd / 2;
        let elapsed = dts.saturating_sub(v.seg_start_dts);
        let max = match self.target {
            Some(t) => Duration::from_secs(u64::from(t)) + Duration::from_millis(500) - MS,
            None => self.segment * 3,
        };
        // An early keyframe (an encoder's scene cut) after which one more GOP of the last
        // observed length would break the target: cut here, on the keyframe, rather than
        // later without one.
        let gop = key
            .then(|| self.last_key.map(|k| dts.saturating_sub(k)))
            .flatten();
        if key {
            self.last_key = Some(dts);
        }
        let early = self.target.is_some()
            && elapsed >= p
            && self.last_gop.is_some_and(|g| elapsed + g >= max);
        if let Some(g) = gop {
            self.last_gop = Some(g);
        }
        let (cut, closed) = if key && (elapsed + half >= self.segment || early) {
            (Some(Cut::Fragment), self.close_segment(dts, elapsed))
        } else if dts + half >= v.seg_start_dts + p * (v.part_index + 1) {
            if elapsed + p >= max {
                tracing::warn!(?elapsed, target = ?self.target, "llhls: GOP longer than the target duration, segment cut without a keyframe");
                (Some(Cut::Fragment), self.close_segment(dts, elapsed))
            } else {
                let closed = self.video.close(dts, false, self.target);
                (Some(Cut::Chunk), closed)
            }
        } else {
            (None, None)
        };
        let v = &mut self.video;
        match cut {
            Some(Cut::Fragment) => {
                v.start(dts, pts, key, true);
                self.video_starts.push_back(pts);
            }
            Some(Cut::Chunk) => v.start(dts, pts, key, false),
            None => {}
        }
        v.frames_in_part += 1;
        out.push(step(TrackKind::Video, pts, dts, key, payload, cut, closed));
    }

    fn close_segment(&mut self, dts: Duration, elapsed: Duration) -> Option<ClosedPart> {
        if self.target.is_none() {
            let t = round_half_up(self.segment)
                .max(round_half_up(elapsed))
                .max(1);
            self.target = Some(t);
        }
        self.video.close(dts, true, self.target)
    }

    fn push_audio(&mut self, pts: Duration, dts: Duration, payload: T, out: &mut Vec<Step<T>>) {
        let a = &mut self.audio;
        let fd = a.frame();
        let half = fd / 2;
        // Video segment starts this frame reaches (pts + half a frame).
        let mut reached = false;
        while let Some(&vs) = self.video_starts.front() {
            if pts + half >= vs {
                self.video_starts.pop_front();
                reached = true;
            } else {
                break;
            }
        }
        if a.open.is_none() {
            if self.has_video && !reached {
                tracing::trace!(?pts, "llhls: audio before the first video segment dropped");
                return;
            }
            a.observe(dts);
            a.start(dts, pts, true, true);
            a.frames_in_part = 1;
            out.push(step(TrackKind::Audio, pts, dts, true, payload, None, None));
            return;
        }
        a.observe(dts);
        let n = a.per_part();
        let elapsed = dts.saturating_sub(a.seg_start_dts);
        let new_segment = if self.has_video {
            reached
        } else {
            elapsed + half >= self.segment
        };
        let (cut, closed) = if new_segment {
            if !self.has_video && self.target.is_none() {
                let t = round_half_up(self.segment)
                    .max(round_half_up(elapsed))
                    .max(1);
                self.target = Some(t);
            }
            let closed = self.audio.close(dts, true, self.target);
            self.audio.start(dts, pts, true, true);
            (Some(Cut::Fragment), closed)
        } else if a.frames_in_part >= n {
            let closed = self.audio.close(dts, false, self.target);
            self.audio.start(dts, pts, true, false);
            (Some(Cut::Chunk), closed)
        } else {
            (None, None)
        };
        self.audio.frames_in_part += 1;
        out.push(step(TrackKind::Audio, pts, dts, true, payload, cut, closed));
    }
}

fn step<T>(
    track: TrackKind,
    pts: Duration,
    dts: Duration,
    keyframe: bool,
    payload: T,
    cut: Option<Cut>,
    closed: Option<ClosedPart>,
) -> Step<T> {
    Step {
        track,
        pts,
        dts,
        keyframe,
        payload,
        cut,
        closed,
    }
}

#[cfg(test)]
#[path = "segmenter_tests.rs"]
mod tests;
