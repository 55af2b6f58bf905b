//! The origin's memory: per rendition, the sliding window of segments and parts and the inits.
//!
//! Pure data and bookkeeping; the [`super::origin::Origin`] locks it and wakes waiters.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};

use super::segmenter::ClosedPart;
use crate::stream::ClockAnchor;
use crate::unit::TrackKind;

/// Segments whose parts keep their own bytes (older ones only keep the whole segment).
const PART_BYTES_SEGMENTS: usize = 5;

#[derive(Debug, Clone)]
pub struct PartRec {
    pub seq: u64,
    pub duration: f64,
    pub independent: bool,
    pub bytes: Option<Bytes>,
}

#[derive(Debug, Clone)]
pub struct SegRec {
    pub msn: u64,
    pub epoch: u64,
    pub discontinuity: bool,
    pub pdt: SystemTime,
    pub parts: Vec<PartRec>,
    pub complete: bool,
    pub duration: f64,
    pub bytes: Option<Bytes>,
}

/// Facts about a video rendition for the multivariant playlist.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    pub framerate: Option<f64>,
}

#[derive(Debug)]
pub struct Rendition {
    pub kind: TrackKind,
    /// Playlist name: `video` and `audio` for the source, the ladder's name for a transcode.
    pub name: String,
    /// A transcoded rendition (listed only while its session runs with the source's).
    pub transcoded: bool,
    /// Its session ended (a transcoded rendition dropped by the real-time watchdog ends early).
    pub ended: bool,
    /// Configured bitrate (bit/s), announced until a segment was measured.
    pub nominal_bps: Option<u64>,
    /// Bumped on every new part: held requests on this rendition wait on it.
    pub notify: tokio::sync::watch::Sender<u64>,
    pub codec: Option<String>,
    pub channels: Option<u8>,
    pub video: Option<VideoInfo>,
    pub segs: VecDeque<SegRec>,
    pub inits: BTreeMap<u64, Bytes>,
    pub next_msn: u64,
    pub next_seq: u64,
    /// PART-TARGET in seconds, fixed by the first part.
    pub part_target: Option<f64>,
    pub discontinuity_seq: u64,
    pub epoch: u64,
    pub anchor: Option<ClockAnchor>,
    pub pending_discontinuity: bool,
    pub bits_total: u64,
    pub secs_total: f64,
    pub peak_bps: f64,
}

impl Rendition {
    /// A source rendition (`video` or `audio`).
    #[cfg(test)]
    pub fn new(kind: TrackKind) -> Self {
        let name = if kind == TrackKind::Video {
            "video"
        } else {
            "audio"
        };
        Self::named(kind, name.to_string(), false)
    }

    pub fn named(kind: TrackKind, name: String, transcoded: bool) -> Self {
        Self {
            kind,
            name,
            transcoded,
            ended: false,
            nominal_bps: None,
            notify: tokio::sync::watch::channel(0).0,
            codec: None,
            channels: None,
            video: None,
            segs: VecDeque::new(),
            inits: BTreeMap::new(),
            next_msn: 0,
            next_seq: 0,
            part_target: None,
            discontinuity_seq: 0,
            epoch: 0,
            anchor: None,
            pending_discontinuity: false,
            bits_total: 0,
            secs_total: 0.0,
            peak_bps: 0.0,
        }
    }

    /// MSN of the last complete segment, if any.
    pub fn last_complete(&self) -> Option<u64> {
        self.segs.iter().rev().find(|s| s.complete).map(|s| s.msn)
    }

    /// The segment being filled (it has at least one part).
    pub fn open(&self) -> Option<&SegRec> {
        self.segs.back().filter(|s| !s.complete)
    }

    /// (msn, index) of the newest part.
    pub fn newest_part(&self) -> Option<(u64, usize)> {
        let s = self.segs.back()?;
        Some((s.msn, s.parts.len().checked_sub(1)?))
    }

    /// MSN a blocking request may name without being refused: up to the last complete + 2.
    pub fn max_msn(&self) -> u64 {
        self.last_complete().map_or(self.next_msn + 1, |m| m + 2)
    }

    /// Whether part `part` of segment `msn` (or the whole segment, for `None`) exists, or
    /// anything after it (a part index past a complete segment's last part means the next
    /// segment's first part).
    pub fn has_reached(&self, msn: u64, part: Option<u64>) -> bool {
        let Some(first) = self.segs.front() else {
            return false;
        };
        if msn < first.msn {
            return true;
        }
        let Some(part) = part else {
            return self.last_complete().is_some_and(|m| m >= msn);
        };
        let Some(seg) = self.segs.get((msn - first.msn) as usize) else {
            return false;
        };
        if (part as usize) < seg.parts.len() {
            return true;
        }
        seg.complete && self.has_reached(msn + 1, Some(0))
    }

    pub fn part_bytes(&self, seq: u64) -> Option<Bytes> {
        self.segs
            .iter()
            .rev()
            .flat_map(|s| s.parts.iter())
            .find(|p| p.seq == seq)
            .and_then(|p| p.bytes.clone())
    }

    pub fn oldest_seq(&self) -> u64 {
        self.segs
            .front()
            .and_then(|s| s.parts.first())
            .map_or(self.next_seq, |p| p.seq)
    }

    pub fn segment_bytes(&self, msn: u64) -> Option<Bytes> {
        self.segs
            .iter()
            .find(|s| s.msn == msn && s.complete)
            .and_then(|s| s.bytes.clone())
    }

    /// A new publish session begins: the next segment is a discontinuity if any came before.
    pub fn begin(&mut self, epoch: u64, anchor: ClockAnchor, next_msn: u64) {
        self.close_open();
        self.pending_discontinuity = !self.segs.is_empty() || self.next_msn > 0;
        self.epoch = epoch;
        self.ended = false;
        self.anchor = Some(anchor);
        // Never reuse an MSN this rendition already served.
        self.next_msn = next_msn.max(self.next_msn);
    }

    /// Bits per second measured over complete segments: (average, peak).
    pub fn measured_bps(&self) -> (f64, f64) {
        let avg = if self.secs_total > 0.0 {
            self.bits_total as f64 / self.secs_total
        } else {
            0.0
        };
        (avg, self.peak_bps)
    }

    /// Closes a segment left open (its session ended without its final part).
    pub fn close_open(&mut self) {
        if let Some(s) = self.segs.back_mut().filter(|s| !s.complete) {
            if s.parts.is_empty() {
                self.segs.pop_back();
                self.next_msn -= 1;
            } else {
                finish_segment(s);
                let (bits, secs) = (
                    (s.bytes.as_ref().map_or(0, |b| b.len()) * 8) as u64,
                    s.duration,
                );
                self.account(bits, secs);
            }
        }
    }

    fn account(&mut self, bits: u64, secs: f64) {
        if secs > 0.0 {
            self.bits_total += bits;
            self.secs_total += secs;
            self.peak_bps = self.peak_bps.max(bits as f64 / secs);
        }
    }

    /// Appends one packaged part. Returns false (and stores nothing) for a part of an old session.
    pub fn push_part(&mut self, epoch: u64, meta: &ClosedPart, bytes: Bytes) -> bool {
        if epoch != self.epoch {
            return false;
        }
        if self.part_target.is_none() {
            // N whole frames plus 1 ms for millisecond timestamps (the first part's own
            // duration may be off: a PART-TARGET above the steady parts would make them "short").
            let nominal = meta.nominal + Duration::from_millis(1);
            self.part_target = Some((nominal.as_secs_f64() * 1000.0).ceil() / 1000.0);
        }
        if meta.first_of_segment || self.open().is_none() {
            self.close_open();
            let pdt = self
                .anchor
                .map_or(SystemTime::now(), |a| a.wall_at(meta.start_pts));
            self.segs.push_back(SegRec {
                msn: self.next_msn,
                epoch,
                discontinuity: std::mem::take(&mut self.pending_discontinuity),
                pdt,
                parts: Vec::new(),
                complete: false,
                duration: 0.0,
                bytes: None,
            });
            self.next_msn += 1;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(seg) = self.segs.back_mut() {
            seg.parts.push(PartRec {
                seq,
                duration: meta.duration.as_secs_f64(),
                independent: meta.independent,
                bytes: Some(bytes),
            });
            if meta.last_of_segment {
                finish_segment(seg);
                let (bits, secs) = (
                    (seg.bytes.as_ref().map_or(0, |b| b.len()) * 8) as u64,
                    seg.duration,
                );
                self.account(bits, secs);
            }
        }
        true
    }

    /// Drops segments beyond `window` complete ones, part bytes of older segments, and inits
    /// nothing refers to.
    pub fn evict(&mut self, window: usize) {
        while self.segs.iter().filter(|s| s.complete).count() > window {
            if let Some(old) = self.segs.pop_front() {
                if old.discontinuity {
                    self.discontinuity_seq += 1;
                }
            }
        }
        let n = self.segs.len();
        for s in self
            .segs
            .iter_mut()
            .take(n.saturating_sub(PART_BYTES_SEGMENTS))
        {
            for p in &mut s.parts {
                p.bytes = None;
            }
        }
        let oldest_epoch = self.segs.front().map_or(self.epoch, |s| s.epoch);
        let current = self.epoch;
        self.inits.retain(|&e, _| e >= oldest_epoch || e == current);
    }
}

fn finish_segment(seg: &mut SegRec) {
    seg.complete = true;
    seg.duration = seg.parts.iter().map(|p| p.duration).sum();
    let mut all = BytesMut::with_capacity(
        seg.parts
            .iter()
            .map(|p| p.bytes.as_ref().map_or(0, |b| b.len()))
            .sum(),
    );
    for p in &seg.parts {
        if let Some(b) = &p.bytes {
            all.extend_from_slice(b);
        }
    }
    seg.bytes = Some(all.freeze());
}
