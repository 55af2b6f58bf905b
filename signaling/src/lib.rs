//! Showroom's WebRTC egress: WHEP signaling and the SFU forwarder (webrtc-rs).
//!
//! **Who drives it.** The engine builds one [`Sfu`] with a [`StreamLookup`] (its stream
//! registry) and merges [`router`] into its HTTP router: WHEP/WHIP `POST`/`DELETE`, `PATCH`
//! for trickle ICE and ICE restart ([`patch`], RFC 9725 §4.3), `/ws/signal` ([`ws`]). Everything runs on tokio: webrtc-rs
//! does the ICE/DTLS/SRTP I/O; the RTP itself comes from `showroom_pipelines::rtp` (one
//! GStreamer packetization per stream and per ABR rendition, never an encoder per viewer).
//!
//! **Data flow.**
//! ```text
//! Stream (bus) ─▶ pipelines::rtp egress (once per stream) ─▶ Fanout (parse once, last GOP)
//!                                         ▲ keyframe request   │ one bounded queue per viewer
//!                        PLI/FIR, coalesced │                   ▼
//!                                   viewer RTCP ◀── webrtc-rs peer connection ──▶ viewer
//! ```
//! With an ABR ladder, each rendition bus gets its own egress and `Fanout` ([`simulcast`]): a
//! viewer's queue is attached to one layer (plus the target while switching), its
//! [`layer::LayerController`] picks the layer from RTCP loss and REMB, and [`splice`] keeps its
//! sequence numbers and timestamps continuous across switches, which happen on keyframes.
//!
//! **Time model.** RTP timestamps come from the bus PTS; the forwarder only makes sequence
//! numbers and timestamps continuous across publish sessions. The keyframe gate, the idle
//! timer that stops an unwatched stream's egress, the layer controller and the splice are
//! sans-IO (time is an argument).
//!
//! ```no_run
//! # async fn f(
//! #     lookup: std::sync::Arc<dyn showroom_signaling::StreamLookup>,
//! #     keys: std::sync::Arc<dyn showroom_pipelines::ingest::PublishTarget>,
//! # ) -> Result<(), showroom_signaling::SignalingError> {
//! use showroom_signaling::{router, Sfu, WebRtcConfig, Whip, WhipConfig};
//! let sfu = Sfu::new(WebRtcConfig::default(), Default::default(), lookup).await?;
//! let whip = Whip::new(WhipConfig::default(), keys);
//! let app: axum::Router = axum::Router::new().merge(router(sfu, whip));
//! # let _ = app; Ok(()) }
//! ```

mod api;
pub mod config;
pub mod error;
pub mod fanout;
pub mod idle;
pub mod keyframe;
pub mod layer;
pub mod offer;
pub mod patch;
pub mod sdpfrag;
mod sfu;
pub mod simulcast;
pub mod splice;
mod viewer;
pub mod whep;
pub mod whip;
pub mod ws;

pub use config::{IceServer, WebRtcConfig};
pub use error::SignalingError;
pub use sfu::{Sfu, StreamLookup, ViewAnswer};
pub use showroom_pipelines::rtp::RtpConfig;
pub use showroom_pipelines::whip::WhipConfig;
pub use simulcast::{Layer, LayerInfo, StreamWebRtcInfo, ViewerLayerInfo};
pub use whip::Whip;

/// All of this crate's routes (WHEP viewers, `/ws/signal`, WHIP publishers), state applied.
pub fn router(sfu: Sfu, whip: Whip) -> axum::Router {
    whep::router(sfu.clone())
        .merge(ws::router(sfu))
        .merge(whip::router(whip))
}
