//! Why an RTMP connection was refused or ended, and what the peer is told.

use std::time::Duration;

use rml_rtmp::handshake::HandshakeError;
use rml_rtmp::sessions::ServerSessionError;

use super::chunk_guard::ChunkError;
use super::flv::Truncated;
use super::sps::AvcConfigError;
use super::stats::RefusalKind;
use crate::stream::PublishError;

/// Why the media of a publish session was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    #[error("unsupported video codec: {0} (only H.264 is accepted)")]
    UnsupportedVideo(String),
    #[error("unsupported audio codec: {0} (only AAC is accepted)")]
    UnsupportedAudio(String),
    #[error("no video: {0}")]
    NoVideo(&'static str),
    #[error(transparent)]
    Truncated(#[from] Truncated),
    #[error("bad H.264 configuration: {0}")]
    AvcConfig(#[from] AvcConfigError),
    #[error("bad AAC AudioSpecificConfig")]
    AacConfig,
    #[error("media bus refused the unit: {0}")]
    Bus(#[from] PublishError),
}

/// Why a connection ended early. The server logs it (warn, with the remote address) and counts
/// it under [`RtmpError::kind`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RtmpError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("not an RTMP handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("peer closed the connection during the handshake")]
    HandshakeClosed,
    #[error("handshake not completed within {0:?}")]
    HandshakeTimeout(Duration),
    #[error("no data received for {0:?}")]
    IdleTimeout(Duration),
    #[error("chunk stream refused: {0}")]
    Chunk(#[from] ChunkError),
    #[error("RTMP session error: {0}")]
    Session(#[from] ServerSessionError),
    #[error("malformed RTMP message: {0}")]
    Malformed(&'static str),
    #[error("wrong app {got:?} (only {expected:?} is accepted)")]
    WrongApp { got: String, expected: String },
    #[error("unknown stream key")]
    UnknownKey,
    #[error("stream {0} already has a publisher")]
    AlreadyPublishing(String),
    #[error("RTMP playback is not served (play with LL-HLS or WebRTC)")]
    Play,
    #[error("a second publish on one connection")]
    SecondPublish,
    #[error(transparent)]
    Media(#[from] MediaError),
}

impl RtmpError {
    /// The counter this error goes to.
    pub fn kind(&self) -> RefusalKind {
        match self {
            RtmpError::Io(_) => RefusalKind::Io,
            RtmpError::Handshake(_) | RtmpError::HandshakeClosed => RefusalKind::Handshake,
            RtmpError::HandshakeTimeout(_) => RefusalKind::HandshakeTimeout,
            RtmpError::IdleTimeout(_) => RefusalKind::IdleTimeout,
            RtmpError::Chunk(_)
            | RtmpError::Session(_)
            | RtmpError::Malformed(_)
            | RtmpError::SecondPublish => RefusalKind::Protocol,
            RtmpError::WrongApp { .. } => RefusalKind::WrongApp,
            RtmpError::UnknownKey => RefusalKind::UnknownKey,
            RtmpError::AlreadyPublishing(_) => RefusalKind::AlreadyPublishing,
            RtmpError::Play => RefusalKind::Play,
            RtmpError::Media(MediaError::UnsupportedVideo(_) | MediaError::UnsupportedAudio(_)) => {
                RefusalKind::UnsupportedCodec
            }
            RtmpError::Media(MediaError::NoVideo(_)) => RefusalKind::NoVideo,
            RtmpError::Media(MediaError::Bus(PublishError::Closed(_))) => RefusalKind::StreamClosed,
            RtmpError::Media(_) => RefusalKind::Protocol,
        }
    }

    /// The onStatus code a publishing peer is sent before the connection closes, if any.
    pub(super) fn publish_status(&self) -> Option<&'static str> {
        match self {
            RtmpError::UnknownKey | RtmpError::AlreadyPublishing(_) => {
                Some("NetStream.Publish.BadName")
            }
            RtmpError::Media(_) | RtmpError::SecondPublish => Some("NetStream.Publish.Rejected"),
            RtmpError::Play => Some("NetStream.Play.Failed"),
            _ => None,
        }
    }
}
