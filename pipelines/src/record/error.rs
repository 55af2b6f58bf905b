//! Why recording, or serving a recording, failed.

/// Errors of the recorder and the recording store. The engine maps them to HTTP statuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// No recording, no such file, or a name that is not one of ours: 404.
    #[error("not found")]
    NotFound,
    /// The session has no H.264 or AAC track.
    #[error("no H.264/AAC track to record")]
    NoTracks,
    #[error("GStreamer: {0}")]
    Gst(String),
    #[error(transparent)]
    S3(#[from] super::s3::S3Error),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl From<gst::glib::BoolError> for RecordError {
    fn from(e: gst::glib::BoolError) -> Self {
        Self::Gst(e.to_string())
    }
}

impl From<gst::StateChangeError> for RecordError {
    fn from(e: gst::StateChangeError) -> Self {
        Self::Gst(e.to_string())
    }
}

impl From<gst::PadLinkError> for RecordError {
    fn from(e: gst::PadLinkError) -> Self {
        Self::Gst(e.to_string())
    }
}
