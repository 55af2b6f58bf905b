//! Why the origin refused a request.

/// Errors of the LL-HLS origin. The engine maps them to HTTP statuses.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginError {
    /// No such rendition, segment, part or init (or it was evicted): 404.
    #[error("not found")]
    NotFound,
    /// Nothing was ever published, or the first segment is not complete yet: 404.
    #[error("stream is not live")]
    NotLive,
    /// Malformed or impossible request: 400.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A held request outlived `max_hold` (the publisher stalled): 503.
    #[error("timed out waiting for media")]
    Timeout,
}
