//! Everything one stream's origin holds, across renditions.

use super::daterange::DateRange;
use super::store::Rendition;

/// Everything one stream's origin holds.
#[derive(Debug, Default)]
pub struct State {
    pub renditions: Vec<Rendition>,
    /// TARGETDURATION, fixed when the first segment closed.
    pub target: Option<u32>,
    /// PART-HOLD-BACK, fixed with the target (3 x the largest PART-TARGET).
    pub part_hold_back: Option<f64>,
    pub dateranges: Vec<DateRange>,
    pub window: usize,
    /// Delta updates are offered (CAN-SKIP-UNTIL) once every playlist holds at least
    /// CAN-SKIP-UNTIL of complete segments, so a delta never keeps less than that; sticky.
    pub can_skip: bool,
}

impl State {
    pub fn rendition(&self, name: &str) -> Option<(usize, &Rendition)> {
        self.renditions
            .iter()
            .enumerate()
            .find(|(_, r)| r.name == name)
    }

    /// Ready to serve: target fixed and every rendition has a part.
    pub fn live(&self) -> bool {
        self.target.is_some()
            && self.part_hold_back.is_some()
            && !self.renditions.is_empty()
            && self
                .renditions
                .iter()
                .all(|r| r.part_target.is_some() && r.newest_part().is_some())
    }

    /// Turns delta updates on once every rendition holds 6 target durations of segments.
    pub fn update_can_skip(&mut self) {
        if let (false, Some(t)) = (self.can_skip, self.target) {
            let need = 6.0 * f64::from(t);
            self.can_skip = !self.renditions.is_empty()
                && self.renditions.iter().all(|r| {
                    r.segs
                        .iter()
                        .filter(|s| s.complete)
                        .map(|s| s.duration)
                        .sum::<f64>()
                        >= need
                });
        }
    }

    /// Fixes TARGETDURATION / PART-HOLD-BACK once the first segment is known.
    pub fn fix_targets(&mut self, target: Option<u32>) {
        if self.target.is_none() {
            self.target = target;
        }
        if self.part_hold_back.is_none()
            && self.target.is_some()
            && self.renditions.iter().all(|r| r.part_target.is_some())
        {
            let max = self
                .renditions
                .iter()
                .filter_map(|r| r.part_target)
                .fold(0.0, f64::max);
            self.part_hold_back = Some((max * 3.0 * 1000.0).ceil() / 1000.0);
        }
    }
}
