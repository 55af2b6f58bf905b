//! The packager side of the [`Origin`]: sessions begin and end, inits and parts arrive.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::origin::{slot, Origin};
use super::segmenter::ClosedPart;
use super::store::{Rendition, VideoInfo};
use crate::stream::Session;
use crate::unit::TrackKind;

impl Origin {
    /// A publish session starts: renditions for its tracks, discontinuity, aligned MSNs.
    /// Returns the TARGETDURATION and PART-TARGETs already served, if any.
    pub(super) fn begin_session(&self, session: &Session, tracks: &[TrackKind]) -> Served {
        let mut st = self.state.lock();
        st.touch();
        for &kind in tracks {
            if !st.renditions.iter().any(|r| r.kind == kind) {
                st.renditions.push(Rendition::new(kind));
                st.renditions.sort_by_key(|r| slot(r.kind));
            }
        }
        for r in &mut st.renditions {
            r.close_open();
        }
        let next = st.renditions.iter().map(|r| r.next_msn).max().unwrap_or(0);
        for r in &mut st.renditions {
            r.begin(session.epoch, session.anchor, next);
            if let Some(t) = session.track(r.kind) {
                r.codec = super::codecs::codec_string(&t.codec).or(r.codec.take());
                if let crate::unit::Codec::Aac { config } = &t.codec {
                    r.channels = super::codecs::AudioConfig::parse(config).map(|a| a.channels);
                }
            }
        }
        let part_limit = |k| {
            st.renditions
                .iter()
                .find(|r| r.kind == k)
                .and_then(|r| r.part_target)
        };
        let served = Served {
            target: st.target,
            video_part: part_limit(TrackKind::Video),
            audio_part: part_limit(TrackKind::Audio),
        };
        drop(st);
        self.bump_all();
        served
    }

    pub(super) fn push_init(
        &self,
        kind: TrackKind,
        epoch: u64,
        bytes: Bytes,
        info: Option<VideoInfo>,
    ) {
        let mut st = self.state.lock();
        st.touch();
        if let Some(r) = st.renditions.iter_mut().find(|r| r.kind == kind) {
            r.inits.insert(epoch, bytes);
            if info.is_some() {
                r.video = info;
            }
        }
    }

    pub(super) fn push_part(&self, kind: TrackKind, epoch: u64, meta: &ClosedPart, bytes: Bytes) {
        let mut st = self.state.lock();
        st.touch();
        let window = st.window;
        let Some(r) = st.renditions.iter_mut().find(|r| r.kind == kind) else {
            return;
        };
        if !r.push_part(epoch, meta, bytes) {
            tracing::debug!(stream = %self.id(), epoch, "llhls: part of an ended session dropped");
            return;
        }
        r.evict(window);
        self.parts.fetch_add(1, Ordering::Relaxed);
        if meta.last_of_segment {
            self.segments.fetch_add(1, Ordering::Relaxed);
        }
        st.fix_targets(meta.target_duration);
        st.update_can_skip();
        let oldest = st
            .renditions
            .iter()
            .filter_map(|r| r.segs.front().map(|s| s.pdt))
            .min();
        if let Some(oldest) = oldest {
            st.dateranges.retain(|d| d.relevant_after(oldest));
        }
        drop(st);
        self.notify[slot(kind)].send_modify(|v| *v += 1);
    }

    /// The session is over: a segment left open is closed.
    pub(super) fn end_session(&self, epoch: u64) {
        let mut st = self.state.lock();
        st.touch();
        for r in st.renditions.iter_mut().filter(|r| r.epoch == epoch) {
            if r.open().is_some() {
                r.close_open();
                self.segments.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(st);
        self.bump_all();
    }

    fn bump_all(&self) {
        for n in &self.notify {
            n.send_modify(|v| *v += 1);
        }
    }
}

/// What earlier sessions fixed for the life of the playlists.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Served {
    pub target: Option<u32>,
    pub video_part: Option<f64>,
    pub audio_part: Option<f64>,
}
