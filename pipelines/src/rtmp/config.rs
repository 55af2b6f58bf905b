//! Settings of the RTMP ingest server.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// RTMP server settings (the `[rtmp]` table of the engine config).
///
/// Durations are written in seconds (`handshake_timeout = 10` or `2.5`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtmpConfig {
    /// The only RTMP application accepted: OBS "Server" `rtmp://host/live` means app `live`.
    pub app: String,
    /// Time a peer has to complete C0/C1/C2 before the connection is closed.
    #[serde(with = "secs")]
    pub handshake_timeout: Duration,
    /// Silence (no byte received) after which a connection, and its publish session, ends.
    #[serde(with = "secs")]
    pub idle_timeout: Duration,
    /// Largest Set Chunk Size a peer may ask for. OBS and ffmpeg use 4096; larger values are
    /// refused (the connection is closed) so a peer cannot make us buffer huge chunks.
    pub max_chunk_size: u32,
    /// Largest RTMP message (one FLV tag: a video frame) accepted, in bytes. 8 MiB holds a
    /// 4K keyframe at a high bitrate; this bounds the memory one connection can pin.
    pub max_message_size: u32,
    /// After the video sequence header, how long to wait for an audio one before the session
    /// starts video-only (when onMetaData did not say whether audio comes).
    #[serde(with = "secs")]
    pub audio_wait: Duration,
    /// Audio flowing this long without any video makes the publish refused ("no video").
    #[serde(with = "secs")]
    pub video_wait: Duration,
}

impl Default for RtmpConfig {
    fn default() -> Self {
        Self {
            app: "live".to_owned(),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
            max_chunk_size: 65_536,
            max_message_size: 8 * 1024 * 1024,
            audio_wait: Duration::from_secs(1),
            video_wait: Duration::from_secs(3),
        }
    }
}

/// Durations as (fractional) seconds.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_seconds_and_keeps_defaults_for_missing_keys() {
        let c: RtmpConfig =
            toml::from_str("app = \"in\"\nhandshake_timeout = 2.5\nidle_timeout = 30")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.app, "in");
        assert_eq!(c.handshake_timeout, Duration::from_millis(2500));
        assert_eq!(c.idle_timeout, Duration::from_secs(30));
        assert_eq!(c.max_chunk_size, RtmpConfig::default().max_chunk_size);
        assert!(toml::from_str::<RtmpConfig>("idle_timeout = -1").is_err());
        assert!(toml::from_str::<RtmpConfig>("chunk = 1").is_err());
    }

    #[test]
    fn defaults_round_trip() {
        let text = toml::to_string(&RtmpConfig::default()).unwrap_or_default();
        let back: RtmpConfig = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(back, RtmpConfig::default());
    }
}
