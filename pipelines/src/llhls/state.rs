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
    /// (epoch, first MSN) of the newest publish session: every rendition begins it there.
    pub epoch_base: Option<(u64, u64)>,
    /// Delta updates are offered (CAN-SKIP-UNTIL) once every playlist holds at least
    /// CAN-SKIP-UNTIL of complete segments, so a delta never keeps less than that; sticky.
    pub can_skip: bool,
    /// Bumped on every change; rendered playlists are cached per version.
    pub version: u64,
    /// (version, text) of the last full / delta playlist per rendition: `[idx * 2 + skip]`.
    pub cache: Vec<Option<(u64, bytes::Bytes)>>,
}

impl State {
    pub fn rendition(&self, name: &str) -> Option<(usize, &Rendition)> {
        self.renditions
            .iter()
            .enumerate()
            .find(|(_, r)| r.name == name)
    }

    /// Ready to serve: target fixed and every source rendition has a part.
    pub fn live(&self) -> bool {
        self.target.is_some()
            && self.part_hold_back.is_some()
            && self.renditions.iter().any(|r| !r.transcoded)
            && self
                .renditions
                .iter()
                .filter(|r| !r.transcoded)
                .all(|r| r.part_target.is_some() && r.newest_part().is_some())
    }

    /// Newest session of the source and whether it ended.
    fn source_session(&self) -> Option<(u64, bool)> {
        self.renditions
            .iter()
            .find(|r| !r.transcoded)
            .map(|r| (r.epoch, r.ended))
    }

    /// Whether rendition `r` is listed (multivariant, rendition reports): a source rendition
    /// always; a transcoded one once it has a part of the source's current session, and until
    /// its session ended before the source's did (the watchdog dropped it).
    pub fn listed(&self, r: &super::store::Rendition) -> bool {
        if !r.transcoded {
            return true;
        }
        let Some((epoch, source_ended)) = self.source_session() else {
            return false;
        };
        r.epoch == epoch
            && (!r.ended || source_ended)
            && r.part_target.is_some()
            && r.segs.back().is_some_and(|s| s.epoch == epoch)
    }

    /// Marks a change: cached playlists are stale.
    pub fn touch(&mut self) {
        self.version += 1;
    }

    /// The media playlist of rendition `idx`, rendered once per change and shared by every
    /// request (a burst of released blocking requests costs one render).
    pub fn media_playlist(&mut self, idx: usize, skip: bool) -> Option<bytes::Bytes> {
        let slot = idx * 2 + usize::from(skip);
        if let Some(Some((v, text))) = self.cache.get(slot) {
            if *v == self.version {
                return Some(text.clone());
            }
        }
        let text = bytes::Bytes::from(super::playlist::media(self, idx, skip)?);
        if self.cache.len() <= slot {
            self.cache.resize(slot + 1, None);
        }
        self.cache[slot] = Some((self.version, text.clone()));
        Some(text)
    }

    /// Turns delta updates on once every rendition holds 6 target durations of segments.
    pub fn update_can_skip(&mut self) {
        if let (false, Some(t)) = (self.can_skip, self.target) {
            let need = 6.0 * f64::from(t);
            self.can_skip = !self.renditions.is_empty()
                && self.renditions.iter().filter(|r| !r.transcoded).all(|r| {
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
            && self
                .renditions
                .iter()
                .filter(|r| !r.transcoded)
                .all(|r| r.part_target.is_some())
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
