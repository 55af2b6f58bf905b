//! Picture size from an H.264 AVCDecoderConfigurationRecord (its first SPS).

use super::bits::{BitReader, OutOfBits};

/// What the API shows of a video track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
}

/// Why an AVC configuration record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AvcConfigError {
    #[error("AVC configuration record truncated")]
    Truncated,
    #[error("AVC configuration record version {0} (expected 1)")]
    Version(u8),
    #[error("NAL length size {0} bytes (only 4 is accepted)")]
    NalLengthSize(u8),
    #[error("AVC configuration record has no SPS")]
    NoSps,
    #[error("SPS could not be parsed")]
    BadSps,
}

/// Checks the record (version 1, 4-byte NAL lengths) and reads width/height from its SPS.
pub fn parse_avc_config(record: &[u8]) -> Result<VideoInfo, AvcConfigError> {
    let head = record.get(..6).ok_or(AvcConfigError::Truncated)?;
    if head[0] != 1 {
        return Err(AvcConfigError::Version(head[0]));
    }
    let nal_len = (head[4] & 3) + 1;
    if nal_len != 4 {
        return Err(AvcConfigError::NalLengthSize(nal_len));
    }
    if head[5] & 0x1f == 0 {
        return Err(AvcConfigError::NoSps);
    }
    let len_bytes = record.get(6..8).ok_or(AvcConfigError::Truncated)?;
    let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
    let sps = record.get(8..8 + len).ok_or(AvcConfigError::Truncated)?;
    parse_sps(sps).map_err(|_| AvcConfigError::BadSps)
}

/// Removes emulation-prevention bytes (`00 00 03` -> `00 00`), skipping the NAL header byte.
fn rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal.iter().skip(1) {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

const HIGH_PROFILES: [u32; 12] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134];

fn parse_sps(nal: &[u8]) -> Result<VideoInfo, OutOfBits> {
    let data = rbsp(nal);
    let mut r = BitReader::new(&data);
    let profile = r.bits(8)?;
    r.bits(16)?; // constraint flags, level
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    let mut separate_planes = 0;
    if HIGH_PROFILES.contains(&profile) || profile == 135 {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            separate_planes = r.bit()?;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            let n = r.ue()?;
            if n > 255 {
                return Err(OutOfBits);
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = u64::from(r.bit()?);
    if frame_mbs_only == 0 {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut left, mut right, mut top, mut bottom) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? == 1 {
        left = r.ue()?.into();
        right = r.ue()?.into();
        top = r.ue()?.into();
        bottom = r.ue()?.into();
    }
    let (sub_w, sub_h) = match (chroma_format_idc, separate_planes) {
        (0, _) | (3, 1) => (1, 1),
        (1, _) => (2, 2),
        (2, _) => (2, 1),
        _ => (1, 1),
    };
    let crop_x = sub_w;
    let crop_y = sub_h * (2 - frame_mbs_only);
    let width = (width_mbs * 16).checked_sub((left + right) * crop_x);
    let height = ((2 - frame_mbs_only) * height_units * 16).checked_sub((top + bottom) * crop_y);
    match (width, height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => Ok(VideoInfo {
            width: u32::try_from(w).map_err(|_| OutOfBits)?,
            height: u32::try_from(h).map_err(|_| OutOfBits)?,
        }),
        _ => Err(OutOfBits),
    }
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), OutOfBits> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            next = (last + r.se()? + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// x264's SPS for 640x360 High profile (368 coded lines, cropped by 8), from ffmpeg 5.1.
    const SPS_640X360: [u8; 26] = [
        0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03,
        0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2d, 0x96,
    ];

    fn record(sps: &[u8]) -> Vec<u8> {
        let mut r = vec![1, 0x64, 0, 0x1e, 0xff, 0xe1];
        r.extend_from_slice(&u16::try_from(sps.len()).unwrap_or(0).to_be_bytes());
        r.extend_from_slice(sps);
        r.extend_from_slice(&[1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb]);
        r
    }

    #[test]
    fn reads_cropped_size_from_high_profile_sps() {
        let info = parse_avc_config(&record(&SPS_640X360));
        assert_eq!(
            info,
            Ok(VideoInfo {
                width: 640,
                height: 360
            })
        );
    }

    #[test]
    fn refuses_short_lengths_and_truncation() {
        let mut r = record(&SPS_640X360);
        r[4] = 0xfd; // 2-byte NAL lengths
        assert_eq!(parse_avc_config(&r), Err(AvcConfigError::NalLengthSize(2)));
        assert_eq!(parse_avc_config(&[1, 2, 3]), Err(AvcConfigError::Truncated));
        let r = record(&SPS_640X360[..6]);
        assert_eq!(parse_avc_config(&r), Err(AvcConfigError::BadSps));
    }
}
