//! The webrtc-rs API object: codecs we send, interceptors, ICE settings from the config.

use webrtc::api::interceptor_registry::configure_rtcp_reports;
use webrtc::api::media_engine::{MediaEngine, MIME_TYPE_H264, MIME_TYPE_OPUS};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::{APIBuilder, API};
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice::network_type::NetworkType;
use webrtc::ice::udp_mux::{UDPMuxDefault, UDPMuxParams};
use webrtc::ice::udp_network::UDPNetwork;
use webrtc::ice_transport::ice_candidate_type::RTCIceCandidateType;
use webrtc::interceptor::registry::Registry;
use webrtc::rtp_transceiver::rtp_codec::{
    RTCRtpCodecCapability, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RTPCodecType,
};
use webrtc::rtp_transceiver::RTCPFeedback;

use crate::config::WebRtcConfig;
use crate::error::SignalingError;

pub(crate) const H264_FMTP: &str =
    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";

/// The `abs-send-time` RTP header extension (what Chromium's REMB estimator reads).
pub(crate) const ABS_SEND_TIME_URI: &str =
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";

pub(crate) fn h264_capability() -> RTCRtpCodecCapability {
    RTCRtpCodecCapability {
        mime_type: MIME_TYPE_H264.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: H264_FMTP.to_owned(),
        rtcp_feedback: vec![
            RTCPFeedback {
                typ: "nack".into(),
                parameter: String::new(),
            },
            RTCPFeedback {
                typ: "nack".into(),
                parameter: "pli".into(),
            },
            RTCPFeedback {
                typ: "ccm".into(),
                parameter: "fir".into(),
            },
            // Receivers send REMB (their bandwidth estimate): one input of the layer choice.
            RTCPFeedback {
                typ: "goog-remb".into(),
                parameter: String::new(),
            },
        ],
    }
}

pub(crate) fn opus_capability() -> RTCRtpCodecCapability {
    RTCRtpCodecCapability {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// Builds the API (and binds the UDP mux socket when configured). Returns the mux's address.
pub(crate) async fn build(
    cfg: &WebRtcConfig,
) -> Result<(API, Option<std::net::SocketAddr>), SignalingError> {
    let mut media = MediaEngine::default();
    media.register_codec(
        RTCRtpCodecParameters {
            capability: h264_capability(),
            payload_type: 102,
            ..Default::default()
        },
        RTPCodecType::Video,
    )?;
    media.register_codec(
        RTCRtpCodecParameters {
            capability: opus_capability(),
            payload_type: 111,
            ..Default::default()
        },
        RTPCodecType::Audio,
    )?;
    // Video packets carry their send time: a receiver's delay-based estimate (REMB) then sees
    // the network only, not the jitter of the ingest and transcode before the SFU.
    media.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: ABS_SEND_TIME_URI.to_owned(),
        },
        RTPCodecType::Video,
        None,
    )?;
    // Sender/receiver reports only: NACKs are answered from the per-stream cache in the
    // fanout (webrtc-rs's responder would keep a send buffer per viewer).
    let registry = configure_rtcp_reports(Registry::new());

    let mut settings = SettingEngine::default();
    settings.set_include_loopback_candidate(cfg.include_loopback);
    settings.set_network_types(vec![NetworkType::Udp4]);
    // No mDNS: a server announces IPs and never resolves `.local` names (no multicast traffic).
    settings.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
    if !cfg.ice_interfaces.is_empty() {
        let allowed = cfg.ice_interfaces.clone();
        settings.set_interface_filter(Box::new(move |name: &str| {
            allowed.iter().any(|a| a == name)
        }));
    }
    if !cfg.nat_1to1_ips.is_empty() {
        settings.set_nat_1to1_ips(cfg.nat_1to1_ips.clone(), RTCIceCandidateType::Host);
    }
    let mut mux_addr = None;
    if let Some(port) = cfg.udp_mux_port {
        let socket = tokio::net::UdpSocket::bind((cfg.udp_mux_bind.as_str(), port)).await?;
        mux_addr = Some(socket.local_addr()?);
        tracing::info!(addr = ?mux_addr, "sfu: all viewers on one UDP port");
        let mux = UDPMuxDefault::new(UDPMuxParams::new(socket));
        settings.set_udp_network(UDPNetwork::Muxed(mux));
    }
    let api = APIBuilder::new()
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings)
        .build();
    Ok((api, mux_addr))
}
