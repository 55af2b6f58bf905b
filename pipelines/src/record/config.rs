//! Recording configuration (the `[recording]` table of the engine config).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What is recorded, how it is cut, and how long it is kept.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordConfig {
    /// Record every live stream (to `<data_dir>/recordings/<stream id>/`). Default true.
    pub enabled: bool,
    /// Minimum recorded segment duration: a segment ends at the first keyframe after it. Default 2000.
    pub segment_duration_ms: u64,
    /// Recordings older than this many days are deleted by the sweep; 0 keeps them forever. Default 30.
    pub retention_days: u64,
    /// When the recordings of all streams exceed this many bytes, the oldest are deleted
    /// (whole streams, never the one being recorded); 0 = no limit. Default 0.
    pub max_bytes: u64,
    /// Seconds between two sweeps. Default 3600.
    pub sweep_interval_s: u64,
    /// Seconds between two poster thumbnails while live (`/thumbs/{id}/latest.jpg`); 0 = none. Default 5.
    pub thumbnail_interval_s: u64,
    /// Width of thumbnails in pixels (height keeps the aspect ratio). Default 320.
    pub thumbnail_width: u32,
    /// Capacity of the recorder's queue on the stream's media bus, in units. Default 2048.
    pub queue_units: usize,
}

impl Default for RecordConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            segment_duration_ms: 2000,
            retention_days: 30,
            max_bytes: 0,
            sweep_interval_s: 3600,
            thumbnail_interval_s: 5,
            thumbnail_width: 320,
            queue_units: 2048,
        }
    }
}

impl RecordConfig {
    pub fn segment_duration(&self) -> Duration {
        Duration::from_millis(self.segment_duration_ms.max(500))
    }

    /// `None` when recordings are kept forever.
    pub fn retention(&self) -> Option<Duration> {
        (self.retention_days > 0).then(|| Duration::from_secs(self.retention_days * 86_400))
    }

    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_interval_s.max(1))
    }

    /// `None` when no thumbnails are made.
    pub fn thumbnail_interval(&self) -> Option<Duration> {
        (self.thumbnail_interval_s > 0).then(|| Duration::from_secs(self.thumbnail_interval_s))
    }
}
