//! Showroom's media plane: the per-stream media bus and everything GStreamer.
//!
//! **Who drives it.** The engine creates one [`stream::Stream`] per show and hands ingest
//! servers a [`ingest::PublishTarget`]. Ingest tasks (the RTMP server in [`rtmp`]) do network
//! I/O on tokio; egress graphs run GStreamer streaming threads. Nothing here speaks HTTP: the
//! LL-HLS origin in [`llhls`] answers typed requests that the engine maps to routes.
//!
//! **Data flow.**
//! ```text
//! RTMP publish ─▶ rtmp::to_stream ─▶ Publisher::write(Unit) ─▶ Stream (bus)
//!                                                               │ one bounded queue per reader
//!                                                               ├─▶ llhls::from_stream: appsrc → parse
//!                                                               │     → cmafmux → appsink → Origin
//!                                                               ├─▶ record::from_stream: cmafmux'd
//!                                                               │     segments to disk (replay)
//!                                                               └─▶ rtp (SFU), ...
//! ```
//!
//! **Time model.** A [`unit::Unit`] carries PTS/DTS on its publish session's media timeline.
//! The session's [`stream::ClockAnchor`] maps media time to wall-clock time once, at the first
//! unit; HLS `PROGRAM-DATE-TIME` and the commerce stream clock ([`stream::Stream::now`]) both
//! come from it, so an event stamped with the stream clock lands on the frame it names.
//!
//! ```
//! use showroom_pipelines::{stream::{Event, Stream, Track}, unit::{Codec, Unit, TrackKind}};
//! # use std::time::Duration;
//! let stream = Stream::new("show-1");
//! let mut hls = stream.subscribe("llhls", 1024);
//! let publisher = stream.begin_publish("rtmp", "127.0.0.1:50000").unwrap();
//! publisher.set_tracks(vec![Track::video(Codec::H264 { config: bytes::Bytes::new() })]);
//! // The session starts once the clock anchor's warm-up (500 ms of media) has arrived.
//! for i in 0..20u64 {
//!     publisher.write(Unit {
//!         track: TrackKind::Video, pts: Duration::from_millis(i * 40),
//!         dts: Duration::from_millis(i * 40), keyframe: i == 0, payload: bytes::Bytes::new(),
//!     }).unwrap();
//! }
//! assert!(stream.now().is_some());
//! assert!(matches!(hls.blocking_recv(), Some(Event::Start(_))));
//! ```

pub mod caps;
pub mod elements;
pub mod gst_bus;
pub mod gst_init;
pub mod ingest;
pub mod llhls;
pub mod record;
pub mod rtmp;
pub mod rtp;
pub mod stream;
pub mod transcode;
pub mod unit;
pub mod whip;
