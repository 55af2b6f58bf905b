//! Depayloaded WebRTC media to bus units: holds units until every expected track has its
//! codec configuration (from the first sample's caps), then announces the tracks.

use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::stream::{Publisher, Track};
use crate::unit::{Codec, TrackKind, Unit};

/// Units held while waiting for a missing track's configuration; past it, go without it.
const HOLD_LIMIT: usize = 150;

struct State {
    publisher: Option<Publisher>,
    expect_video: bool,
    expect_audio: bool,
    video: Option<Track>,
    audio: Option<Track>,
    announced: bool,
    held: Vec<Unit>,
    seen_key: bool,
}

/// Writes WHIP media to the bus. Shared by the appsink callbacks of one session.
pub(super) struct Writer {
    stream: String,
    state: Mutex<State>,
}

impl Writer {
    pub(super) fn new(publisher: Publisher, expect_video: bool, expect_audio: bool) -> Self {
        Self {
            stream: publisher.stream().id().to_owned(),
            state: Mutex::new(State {
                publisher: Some(publisher),
                expect_video,
                expect_audio,
                video: None,
                audio: None,
                announced: false,
                held: Vec::new(),
                seen_key: false,
            }),
        }
    }

    /// Ends the publish session (the bus readers get `End`).
    pub(super) fn close(&self) {
        self.state.lock().publisher.take();
    }

    /// One appsink sample of `kind`.
    pub(super) fn sample(&self, kind: TrackKind, sample: &gst::Sample) {
        let Some(buffer) = sample.buffer() else {
            return;
        };
        let Some(pts) = buffer.pts() else { return };
        let mut st = self.state.lock();
        if st.publisher.is_none() {
            return;
        }
        if !st.announced {
            let caps = sample.caps();
            let slot = match kind {
                TrackKind::Video => &mut st.video,
                TrackKind::Audio => &mut st.audio,
            };
            if slot.is_none() {
                *slot = caps.and_then(|c| track_from_caps(kind, c));
            }
        }
        let keyframe =
            kind == TrackKind::Audio || !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        if kind == TrackKind::Video && !st.seen_key {
            if !keyframe {
                return;
            }
            st.seen_key = true;
        }
        let Ok(map) = buffer.map_readable() else {
            return;
        };
        let ts = Duration::from_nanos(pts.nseconds());
        let dts = buffer
            .dts()
            .map(|d| Duration::from_nanos(d.nseconds()))
            .unwrap_or(ts);
        let unit = Unit {
            track: kind,
            pts: ts,
            dts,
            keyframe,
            payload: Bytes::copy_from_slice(map.as_slice()),
        };
        drop(map);
        if !st.announced {
            st.held.push(unit);
            let ready = (!st.expect_video || st.video.is_some())
                && (!st.expect_audio || st.audio.is_some());
            let give_up = st.held.len() >= HOLD_LIMIT && (st.video.is_some() || st.audio.is_some());
            if !(ready || give_up) {
                return;
            }
            let tracks: Vec<Track> = st.video.iter().chain(st.audio.iter()).cloned().collect();
            tracing::info!(stream = %self.stream, tracks = tracks.len(), "whip: tracks announced");
            st.announced = true;
            let held = std::mem::take(&mut st.held);
            let have_video = st.video.is_some();
            let have_audio = st.audio.is_some();
            if let Some(p) = st.publisher.as_ref() {
                p.set_tracks(tracks);
            }
            for u in held {
                let known = match u.track {
                    TrackKind::Video => have_video,
                    TrackKind::Audio => have_audio,
                };
                if known {
                    self.write(&mut st, u);
                }
            }
            return;
        }
        let known = match kind {
            TrackKind::Video => st.video.is_some(),
            TrackKind::Audio => st.audio.is_some(),
        };
        if known {
            self.write(&mut st, unit);
        }
    }

    fn write(&self, st: &mut State, unit: Unit) {
        let Some(p) = st.publisher.as_ref() else {
            return;
        };
        if let Err(e) = p.write(unit) {
            tracing::warn!(stream = %self.stream, error = %e, "whip: bus refused a unit, session ends");
            st.publisher.take();
        }
    }
}

fn track_from_caps(kind: TrackKind, caps: &gst::CapsRef) -> Option<Track> {
    let s = caps.structure(0)?;
    let config = s.get::<gst::Buffer>("codec_data").ok().and_then(|b| {
        b.map_readable()
            .ok()
            .map(|m| Bytes::copy_from_slice(m.as_slice()))
    })?;
    match kind {
        TrackKind::Video => {
            let mut t = Track::video(Codec::H264 { config });
            t.width = s.get::<i32>("width").ok().map(|w| w.max(0) as u32);
            t.height = s.get::<i32>("height").ok().map(|h| h.max(0) as u32);
            t.framerate = s
                .get::<gst::Fraction>("framerate")
                .ok()
                .filter(|f| f.numer() > 0 && f.denom() > 0)
                .map(|f| (f.numer() as u32, f.denom() as u32));
            Some(t)
        }
        TrackKind::Audio => {
            let mut t = Track::audio(Codec::Aac { config });
            t.sample_rate = s.get::<i32>("rate").ok().map(|r| r.max(0) as u32);
            t.channels = s.get::<i32>("channels").ok().map(|c| c.max(0) as u32);
            Some(t)
        }
    }
}
