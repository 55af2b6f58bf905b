//! The packager side of the [`Origin`]: sessions begin and end, inits and parts arrive.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::origin::Origin;
use super::segmenter::ClosedPart;
use super::store::{Rendition, VideoInfo};
use crate::stream::Session;
use crate::unit::TrackKind;

/// A rendition a reader packages: its playlist name and track.
#[derive(Debug, Clone)]
pub(super) struct Feed {
    pub name: String,
    pub kind: TrackKind,
    /// A transcoded rendition (see [`Rendition::transcoded`]), with its configured bit/s.
    pub transcoded: Option<u64>,
}

impl Origin {
    /// A publish session starts for `feeds`: renditions created, discontinuity, MSNs aligned
    /// with every other rendition of the same epoch (the first to begin an epoch fixes its
    /// first MSN). Returns the TARGETDURATION and PART-TARGETs already served, if any.
    pub(super) fn begin_session(&self, session: &Session, feeds: &[Feed]) -> Served {
        let mut st = self.state.lock();
        st.touch();
        for f in feeds {
            if st.rendition(&f.name).is_none() {
                let mut r = Rendition::named(f.kind, f.name.clone(), f.transcoded.is_some());
                r.nominal_bps = f.transcoded;
                st.renditions.push(r);
            }
        }
        let base = match st.epoch_base {
            Some((epoch, base)) if epoch == session.epoch => base,
            _ => {
                for r in &mut st.renditions {
                    r.close_open();
                }
                let base = st.renditions.iter().map(|r| r.next_msn).max().unwrap_or(0);
                st.epoch_base = Some((session.epoch, base));
                base
            }
        };
        for r in st
            .renditions
            .iter_mut()
            .filter(|r| feeds.iter().any(|f| f.name == r.name))
        {
            r.begin(session.epoch, session.anchor, base);
            if let Some(t) = session.track(r.kind) {
                r.codec = super::codecs::codec_string(&t.codec).or(r.codec.take());
                if let crate::unit::Codec::Aac { config } = &t.codec {
                    r.channels = super::codecs::AudioConfig::parse(config).map(|a| a.channels);
                }
            }
        }
        let part_limit = |k: TrackKind| {
            let f = feeds.iter().find(|f| f.kind == k)?;
            st.rendition(&f.name).and_then(|(_, r)| r.part_target)
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
        rendition: &str,
        epoch: u64,
        bytes: Bytes,
        info: Option<VideoInfo>,
    ) {
        let mut st = self.state.lock();
        st.touch();
        if let Some(r) = st.renditions.iter_mut().find(|r| r.name == rendition) {
            r.inits.insert(epoch, bytes);
            if info.is_some() {
                r.video = info;
            }
        }
    }

    pub(super) fn push_part(&self, rendition: &str, epoch: u64, meta: &ClosedPart, bytes: Bytes) {
        let mut st = self.state.lock();
        st.touch();
        let window = st.window;
        if st.epoch_base.is_some_and(|(newest, _)| newest > epoch) {
            // A late part of an older session (a rendition still flushing): its MSNs are gone.
            tracing::debug!(stream = %self.id(), rendition, epoch, "llhls: part of a superseded session dropped");
            return;
        }
        let Some(r) = st.renditions.iter_mut().find(|r| r.name == rendition) else {
            return;
        };
        if !r.push_part(epoch, meta, bytes) {
            tracing::debug!(stream = %self.id(), epoch, "llhls: part of an ended session dropped");
            return;
        }
        r.evict(window);
        let notify = r.notify.clone();
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
        notify.send_modify(|v| *v += 1);
    }

    /// The session of `renditions` is over: a segment left open is closed.
    pub(super) fn end_session(&self, epoch: u64, renditions: &[Feed]) {
        let mut st = self.state.lock();
        st.touch();
        for r in st
            .renditions
            .iter_mut()
            .filter(|r| r.epoch == epoch && renditions.iter().any(|f| f.name == r.name))
        {
            r.ended = true;
            if r.open().is_some() {
                r.close_open();
                self.segments.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(st);
        self.bump_all();
    }

    fn bump_all(&self) {
        let st = self.state.lock();
        for r in &st.renditions {
            r.notify.send_modify(|v| *v += 1);
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
