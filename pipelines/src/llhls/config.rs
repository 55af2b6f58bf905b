//! LL-HLS origin configuration (the `[llhls]` table of the engine config).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the origin cuts and keeps media. Durations are whole milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlHlsConfig {
    /// Wanted part duration; parts are a whole number of frames closest to it. Default 200.
    pub part_duration_ms: u64,
    /// Minimum segment duration: a segment ends at the first keyframe after it. Default 2000.
    pub segment_duration_ms: u64,
    /// Complete segments kept in each media playlist (older ones are evicted). Default 10.
    pub window_segments: usize,
    /// Longest time a blocking playlist or preload-hint request is held. Default 6000.
    pub max_hold_ms: u64,
    /// Capacity of the origin's reader queue on the stream bus, in units. Default 2048.
    pub queue_units: usize,
}

impl Default for LlHlsConfig {
    fn default() -> Self {
        Self {
            part_duration_ms: 200,
            segment_duration_ms: 2000,
            window_segments: 10,
            max_hold_ms: 6000,
            queue_units: 2048,
        }
    }
}

impl LlHlsConfig {
    pub fn part_duration(&self) -> Duration {
        Duration::from_millis(self.part_duration_ms.max(20))
    }

    pub fn segment_duration(&self) -> Duration {
        Duration::from_millis(self.segment_duration_ms.max(self.part_duration_ms).max(500))
    }

    pub fn max_hold(&self) -> Duration {
        Duration::from_millis(self.max_hold_ms.max(100))
    }

    pub fn window(&self) -> usize {
        self.window_segments.max(3)
    }
}
