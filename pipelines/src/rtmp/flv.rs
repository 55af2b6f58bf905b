//! FLV audio/video tag payloads as RTMP carries them (legacy FLV and Enhanced RTMP headers).

use bytes::Bytes;

/// What one RTMP video message holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoTag {
    /// AVCDecoderConfigurationRecord.
    AvcConfig(Bytes),
    /// One access unit: length-prefixed NAL units, as sent.
    AvcFrame {
        keyframe: bool,
        /// Composition time offset in ms (pts - dts), signed.
        cts: i32,
        data: Bytes,
    },
    /// End of sequence, video info/command frames, empty tags: nothing to forward.
    Ignored,
    /// A codec we do not take, by name (`hevc`, `av1`, `vp9`, ...).
    Unsupported(String),
}

/// What one RTMP audio message holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioTag {
    /// AudioSpecificConfig.
    AacConfig(Bytes),
    AacFrame(Bytes),
    Ignored,
    Unsupported(String),
}

/// A tag too short for the header its first byte announces.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} tag truncated")]
pub struct Truncated(pub &'static str);

fn signed24(b: &[u8]) -> i32 {
    let v = (i32::from(b[0]) << 16) | (i32::from(b[1]) << 8) | i32::from(b[2]);
    (v << 8) >> 8
}

fn fourcc_name(fourcc: &[u8]) -> String {
    match fourcc {
        b"hvc1" => "hevc".to_owned(),
        b"av01" => "av1".to_owned(),
        b"vp09" => "vp9".to_owned(),
        b"Opus" => "opus".to_owned(),
        b"fLaC" => "flac".to_owned(),
        b"ac-3" => "ac3".to_owned(),
        b"ec-3" => "eac3".to_owned(),
        b".mp3" => "mp3".to_owned(),
        other => format!("fourcc {}", String::from_utf8_lossy(other).escape_debug()),
    }
}

fn legacy_video_codec(id: u8) -> String {
    match id {
        2 => "sorenson h263",
        3 => "screen video",
        4 => "vp6",
        5 => "vp6 alpha",
        6 => "screen video v2",
        12 => "hevc",
        13 => "av1",
        _ => return format!("flv codec id {id}"),
    }
    .to_owned()
}

/// Parses a video message payload.
pub fn parse_video(data: &Bytes) -> Result<VideoTag, Truncated> {
    let Some(&b0) = data.first() else {
        return Ok(VideoTag::Ignored);
    };
    let frame_type = (b0 >> 4) & 0x07;
    if b0 & 0x80 != 0 {
        return parse_ex_video(data, frame_type, b0 & 0x0f);
    }
    let codec = b0 & 0x0f;
    if codec != 7 {
        return Ok(VideoTag::Unsupported(legacy_video_codec(codec)));
    }
    if frame_type == 5 {
        return Ok(VideoTag::Ignored);
    }
    let head = data.get(..5).ok_or(Truncated("AVC video"))?;
    Ok(match head[1] {
        0 => VideoTag::AvcConfig(data.slice(5..)),
        1 if data.len() > 5 => VideoTag::AvcFrame {
            keyframe: frame_type == 1,
            cts: signed24(&head[2..5]),
            data: data.slice(5..),
        },
        _ => VideoTag::Ignored,
    })
}

/// Enhanced RTMP `ExVideoTagHeader`: packet type in the low nibble, then a FourCC.
fn parse_ex_video(data: &Bytes, frame_type: u8, packet_type: u8) -> Result<VideoTag, Truncated> {
    let fourcc = data.get(1..5).ok_or(Truncated("enhanced RTMP video"))?;
    if packet_type == 6 {
        return Ok(VideoTag::Unsupported("multitrack video".to_owned()));
    }
    if fourcc != b"avc1" {
        return Ok(VideoTag::Unsupported(fourcc_name(fourcc)));
    }
    if frame_type == 5 {
        return Ok(VideoTag::Ignored);
    }
    Ok(match packet_type {
        0 => VideoTag::AvcConfig(data.slice(5..)),
        1 => {
            let cts = data.get(5..8).ok_or(Truncated("enhanced RTMP video"))?;
            match data.len() > 8 {
                true => VideoTag::AvcFrame {
                    keyframe: frame_type == 1,
                    cts: signed24(cts),
                    data: data.slice(8..),
                },
                false => VideoTag::Ignored,
            }
        }
        3 if data.len() > 5 => VideoTag::AvcFrame {
            keyframe: frame_type == 1,
            cts: 0,
            data: data.slice(5..),
        },
        _ => VideoTag::Ignored,
    })
}

fn legacy_audio_codec(format: u8) -> String {
    match format {
        0 | 3 => "pcm",
        1 => "adpcm",
        2 | 14 => "mp3",
        4..=6 => "nellymoser",
        7 => "g711 a-law",
        8 => "g711 mu-law",
        11 => "speex",
        _ => return format!("flv sound format {format}"),
    }
    .to_owned()
}

/// Parses an audio message payload.
pub fn parse_audio(data: &Bytes) -> Result<AudioTag, Truncated> {
    let Some(&b0) = data.first() else {
        return Ok(AudioTag::Ignored);
    };
    let format = b0 >> 4;
    if format == 9 {
        let fourcc = data.get(1..5).ok_or(Truncated("enhanced RTMP audio"))?;
        let packet_type = b0 & 0x0f;
        if packet_type == 5 {
            return Ok(AudioTag::Unsupported("multitrack audio".to_owned()));
        }
        if fourcc != b"mp4a" {
            return Ok(AudioTag::Unsupported(fourcc_name(fourcc)));
        }
        return Ok(match packet_type {
            0 => AudioTag::AacConfig(data.slice(5..)),
            1 if data.len() > 5 => AudioTag::AacFrame(data.slice(5..)),
            _ => AudioTag::Ignored,
        });
    }
    if format != 10 {
        return Ok(AudioTag::Unsupported(legacy_audio_codec(format)));
    }
    let head = data.get(..2).ok_or(Truncated("AAC audio"))?;
    Ok(match head[1] {
        0 => AudioTag::AacConfig(data.slice(2..)),
        1 if data.len() > 2 => AudioTag::AacFrame(data.slice(2..)),
        _ => AudioTag::Ignored,
    })
}

/// A codec id from onMetaData (`videocodecid`): `Err(name)` unless it is H.264 (7 or `avc1`).
pub fn check_meta_video(id: u32) -> Result<(), String> {
    match id {
        7 => Ok(()),
        0..=255 => Err(legacy_video_codec(u8::try_from(id).unwrap_or(0))),
        _ if id.to_be_bytes() == *b"avc1" => Ok(()),
        _ => Err(fourcc_name(&id.to_be_bytes())),
    }
}

/// A codec id from onMetaData (`audiocodecid`): `Err(name)` unless it is AAC (10 or `mp4a`).
pub fn check_meta_audio(id: u32) -> Result<(), String> {
    match id {
        10 => Ok(()),
        0..=255 => Err(legacy_audio_codec(u8::try_from(id).unwrap_or(0))),
        _ if id.to_be_bytes() == *b"mp4a" => Ok(()),
        _ => Err(fourcc_name(&id.to_be_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_legacy_avc_with_negative_cts() {
        let tag = Bytes::from_static(&[0x17, 1, 0xff, 0xff, 0xfe, 0, 0, 0, 1, 0x65]);
        assert_eq!(
            parse_video(&tag),
            Ok(VideoTag::AvcFrame {
                keyframe: true,
                cts: -2,
                data: Bytes::from_static(&[0, 0, 0, 1, 0x65])
            })
        );
        let hdr = Bytes::from_static(&[0x17, 0, 0, 0, 0, 1, 2]);
        assert_eq!(
            parse_video(&hdr),
            Ok(VideoTag::AvcConfig(Bytes::from_static(&[1, 2])))
        );
        assert_eq!(
            parse_video(&Bytes::from_static(&[0x27, 1])),
            Err(Truncated("AVC video"))
        );
    }

    #[test]
    fn names_refused_video_codecs() {
        let hevc = Bytes::from_static(&[0x1c, 0, 0, 0, 0]);
        assert_eq!(parse_video(&hevc), Ok(VideoTag::Unsupported("hevc".into())));
        let ex = Bytes::from_static(&[0x90, b'h', b'v', b'c', b'1', 1, 2]);
        assert_eq!(parse_video(&ex), Ok(VideoTag::Unsupported("hevc".into())));
        let av1 = Bytes::from_static(&[0x90, b'a', b'v', b'0', b'1']);
        assert_eq!(parse_video(&av1), Ok(VideoTag::Unsupported("av1".into())));
        let vp9 = Bytes::from_static(&[0x91, b'v', b'p', b'0', b'9']);
        assert_eq!(parse_video(&vp9), Ok(VideoTag::Unsupported("vp9".into())));
    }

    #[test]
    fn parses_enhanced_avc1() {
        let x = Bytes::from_static(&[0x93, b'a', b'v', b'c', b'1', 0, 0, 0, 1, 0x41]);
        assert_eq!(
            parse_video(&x),
            Ok(VideoTag::AvcFrame {
                keyframe: true,
                cts: 0,
                data: x.slice(5..)
            })
        );
    }

    #[test]
    fn parses_aac_and_names_other_audio() {
        let cfg = Bytes::from_static(&[0xaf, 0, 0x11, 0x90]);
        assert_eq!(parse_audio(&cfg), Ok(AudioTag::AacConfig(cfg.slice(2..))));
        let raw = Bytes::from_static(&[0xaf, 1, 0x21]);
        assert_eq!(parse_audio(&raw), Ok(AudioTag::AacFrame(raw.slice(2..))));
        let mp3 = Bytes::from_static(&[0x2f, 0xff]);
        assert_eq!(parse_audio(&mp3), Ok(AudioTag::Unsupported("mp3".into())));
        let opus = Bytes::from_static(&[0x90, b'O', b'p', b'u', b's']);
        assert_eq!(parse_audio(&opus), Ok(AudioTag::Unsupported("opus".into())));
    }

    #[test]
    fn checks_metadata_codec_ids() {
        assert_eq!(check_meta_video(7), Ok(()));
        assert_eq!(check_meta_video(12), Err("hevc".into()));
        assert_eq!(
            check_meta_video(u32::from_be_bytes(*b"av01")),
            Err("av1".into())
        );
        assert_eq!(check_meta_audio(10), Ok(()));
        assert_eq!(check_meta_audio(2), Err("mp3".into()));
        assert_eq!(
            check_meta_audio(u32::from_be_bytes(*b"Opus")),
            Err("opus".into())
        );
    }
}
