//! Just enough of RFC 6184 to find where a decoder can start.

/// Whether an H.264 RTP packet (header included) opens with an SPS: a single SPS NAL, or a
/// STAP-A whose first NAL is an SPS. `rtph264pay config-interval=-1` sends SPS/PPS before
/// every IDR, so this marks the first packet of each GOP.
pub fn is_gop_start(packet: &[u8]) -> bool {
    let Some(payload) = payload(packet) else {
        return false;
    };
    match payload.first().map(|b| b & 0x1f) {
        Some(7) => true,
        // STAP-A: 1 byte header, then (16-bit size, NAL)*.
        Some(24) => payload.get(3).is_some_and(|b| b & 0x1f == 7),
        _ => false,
    }
}

/// The payload of an RTP packet: skips the fixed header, CSRCs and the extension.
fn payload(packet: &[u8]) -> Option<&[u8]> {
    let first = *packet.first()?;
    if first >> 6 != 2 {
        return None;
    }
    let csrc = usize::from(first & 0x0f);
    let mut at = 12 + 4 * csrc;
    if first & 0x10 != 0 {
        let ext = packet.get(at + 2..at + 4)?;
        at += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    let end = if first & 0x20 != 0 {
        let pad = usize::from(*packet.last()?);
        packet.len().checked_sub(pad)?
    } else {
        packet.len()
    };
    packet.get(at..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9];
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn sps_single_nal_starts_a_gop() {
        assert!(is_gop_start(&rtp(&[0x67, 0x42, 0x00])));
    }

    #[test]
    fn stap_a_with_sps_first_starts_a_gop() {
        assert!(is_gop_start(&rtp(&[0x78, 0x00, 0x03, 0x67, 0x42, 0x00])));
        assert!(!is_gop_start(&rtp(&[0x78, 0x00, 0x03, 0x68, 0x42, 0x00])));
    }

    #[test]
    fn other_nals_do_not() {
        assert!(!is_gop_start(&rtp(&[0x65, 0x88])));
        assert!(!is_gop_start(&rtp(&[0x7c, 0x85])));
        assert!(!is_gop_start(&[0x80, 96]));
        assert!(!is_gop_start(&rtp(&[])));
    }

    #[test]
    fn extension_is_skipped() {
        let mut p = vec![
            0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0xbe, 0xde, 0, 1, 1, 2, 3, 4,
        ];
        p.push(0x67);
        assert!(is_gop_start(&p));
    }
}
