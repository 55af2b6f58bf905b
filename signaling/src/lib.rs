//! Showroom's WebRTC half — **not built yet** (see the WebRTC issue). Nothing here works today.
//!
//! It will own WHIP ingest and WHEP egress (RFC 9725), the `/ws/signal` WebSocket signaling
//! protocol, SDP/ICE handling, and the SFU forwarder: one RTP packetization per stream read from
//! the media bus in `showroom-pipelines`, forwarded to every viewer with a bounded queue each,
//! PLI/FIR coalesced upstream and NACK answered from a per-stream cache. Rooms and commerce stay
//! outside; the engine only merges this crate's router.
