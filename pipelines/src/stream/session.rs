//! A publish session: what one publisher announced, and its media-to-wall-clock mapping.

use std::time::{Duration, SystemTime};

use crate::unit::{Codec, TrackKind};

/// One elementary stream of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub kind: TrackKind,
    pub codec: Codec,
    /// Video only.
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Frames per second as a fraction (video only, when the publisher said).
    pub framerate: Option<(u32, u32)>,
    /// Audio only.
    pub sample_rate: Option<u32>,
    pub channels: Option<u32>,
}

impl Track {
    pub fn video(codec: Codec) -> Self {
        Self {
            kind: TrackKind::Video,
            codec,
            width: None,
            height: None,
            framerate: None,
            sample_rate: None,
            channels: None,
        }
    }

    pub fn audio(codec: Codec) -> Self {
        Self {
            kind: TrackKind::Audio,
            codec,
            width: None,
            height: None,
            framerate: None,
            sample_rate: None,
            channels: None,
        }
    }
}

/// Maps the session's media timeline to wall-clock time (what HLS calls PROGRAM-DATE-TIME).
///
/// Set once, when the first unit of the session reaches the bus: `wall` is the arrival time
/// and `dts` that unit's decode timestamp. Every later timestamp maps linearly from there, so
/// the mapping never jitters with network arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockAnchor {
    pub dts: Duration,
    pub wall: SystemTime,
}

impl ClockAnchor {
    /// Wall-clock time of media timestamp `ts` (saturating before the anchor).
    pub fn wall_at(&self, ts: Duration) -> SystemTime {
        match ts.checked_sub(self.dts) {
            Some(after) => self.wall + after,
            None => self.wall - (self.dts - ts),
        }
    }

    /// Media timestamp shown at wall-clock time `wall`.
    pub fn media_at(&self, wall: SystemTime) -> Duration {
        match wall.duration_since(self.wall) {
            Ok(after) => self.dts + after,
            Err(e) => self.dts.saturating_sub(e.duration()),
        }
    }
}

/// What a publisher announced when its first unit arrived. Readers get it before any unit.
#[derive(Debug, Clone)]
pub struct Session {
    /// Counts publish sessions of this stream, from 1. A new epoch is a discontinuity.
    pub epoch: u64,
    /// `"rtmp"`, `"whip"`, ...
    pub protocol: &'static str,
    pub remote: String,
    pub tracks: Vec<Track>,
    pub anchor: ClockAnchor,
}

impl Session {
    pub fn track(&self, kind: TrackKind) -> Option<&Track> {
        self.tracks.iter().find(|t| t.kind == kind)
    }
}

/// The stream's clock at one moment: the newest ingested frame and when it plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamTime {
    pub epoch: u64,
    /// PTS of the newest ingested video frame (or audio frame, for audio-only moments).
    pub pts: Duration,
    /// Its PROGRAM-DATE-TIME.
    pub wall: SystemTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_maps_both_ways() {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let a = ClockAnchor {
            dts: Duration::from_millis(500),
            wall,
        };
        assert_eq!(
            a.wall_at(Duration::from_millis(1500)),
            wall + Duration::from_secs(1)
        );
        assert_eq!(
            a.wall_at(Duration::from_millis(0)),
            wall - Duration::from_millis(500)
        );
        assert_eq!(
            a.media_at(wall + Duration::from_secs(2)),
            Duration::from_millis(2500)
        );
        assert_eq!(a.media_at(wall - Duration::from_secs(9)), Duration::ZERO);
    }
}
