//! Sample rate and channels from an AAC AudioSpecificConfig.

use super::bits::BitReader;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioInfo {
    pub object_type: u32,
    pub sample_rate: u32,
    pub channels: u32,
}

const RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Parses the first fields of an AudioSpecificConfig (ISO 14496-3 1.6.2.1); `None` if malformed.
pub fn parse_asc(asc: &[u8]) -> Option<AudioInfo> {
    let mut r = BitReader::new(asc);
    let mut object_type = r.bits(5).ok()?;
    if object_type == 31 {
        object_type = 32 + r.bits(6).ok()?;
    }
    let index = r.bits(4).ok()?;
    let sample_rate = if index == 15 {
        r.bits(24).ok()?
    } else {
        *RATES.get(usize::try_from(index).ok()?)?
    };
    let channel_config = r.bits(4).ok()?;
    let channels = if channel_config == 7 {
        8
    } else {
        channel_config
    };
    (object_type != 0 && sample_rate != 0).then_some(AudioInfo {
        object_type,
        sample_rate,
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lc_48k_stereo_and_explicit_rate() {
        // AAC-LC (2), index 3 (48000), 2 channels: 00010 0011 0010 000
        assert_eq!(
            parse_asc(&[0x11, 0x90]),
            Some(AudioInfo {
                object_type: 2,
                sample_rate: 48000,
                channels: 2
            })
        );
        // explicit 24-bit rate 0x00ac44 = 44100, mono
        let asc = [0x17, 0x80, 0x56, 0x22, 0x08];
        assert_eq!(
            parse_asc(&asc).map(|a| (a.sample_rate, a.channels)),
            Some((44100, 1))
        );
        assert_eq!(parse_asc(&[0x11]), None);
        assert_eq!(parse_asc(&[0x17, 0x80]), None); // index 15 without the rate
    }
}
