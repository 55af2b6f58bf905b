//! RTMP ingest: the path OBS, ffmpeg and GStreamer's `rtmp2sink` publish on.
//!
//! `rtmp://HOST:PORT/<app>/<stream key>`: the app must be [`RtmpConfig::app`] (`live`), the key
//! is authenticated with [`PublishTarget::publish`](crate::ingest::PublishTarget::publish).
//! H.264 + AAC only (B-frames included); anything else is refused with an RTMP status and a
//! warn log line, and only that connection closes.
//!
//! ```text
//! TcpListener ─▶ server (accept loop, a task per connection)
//!                 └▶ conn: handshake ─▶ read loop (idle timeout)
//!                     └▶ session: chunk_guard ─▶ rml_rtmp ServerSession ─▶ events
//!                          ├ connect / publish: app check, key auth ─▶ Publisher
//!                          └ audio/video/onMetaData ─▶ to_stream ─▶ Tracks, Units ─▶ bus
//! ```
//!
//! **Refusals.** Each one is a `tracing` warn line (remote address, reason, kind), a count in
//! [`RtmpStats`] under its [`RefusalKind`], and where RTMP allows, a status to the peer:
//!
//! | what | peer is told | kind |
//! |---|---|---|
//! | app other than `live` | `_error` `NetConnection.Connect.Rejected` | `wrong_app` |
//! | unknown stream key | onStatus `NetStream.Publish.BadName` | `unknown_key` |
//! | key already live | onStatus `NetStream.Publish.BadName` | `already_publishing` |
//! | HEVC/AV1/VP9/..., MP3/Opus/... | onStatus `NetStream.Publish.Rejected` | `unsupported_codec` |
//! | no video (metadata, or 3 s of media without an H.264 header) | onStatus `...Rejected` | `no_video` |
//! | engine closed the stream | onStatus `...Rejected` | `stream_closed` |
//! | play | onStatus `NetStream.Play.Failed` | `play` |
//! | not an RTMP handshake / closed mid-handshake | (closed) | `handshake` |
//! | handshake not done in `handshake_timeout` | (closed) | `handshake_timeout` |
//! | silence for `idle_timeout` | (closed; `End` on the bus) | `idle_timeout` |
//! | chunk size > `max_chunk_size`, message > `max_message_size`, interleaved or malformed chunks, > 256 commands | (closed) | `protocol` |
//!
//! Memory per connection is bounded: a 64 KiB read buffer, one message of at most
//! `max_message_size` in rml_rtmp's deserializer, and at most 1024 units / 16 MiB held while
//! the tracks are not known yet.
//!
//! Time: RTMP timestamps (32-bit ms, wrapping) are unwrapped to one 64-bit timeline; a unit's
//! DTS is its tag timestamp, PTS adds the composition time. The track decision in
//! [`to_stream`] is sans-IO (time is an argument).

mod asc;
mod bits;
mod chunk_guard;
mod config;
mod conn;
mod error;
mod flv;
mod handshake;
mod server;
mod session;
mod sps;
mod stats;
mod status;
mod timeline;
pub mod to_stream;

pub use chunk_guard::ChunkError;
pub use config::RtmpConfig;
pub use error::{MediaError, RtmpError};
pub use flv::Truncated;
pub use server::{serve, RtmpServer};
pub use sps::AvcConfigError;
pub use stats::{RefusalKind, RtmpStats};
