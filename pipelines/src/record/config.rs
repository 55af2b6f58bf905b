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
    /// S3-compatible object storage for the recordings (off while `bucket` is empty).
    pub s3: S3Config,
}

/// `[recording.s3]`: where finished recording files are uploaded, and read back from when they
/// are not on the local disk (docs/recording.md, "S3").
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// `http(s)://host[:port]` of the S3 API; empty = AWS (`https://s3.<region>.amazonaws.com`).
    pub endpoint: String,
    /// Bucket name; empty = recordings stay on the local disk only. Default empty.
    pub bucket: String,
    /// Signing region. Default "us-east-1".
    pub region: String,
    pub access_key_id: String,
    /// Also from `SHOWROOM_RECORDING__S3__SECRET_ACCESS_KEY`. Never logged.
    pub secret_access_key: String,
    /// Key prefix of every object ("recordings/" → `recordings/<stream id>/...`).
    pub prefix: String,
    /// `endpoint/bucket/key` (MinIO, most self-hosted servers) instead of `bucket.endpoint/key`.
    pub path_style: bool,
    /// Keep the local copy of each file after it is uploaded. Default false.
    pub keep_local: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            bucket: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            prefix: "recordings/".into(),
            path_style: false,
            keep_local: false,
        }
    }
}

impl S3Config {
    pub fn enabled(&self) -> bool {
        !self.bucket.is_empty()
    }
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("prefix", &self.prefix)
            .field("path_style", &self.path_style)
            .field("keep_local", &self.keep_local)
            .finish()
    }
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
            s3: S3Config::default(),
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
