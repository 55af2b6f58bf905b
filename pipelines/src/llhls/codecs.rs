//! RFC 6381 codec strings and the bits of codec configuration the playlists need.

use crate::unit::Codec;

const AAC_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// The fields of an AAC AudioSpecificConfig we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioConfig {
    pub object_type: u8,
    pub sample_rate: u32,
    pub channels: u8,
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            let bit = (byte >> (7 - (self.pos % 8))) & 1;
            v = (v << 1) | u32::from(bit);
            self.pos += 1;
        }
        Some(v)
    }
}

impl AudioConfig {
    /// Parses an AudioSpecificConfig; `None` if it is too short or uses a reserved index.
    pub fn parse(asc: &[u8]) -> Option<Self> {
        let mut b = Bits { data: asc, pos: 0 };
        let mut object_type = b.read(5)?;
        if object_type == 31 {
            object_type = 32 + b.read(6)?;
        }
        let idx = b.read(4)? as usize;
        let sample_rate = if idx == 15 {
            b.read(24)?
        } else {
            *AAC_RATES.get(idx)?
        };
        let channels = b.read(4)? as u8;
        Some(Self {
            object_type: object_type as u8,
            sample_rate,
            channels,
        })
    }
}

/// `avc1.PPCCLL` from an AVCDecoderConfigurationRecord, `mp4a.40.N` from an
/// AudioSpecificConfig. `None` when the configuration is too short to tell.
pub fn codec_string(codec: &Codec) -> Option<String> {
    match codec {
        Codec::H264 { config } => {
            let p = config.get(1..4)?;
            Some(format!("avc1.{:02x}{:02x}{:02x}", p[0], p[1], p[2]))
        }
        Codec::Aac { config } => {
            let asc = AudioConfig::parse(config)?;
            Some(format!("mp4a.40.{}", asc.object_type))
        }
        Codec::Opus => Some("Opus".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn aac_lc_48k_stereo() {
        let asc = AudioConfig::parse(&[0x11, 0x90]).unwrap();
        assert_eq!(
            asc,
            AudioConfig {
                object_type: 2,
                sample_rate: 48_000,
                channels: 2
            }
        );
        assert_eq!(
            codec_string(&Codec::Aac {
                config: Bytes::from_static(&[0x11, 0x90])
            })
            .as_deref(),
            Some("mp4a.40.2")
        );
        assert!(AudioConfig::parse(&[0x11]).is_none());
    }

    #[test]
    fn avc_profile_level() {
        let c = Codec::H264 {
            config: Bytes::from_static(&[1, 0x64, 0x00, 0x1f, 0xff]),
        };
        assert_eq!(codec_string(&c).as_deref(), Some("avc1.64001f"));
        assert!(codec_string(&Codec::H264 {
            config: Bytes::new()
        })
        .is_none());
    }
}
