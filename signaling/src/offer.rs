//! Checks an SDP offer before any peer connection is made: parseable, and with a codec we send.

use std::io::Cursor;

use webrtc::sdp::SessionDescription;

use crate::error::SignalingError;

/// What the offer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferInfo {
    /// An `m=video` section offering H.264 (packetization-mode 1 or unspecified).
    pub h264: bool,
    /// An `m=audio` section offering Opus.
    pub opus: bool,
}

/// Parses `sdp` and requires H.264 video (viewers must be able to see the host).
pub fn check_offer(sdp: &str) -> Result<OfferInfo, SignalingError> {
    if sdp.trim().is_empty() {
        return Err(SignalingError::BadSdp("empty body".into()));
    }
    let parsed = SessionDescription::unmarshal(&mut Cursor::new(sdp.as_bytes()))
        .map_err(|e| SignalingError::BadSdp(e.to_string()))?;
    if parsed.media_descriptions.is_empty() {
        return Err(SignalingError::BadSdp("no media sections".into()));
    }
    let mut info = OfferInfo {
        h264: false,
        opus: false,
    };
    for m in &parsed.media_descriptions {
        let codecs: Vec<String> = m
            .attributes
            .iter()
            .filter(|a| a.key == "rtpmap")
            .filter_map(|a| a.value.as_deref())
            .filter_map(|v| v.split_whitespace().nth(1))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match m.media_name.media.as_str() {
            "video" => info.h264 |= codecs.iter().any(|c| c.starts_with("h264/90000")),
            "audio" => info.opus |= codecs.iter().any(|c| c.starts_with("opus/48000")),
            _ => {}
        }
    }
    if !info.h264 {
        return Err(SignalingError::NoCodec(
            "the offer has no H.264 video (we send H.264 packetization-mode=1 and Opus)".into(),
        ));
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

    #[test]
    fn h264_and_opus_are_found() {
        let sdp = format!(
            "{HEAD}m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n"
        );
        assert_eq!(
            check_offer(&sdp).ok(),
            Some(OfferInfo {
                h264: true,
                opus: true
            })
        );
    }

    #[test]
    fn vp8_only_is_no_codec() {
        let sdp = format!("{HEAD}m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n");
        assert!(matches!(check_offer(&sdp), Err(SignalingError::NoCodec(_))));
    }

    #[test]
    fn garbage_is_bad_sdp() {
        assert!(matches!(
            check_offer("hello"),
            Err(SignalingError::BadSdp(_))
        ));
        assert!(matches!(check_offer(""), Err(SignalingError::BadSdp(_))));
        assert!(matches!(check_offer(HEAD), Err(SignalingError::BadSdp(_))));
    }
}
