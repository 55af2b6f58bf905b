//! What commerce needs from the engine: which streams exist, their clock, their LL-HLS timeline.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

/// The engine side of the shop: which streams exist, their stream clock, and the LL-HLS timeline.
pub trait StreamDirectory: Send + Sync + 'static {
    /// The stream exists (created via the streams API; live or not).
    fn exists(&self, stream_id: &str) -> bool;
    /// After `exists` said no: look in the shared store (a stream created by another engine
    /// process) and answer again. Default: nothing to look in.
    fn exists_fresh<'a>(
        &'a self,
        stream_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(std::future::ready(self.exists(stream_id)))
    }
    /// `key` is that stream's RTMP/WHIP stream key (used to issue host tokens).
    fn check_stream_key(&self, stream_id: &str, key: &str) -> bool;
    /// The stream clock now: newest ingested frame's PTS and its PROGRAM-DATE-TIME; None when not live.
    fn clock(&self, stream_id: &str) -> Option<StreamClock>;
    /// Put a marker on the stream's LL-HLS timeline (becomes an EXT-X-DATERANGE).
    fn mark(&self, stream_id: &str, marker: TimelineMarker);
}

/// A stream's clock reading: the newest ingested frame's PTS on publish session `epoch`, and the
/// wall-clock time (PROGRAM-DATE-TIME) that frame maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamClock {
    pub epoch: u64,
    pub pts: Duration,
    pub wall: SystemTime,
}

/// A marker for the LL-HLS media playlist (rendered as `EXT-X-DATERANGE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineMarker {
    /// DATERANGE `ID`. Re-marking the same id later with a `duration` closes the range.
    pub id: String,
    /// DATERANGE `CLASS`, e.g. `com.showroom.pin`.
    pub class: String,
    pub start: SystemTime,
    pub duration: Option<Duration>,
    /// `X-...` attribute names with plain (unquoted-by-us) values.
    pub attributes: Vec<(String, String)>,
}
