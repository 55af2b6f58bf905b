//! The ABR ladder configuration (the `[abr]` table of the engine config).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One rung of the ladder: a transcoded rendition of the source.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RenditionSpec {
    /// Playlist name (`{name}.m3u8`): 1 to 16 of `[a-z0-9_]`, not `video`, `audio` or `index`.
    pub name: String,
    /// Output height in pixels (even); the width keeps the source's aspect ratio. A rendition
    /// at or above the source's height is skipped: renditions are never upscaled.
    pub height: u32,
    /// Target video bitrate, kbit/s.
    pub bitrate_kbps: u32,
    /// Frame-rate cap; a source at or below it keeps its own rate.
    pub max_fps: u32,
}

impl RenditionSpec {
    pub fn new(name: &str, height: u32, bitrate_kbps: u32, max_fps: u32) -> Self {
        Self {
            name: name.to_string(),
            height,
            bitrate_kbps,
            max_fps,
        }
    }
}

/// Which H.264 encoder the renditions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderChoice {
    /// A hardware encoder when one is present (vah264enc, then nvh264enc), else x264enc.
    Auto,
    X264,
    Va,
    Nvidia,
}

/// How streams are transcoded into an ABR ladder.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AbrConfig {
    /// The ladder of every stream without its own entry in `streams`. Empty = passthrough only.
    pub ladder: Vec<RenditionSpec>,
    /// Per-stream ladders, by stream id (an empty list turns transcoding off for that stream).
    pub streams: BTreeMap<String, Vec<RenditionSpec>>,
    pub encoder: EncoderChoice,
    /// x264enc `speed-preset` (also what the benchmark gives ffmpeg's libx264).
    pub x264_preset: String,
    /// A rendition whose output lags the source by more than this (ms)...
    pub max_lag_ms: u64,
    /// ...for this long (ms) means the machine cannot keep up: the most expensive rendition
    /// is dropped for the rest of the session, with a warning.
    pub lag_grace_ms: u64,
    /// Capacity of the transcoder's reader queue on the source bus, in units.
    pub queue_units: usize,
}

impl Default for AbrConfig {
    fn default() -> Self {
        Self {
            ladder: vec![
                RenditionSpec::new("720p", 720, 2500, 30),
                RenditionSpec::new("480p", 480, 1000, 30),
                RenditionSpec::new("360p", 360, 600, 30),
            ],
            streams: BTreeMap::new(),
            encoder: EncoderChoice::Auto,
            x264_preset: "ultrafast".into(),
            max_lag_ms: 1500,
            lag_grace_ms: 3000,
            queue_units: 1024,
        }
    }
}

/// Why a ladder was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LadderError {
    #[error("rendition name {0:?}: use 1 to 16 of [a-z0-9_], not video, audio or index")]
    BadName(String),
    #[error("rendition {0:?} appears twice in one ladder")]
    Duplicate(String),
    #[error("rendition {name:?}: {what} must be positive (height even)")]
    BadValue { name: String, what: &'static str },
}

impl AbrConfig {
    /// The ladder of stream `id`.
    pub fn ladder_for(&self, id: &str) -> &[RenditionSpec] {
        self.streams.get(id).unwrap_or(&self.ladder)
    }

    /// Checks every ladder (names usable in URLs, unique, positive values).
    pub fn validate(&self) -> Result<(), LadderError> {
        std::iter::once(&self.ladder)
            .chain(self.streams.values())
            .try_for_each(|l| validate_ladder(l))
    }
}

pub fn validate_ladder(ladder: &[RenditionSpec]) -> Result<(), LadderError> {
    for (i, r) in ladder.iter().enumerate() {
        let ok_name = (1..=16).contains(&r.name.len())
            && r.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !matches!(r.name.as_str(), "video" | "audio" | "index");
        if !ok_name {
            return Err(LadderError::BadName(r.name.clone()));
        }
        if ladder[..i].iter().any(|o| o.name == r.name) {
            return Err(LadderError::Duplicate(r.name.clone()));
        }
        let bad = |what| LadderError::BadValue {
            name: r.name.clone(),
            what,
        };
        if r.height == 0 || r.height % 2 == 1 {
            return Err(bad("height"));
        }
        if r.bitrate_kbps == 0 {
            return Err(bad("bitrate_kbps"));
        }
        if r.max_fps == 0 {
            return Err(bad("max_fps"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladders_are_validated() {
        assert_eq!(AbrConfig::default().validate(), Ok(()));
        let bad = |l: Vec<RenditionSpec>| validate_ladder(&l).unwrap_err();
        assert!(matches!(
            bad(vec![RenditionSpec::new("video", 360, 600, 30)]),
            LadderError::BadName(_)
        ));
        assert!(matches!(
            bad(vec![RenditionSpec::new("a.b", 360, 600, 30)]),
            LadderError::BadName(_)
        ));
        assert!(matches!(
            bad(vec![
                RenditionSpec::new("a", 360, 600, 30),
                RenditionSpec::new("a", 240, 300, 30)
            ]),
            LadderError::Duplicate(_)
        ));
        assert!(matches!(
            bad(vec![RenditionSpec::new("a", 361, 600, 30)]),
            LadderError::BadValue { .. }
        ));
        let mut cfg = AbrConfig::default();
        cfg.streams.insert("s1".into(), vec![]);
        assert!(cfg.ladder_for("s1").is_empty());
        assert_eq!(cfg.ladder_for("s2").len(), 3);
    }
}
