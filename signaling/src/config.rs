//! WebRTC settings: ICE candidates, NAT, port mux, the ICE servers handed to clients.

use serde::{Deserialize, Serialize};

use crate::layer::LayerConfig;

/// One STUN/TURN server passed to clients (WHEP `Link` headers and `/ws/signal`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Settings of the SFU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebRtcConfig {
    /// Offer 127.0.0.1 host candidates (webrtc-rs skips loopback by default). Tests need it.
    pub include_loopback: bool,
    /// Gather host candidates only on these interfaces (e.g. `["lo"]` in tests); empty = all.
    pub ice_interfaces: Vec<String>,
    /// 1:1 NAT: public IPs announced instead of the host addresses.
    pub nat_1to1_ips: Vec<String>,
    /// Serve every viewer from this one UDP port (0 = OS-assigned); `None` = a port per viewer.
    pub udp_mux_port: Option<u16>,
    /// Address the UDP mux binds.
    pub udp_mux_bind: String,
    /// STUN/TURN servers passed to clients.
    pub ice_servers: Vec<IceServer>,
    /// Per-viewer packet queue; when full, packets for that viewer are dropped (counted).
    pub viewer_queue: usize,
    /// Packets of the last GOP kept for new viewers (beyond it, no GOP is cached).
    pub gop_cache_packets: usize,
    /// Upstream keyframe requests are coalesced to at most one per this many ms.
    pub keyframe_interval_ms: u64,
    /// Most viewers at once over all streams (refused with 503 beyond).
    pub max_viewers: usize,
    /// A stream's RTP egress (and its transcode) stops after this many ms without a viewer and
    /// starts again with the next one; 0 = never stop.
    pub egress_idle_stop_ms: u64,
    /// Offer a stream's ABR renditions as simulcast-style layers: each viewer gets the layer
    /// its congestion feedback (RTCP receiver reports, REMB) allows, switched on keyframes.
    pub simulcast: bool,
    /// The layer a new viewer starts on: 0 = the source, 1 = the first rendition, ...
    pub start_layer: usize,
    /// Thresholds of the per-viewer layer choice.
    pub layers: LayerConfig,
}

impl Default for WebRtcConfig {
    fn default() -> Self {
        Self {
            include_loopback: false,
            ice_interfaces: Vec::new(),
            nat_1to1_ips: Vec::new(),
            udp_mux_port: None,
            udp_mux_bind: "0.0.0.0".into(),
            ice_servers: Vec::new(),
            viewer_queue: 512,
            gop_cache_packets: 4096,
            keyframe_interval_ms: 500,
            max_viewers: 20_000,
            egress_idle_stop_ms: 30_000,
            simulcast: true,
            start_layer: 0,
            layers: LayerConfig::default(),
        }
    }
}
