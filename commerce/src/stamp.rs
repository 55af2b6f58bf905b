//! Stream-time stamps on events: publish epoch, media PTS and the PROGRAM-DATE-TIME it maps to.

use crate::directory::StreamClock;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `SystemTime` from Unix milliseconds.
pub fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// When an event happened, on the stream's media timeline when live.
///
/// `pts_ms`/`epoch` are `None` when the stream was not live: the event is then stamped with
/// wall time only (`pdt_ms` = server wall clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub epoch: Option<u64>,
    pub pts_ms: Option<u64>,
    /// PROGRAM-DATE-TIME of that PTS (Unix ms), or the wall clock when not live.
    pub pdt_ms: u64,
}

impl Stamp {
    /// Stamp from the stream clock if live, else from `wall_now`.
    pub fn new(clock: Option<StreamClock>, wall_now: SystemTime) -> Self {
        match clock {
            Some(c) => Self {
                epoch: Some(c.epoch),
                pts_ms: Some(c.pts.as_millis() as u64),
                pdt_ms: unix_ms(c.wall),
            },
            None => Self {
                epoch: None,
                pts_ms: None,
                pdt_ms: unix_ms(wall_now),
            },
        }
    }

    /// The stamp `delta_ms` later on the same timeline.
    pub fn plus_ms(self, delta_ms: u64) -> Self {
        Self {
            epoch: self.epoch,
            pts_ms: self.pts_ms.map(|p| p + delta_ms),
            pdt_ms: self.pdt_ms + delta_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_stamp_uses_clock_and_offline_uses_wall() {
        let wall = from_unix_ms(1_700_000_000_000);
        let clock = StreamClock {
            epoch: 3,
            pts: Duration::from_millis(12_345),
            wall: from_unix_ms(1_700_000_000_500),
        };
        let live = Stamp::new(Some(clock), wall);
        assert_eq!(live.pts_ms, Some(12_345));
        assert_eq!(live.epoch, Some(3));
        assert_eq!(live.pdt_ms, 1_700_000_000_500);
        let off = Stamp::new(None, wall);
        assert_eq!(off.pts_ms, None);
        assert_eq!(off.pdt_ms, 1_700_000_000_000);
        assert_eq!(live.plus_ms(5).pts_ms, Some(12_350));
    }
}
