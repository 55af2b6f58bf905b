//! Wiring between the stream registry and the commerce layer: the registry is the shop's
//! [`StreamDirectory`] (which streams exist, their stream clock, their LL-HLS timeline).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use showroom_commerce::{StreamClock, StreamDirectory, TimelineMarker};
use showroom_pipelines::llhls::DateRange;

use crate::registry::Registry;
use crate::secrets::constant_time_eq;

/// The registry as seen by the commerce layer.
pub struct ShopDirectory(pub Arc<Registry>);

impl StreamDirectory for ShopDirectory {
    fn exists(&self, stream_id: &str) -> bool {
        self.0.get(stream_id).is_some()
    }

    /// A miss reads the database: another engine process on the same database may have
    /// created the stream a moment ago.
    fn exists_fresh<'a>(
        &'a self,
        stream_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            match self.0.get_or_load(stream_id).await {
                Ok(found) => found.is_some(),
                Err(e) => {
                    tracing::warn!(stream_id, error = %e, "stream lookup failed");
                    false
                }
            }
        })
    }

    fn check_stream_key(&self, stream_id: &str, key: &str) -> bool {
        self.0
            .get(stream_id)
            .is_some_and(|e| constant_time_eq(&e.record.stream_key, key))
    }

    fn clock(&self, stream_id: &str) -> Option<StreamClock> {
        let now = self.0.get(stream_id)?.bus.now()?;
        Some(StreamClock {
            epoch: now.epoch,
            pts: now.pts,
            wall: now.wall,
        })
    }

    fn mark(&self, stream_id: &str, marker: TimelineMarker) {
        if let Some(entry) = self.0.get(stream_id) {
            entry.origin.add_daterange(DateRange {
                id: marker.id,
                class: marker.class,
                start: marker.start,
                duration: marker.duration,
                attributes: marker.attributes,
            });
        }
    }
}
