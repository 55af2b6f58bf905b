//! What an ingest protocol needs from the rest of the engine, declared here by the consumer.
//!
//! The RTMP server (and later WHIP) sees only this: find the stream a key unlocks, and take its
//! publisher. The engine's stream registry implements it.

use std::sync::Arc;

use crate::stream::{PublishError, Publisher, Stream};

/// Why a publish attempt was refused before any media flowed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IngestRefusal {
    #[error("unknown stream key")]
    UnknownKey,
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// The engine side of ingest: stream keys to streams.
pub trait PublishTarget: Send + Sync + 'static {
    /// The stream that `key` publishes to, if any.
    fn find_by_key(&self, key: &str) -> Option<Arc<Stream>>;

    /// Takes the stream's publisher: `UnknownKey` or `AlreadyPublishing` otherwise.
    fn publish(
        &self,
        key: &str,
        protocol: &'static str,
        remote: &str,
    ) -> Result<Publisher, IngestRefusal> {
        let stream = self.find_by_key(key).ok_or(IngestRefusal::UnknownKey)?;
        Ok(stream.begin_publish(protocol, remote)?)
    }
}
