//! The crate's error, and how it answers over HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Everything that can go wrong in signaling. Each variant maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignalingError {
    #[error("malformed SDP offer: {0}")]
    BadSdp(String),
    #[error("no acceptable codec: {0}")]
    NoCodec(String),
    #[error("unknown stream {0}")]
    UnknownStream(String),
    #[error("stream {0} is not live")]
    NotLive(String),
    #[error("bad message: {0}")]
    BadMessage(String),
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("stream {0} already has a publisher")]
    Busy(String),
    #[error("ingest failed: {0}")]
    Ingest(String),
    #[error("unknown session {0}")]
    UnknownSession(String),
    #[error("too many viewers")]
    Full,
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    #[error("malformed sdpfrag: {0}")]
    BadSdpFrag(String),
    #[error("unsupported media type: {0}")]
    MediaType(String),
    #[error("precondition failed: {0}")]
    Precondition(String),
    #[error("unprocessable: {0}")]
    Unprocessable(&'static str),
    #[error("WebRTC: {0}")]
    WebRtc(#[from] webrtc::Error),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl SignalingError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadSdp(_) | Self::BadMessage(_) | Self::BadSdpFrag(_) => StatusCode::BAD_REQUEST,
            Self::MediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Precondition(_) => StatusCode::PRECONDITION_FAILED,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NoCodec(_) => StatusCode::NOT_ACCEPTABLE,
            Self::UnknownStream(_) | Self::UnknownSession(_) => StatusCode::NOT_FOUND,
            Self::NotLive(_) | Self::Busy(_) => StatusCode::CONFLICT,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Full => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unsupported(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::WebRtc(_) | Self::Io(_) | Self::Ingest(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for SignalingError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "signaling: internal error");
            (status, "internal error\n").into_response()
        } else {
            tracing::warn!(status = status.as_u16(), reason = %self, "signaling: request refused");
            (status, format!("{self}\n")).into_response()
        }
    }
}
