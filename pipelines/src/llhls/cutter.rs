//! One track's part/segment bookkeeping for the [`super::segmenter`]: frame duration
//! (known or estimated), frames per part, and the part being filled.

use std::time::Duration;

use super::segmenter::ClosedPart;
use crate::unit::TrackKind;

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, Copy)]
pub(super) struct OpenPart {
    pub(super) start_dts: Duration,
    pub(super) start_pts: Duration,
    pub(super) independent: bool,
    pub(super) first_of_segment: bool,
}

#[derive(Debug)]
pub(super) struct Cutter {
    pub(super) kind: TrackKind,
    pub(super) frame: Option<Duration>,
    pub(super) default_frame: Duration,
    pub(super) first_dts: Option<Duration>,
    pub(super) last_dts: Duration,
    pub(super) count: u64,
    pub(super) wanted: Duration,
    pub(super) limit: Option<Duration>,
    pub(super) per_part: Option<u32>,
    pub(super) open: Option<OpenPart>,
    pub(super) seg_start_dts: Duration,
    pub(super) part_index: u32,
    pub(super) frames_in_part: u32,
}

impl Cutter {
    pub(super) fn new(
        kind: TrackKind,
        frame: Option<Duration>,
        wanted: Duration,
        limit: Option<Duration>,
    ) -> Self {
        let default_frame = match kind {
            TrackKind::Video => Duration::from_nanos(1_000_000_000 / 30),
            TrackKind::Audio => Duration::from_nanos(1024 * 1_000_000_000 / 48_000),
        };
        Self {
            kind,
            frame,
            default_frame,
            first_dts: None,
            last_dts: Duration::ZERO,
            count: 0,
            wanted,
            limit,
            per_part: None,
            open: None,
            seg_start_dts: Duration::ZERO,
            part_index: 0,
            frames_in_part: 0,
        }
    }

    pub(super) fn observe(&mut self, dts: Duration) {
        if self.first_dts.is_none() {
            self.first_dts = Some(dts);
        }
        self.last_dts = self.last_dts.max(dts);
        self.count += 1;
    }

    /// Frame duration: known, else the mean DTS delta so far.
    pub(super) fn frame(&self) -> Duration {
        if let Some(f) = self.frame {
            return f;
        }
        match self.first_dts {
            Some(first) if self.count >= 2 && self.last_dts > first => {
                (self.last_dts - first) / (self.count - 1) as u32
            }
            _ => self.default_frame,
        }
    }

    /// Frames per part, decided once the frame duration is known or estimated from 8 frames.
    pub(super) fn per_part(&mut self) -> u32 {
        if let Some(n) = self.per_part {
            return n;
        }
        let settled = self.frame.is_some() || self.count >= 8;
        let fd = self.frame().max(MS);
        let mut n = ((self.wanted.as_secs_f64() / fd.as_secs_f64()).round() as u32).max(1);
        if let Some(limit) = self.limit {
            while n > 1 && fd * n + MS > limit {
                n -= 1;
            }
        }
        if settled {
            self.per_part = Some(n);
        }
        n
    }

    pub(super) fn nominal(&mut self) -> Duration {
        let n = self.per_part();
        self.frame() * n
    }

    pub(super) fn start(&mut self, dts: Duration, pts: Duration, independent: bool, first: bool) {
        if first {
            self.seg_start_dts = dts;
            self.part_index = 0;
        } else {
            self.part_index += 1;
        }
        self.frames_in_part = 0;
        self.open = Some(OpenPart {
            start_dts: dts,
            start_pts: pts,
            independent,
            first_of_segment: first,
        });
    }

    pub(super) fn close(
        &mut self,
        end_dts: Duration,
        last: bool,
        target: Option<u32>,
    ) -> Option<ClosedPart> {
        let open = self.open.take()?;
        let nominal = self.nominal();
        Some(ClosedPart {
            track: self.kind,
            start_pts: open.start_pts,
            duration: end_dts.saturating_sub(open.start_dts),
            independent: open.independent,
            first_of_segment: open.first_of_segment,
            last_of_segment: last,
            nominal,
            target_duration: target,
        })
    }
}
