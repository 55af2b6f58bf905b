//! The per-stream media bus.
//!
//! One [`Stream`] per show. An ingest protocol takes the [`Publisher`] (at most one at a time)
//! and writes [`Unit`]s; every egress holds a [`Reader`] with its own bounded queue. A new output
//! is one more reader, never a converter per ingest protocol.

mod reader;
mod session;
mod upstream;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::sync::mpsc;

pub use reader::{Event, Reader};
pub use session::{ClockAnchor, Session, StreamTime, Track};
pub use upstream::KeyframeHook;

use crate::unit::{TrackKind, Unit};
use reader::{ReaderShared, ReaderSlot};

/// Why a publisher was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishError {
    #[error("stream {0} already has a publisher")]
    AlreadyPublishing(String),
    #[error("no tracks announced before the first unit")]
    NoTracks,
    #[error("stream {0} was closed")]
    Closed(String),
    #[error("the publish session of stream {0} was ended")]
    Ended(String),
}

/// Counters of one stream, readable at any time.
#[derive(Debug, Default)]
pub struct StreamStats {
    pub bytes_in: AtomicU64,
    pub units_in: AtomicU64,
    pub sessions: AtomicU64,
}

/// The live state of one publish session, as the API shows it.
#[derive(Debug, Clone)]
pub struct LiveInfo {
    pub session: Arc<Session>,
    pub started_at: SystemTime,
    /// Bytes of media received in this session.
    pub bytes: u64,
}

/// Media time over which the clock anchor is chosen before a session is announced.
///
/// A publisher's first frames often arrive late (connection set-up) and then in a burst; anchoring
/// on the first unit would put every later PROGRAM-DATE-TIME in the future by that delay. The
/// least-delayed unit of the warm-up (smallest arrival − DTS) gives the anchor instead.
pub const ANCHOR_WARMUP: Duration = Duration::from_millis(500);
/// At most this many units wait for the warm-up.
const WARMUP_UNITS: usize = 256;

struct Live {
    epoch: u64,
    protocol: &'static str,
    remote: String,
    tracks: Option<Vec<Track>>,
    /// Units held (with their arrival time) until the anchor is chosen.
    warmup: Vec<(Unit, SystemTime)>,
    session: Option<Arc<Session>>,
    started_at: SystemTime,
    bytes: u64,
    clock: Option<StreamTime>,
    /// A derived bus (a transcoded rendition) reuses its source session's anchor: no warm-up.
    anchor: Option<ClockAnchor>,
}

#[derive(Default)]
struct Inner {
    live: Option<Live>,
    readers: Vec<ReaderSlot>,
    next_reader: u64,
}

/// One show's media bus.
pub struct Stream {
    id: String,
    inner: Mutex<Inner>,
    closed: std::sync::atomic::AtomicBool,
    epochs: AtomicU64,
    upstream: upstream::Upstream,
    pub stats: StreamStats,
}

impl Stream {
    pub fn new(id: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            id: id.into(),
            inner: Mutex::new(Inner::default()),
            closed: std::sync::atomic::AtomicBool::new(false),
            epochs: AtomicU64::new(0),
            upstream: upstream::Upstream::default(),
            stats: StreamStats::default(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Reserves the stream for one publisher. Refused while another publisher holds it.
    pub fn begin_publish(
        self: &Arc<Self>,
        protocol: &'static str,
        remote: impl Into<String>,
    ) -> Result<Publisher, PublishError> {
        self.reserve(protocol, remote.into(), None)
    }

    /// Reserves a derived bus (a transcoded rendition of `source`) for one session that keeps
    /// the source session's identity: the same epoch and clock anchor, so PROGRAM-DATE-TIME,
    /// discontinuities and MSNs line up with the source. The session starts at the first unit.
    pub fn begin_derived(
        self: &Arc<Self>,
        protocol: &'static str,
        source: &Session,
    ) -> Result<Publisher, PublishError> {
        self.reserve(
            protocol,
            source.remote.clone(),
            Some((source.epoch, source.anchor)),
        )
    }

    fn reserve(
        self: &Arc<Self>,
        protocol: &'static str,
        remote: String,
        derived: Option<(u64, ClockAnchor)>,
    ) -> Result<Publisher, PublishError> {
        if self.is_closed() {
            return Err(PublishError::Closed(self.id.clone()));
        }
        let mut inner = self.inner.lock();
        if inner.live.is_some() {
            return Err(PublishError::AlreadyPublishing(self.id.clone()));
        }
        let epoch = match derived {
            Some((epoch, _)) => {
                self.epochs.fetch_max(epoch, Ordering::Relaxed);
                epoch
            }
            None => self.epochs.fetch_add(1, Ordering::Relaxed) + 1,
        };
        self.stats.sessions.fetch_add(1, Ordering::Relaxed);
        inner.live = Some(Live {
            epoch,
            protocol,
            remote,
            tracks: None,
            warmup: Vec::new(),
            session: None,
            started_at: SystemTime::now(),
            bytes: 0,
            clock: None,
            anchor: derived.map(|(_, anchor)| anchor),
        });
        Ok(Publisher {
            stream: Arc::clone(self),
            epoch,
        })
    }

    /// Registers a reader with a queue of `capacity` events. If a session is running, the
    /// reader first receives its `Start`.
    pub fn subscribe(&self, name: &'static str, capacity: usize) -> Reader {
        let (tx, rx) = mpsc::channel(capacity.max(2));
        let shared = Arc::new(ReaderShared::default());
        let mut inner = self.inner.lock();
        if let Some(session) = inner.live.as_ref().and_then(|l| l.session.clone()) {
            // The queue is empty, so this cannot fail.
            let _ = tx.try_send(Event::Start(session));
        }
        let id = inner.next_reader;
        inner.next_reader += 1;
        inner.readers.push(ReaderSlot {
            id,
            name,
            tx,
            shared: Arc::clone(&shared),
        });
        Reader { rx, shared }
    }

    /// Number of registered readers that are still alive.
    pub fn reader_count(&self) -> usize {
        let mut inner = self.inner.lock();
        inner.readers.retain(|r| !r.tx.is_closed());
        inner.readers.len()
    }

    /// The running session, if a publisher has sent media.
    pub fn live(&self) -> Option<LiveInfo> {
        let inner = self.inner.lock();
        let live = inner.live.as_ref()?;
        Some(LiveInfo {
            session: live.session.clone()?,
            started_at: live.started_at,
            bytes: live.bytes,
        })
    }

    /// Closes the stream for good (it was deleted): the publisher's next write fails with
    /// [`PublishError::Closed`], so its ingest connection ends, and no new publisher is accepted.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    /// Ends the running publish session (staff pressed "end stream"): readers get `End`, the
    /// publisher's next write fails with [`PublishError::Ended`] so its connection closes, and
    /// the stream can be published again. Returns whether a session was running.
    pub fn end_session(&self) -> bool {
        let mut inner = self.inner.lock();
        let Some(live) = inner.live.take() else {
            return false;
        };
        if live.session.is_some() {
            self.broadcast(&mut inner, Event::End { epoch: live.epoch });
        }
        tracing::info!(stream = %self.id, epoch = live.epoch, "publish session ended by staff");
        true
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Whether a publisher holds the stream (even before its first unit).
    pub fn is_publishing(&self) -> bool {
        self.inner.lock().live.is_some()
    }

    /// The stream clock: the newest ingested frame's PTS and its PROGRAM-DATE-TIME.
    pub fn now(&self) -> Option<StreamTime> {
        self.inner.lock().live.as_ref()?.clock
    }

    fn broadcast(&self, inner: &mut Inner, event: Event) {
        let id = &self.id;
        inner
            .readers
            .retain(|slot| slot.offer(id, event.clone()) || log_gone(id, slot));
    }
}

fn log_gone(stream: &str, slot: &ReaderSlot) -> bool {
    tracing::debug!(stream, reader = slot.name, id = slot.id, "reader left");
    false
}

/// The right to write to a stream. Dropping it ends the session.
pub struct Publisher {
    stream: Arc<Stream>,
    epoch: u64,
}

impl Publisher {
    pub fn stream(&self) -> &Arc<Stream> {
        &self.stream
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Announces the tracks. The session starts (readers get `Start`) with the first unit.
    pub fn set_tracks(&self, tracks: Vec<Track>) {
        let mut inner = self.stream.inner.lock();
        if let Some(live) = inner.live.as_mut().filter(|l| l.epoch == self.epoch) {
            live.tracks = Some(tracks);
        }
    }

    /// Writes one unit to every reader. Never blocks. The first [`ANCHOR_WARMUP`] of media is
    /// held back until the session's clock anchor is chosen, then delivered after `Start`.
    pub fn write(&self, unit: Unit) -> Result<(), PublishError> {
        let stream = &self.stream;
        if stream.is_closed() {
            return Err(PublishError::Closed(stream.id.clone()));
        }
        let mut inner = stream.inner.lock();
        let Some(live) = inner.live.as_mut().filter(|l| l.epoch == self.epoch) else {
            return Err(PublishError::Ended(stream.id.clone()));
        };
        if live.tracks.is_none() {
            return Err(PublishError::NoTracks);
        }
        let len = unit.payload.len() as u64;
        stream.stats.bytes_in.fetch_add(len, Ordering::Relaxed);
        stream.stats.units_in.fetch_add(1, Ordering::Relaxed);
        live.bytes += len;
        if live.session.is_none() {
            live.warmup.push((unit, SystemTime::now()));
            let first = live.warmup[0].0.dts;
            let last = live.warmup[live.warmup.len() - 1].0.dts;
            if live.anchor.is_none()
                && last.saturating_sub(first) < ANCHOR_WARMUP
                && live.warmup.len() < WARMUP_UNITS
            {
                return Ok(());
            }
            let session = Arc::new(Session {
                epoch: self.epoch,
                protocol: live.protocol,
                remote: live.remote.clone(),
                tracks: live.tracks.clone().unwrap_or_default(),
                anchor: live.anchor.unwrap_or_else(|| least_delayed(&live.warmup)),
            });
            live.session = Some(Arc::clone(&session));
            let held = std::mem::take(&mut live.warmup);
            for (unit, _) in &held {
                update_clock(live, unit);
            }
            stream.broadcast(&mut inner, Event::Start(session));
            for (unit, _) in held {
                stream.broadcast(&mut inner, Event::Unit(unit));
            }
            return Ok(());
        }
        update_clock(live, &unit);
        stream.broadcast(&mut inner, Event::Unit(unit));
        Ok(())
    }
}

/// The anchor maps each unit's DTS to no later than its arrival: min over units of (arrival − DTS).
fn least_delayed(units: &[(Unit, SystemTime)]) -> ClockAnchor {
    let mut best = ClockAnchor {
        dts: units[0].0.dts,
        wall: units[0].1,
    };
    for (unit, arrival) in &units[1..] {
        if best.wall_at(unit.dts) > *arrival {
            best = ClockAnchor {
                dts: unit.dts,
                wall: *arrival,
            };
        }
    }
    best
}

fn update_clock(live: &mut Live, unit: &Unit) {
    let Some(session) = &live.session else { return };
    let has_video = session.track(TrackKind::Video).is_some();
    if unit.track == TrackKind::Video || !has_video {
        live.clock = Some(StreamTime {
            epoch: live.epoch,
            pts: unit.pts,
            wall: session.anchor.wall_at(unit.pts),
        });
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let mut inner = self.stream.inner.lock();
        if inner.live.as_ref().is_some_and(|l| l.epoch == self.epoch) {
            let had_media = inner.live.as_ref().is_some_and(|l| l.session.is_some());
            inner.live = None;
            if had_media {
                self.stream
                    .broadcast(&mut inner, Event::End { epoch: self.epoch });
            }
            tracing::info!(stream = %self.stream.id, epoch = self.epoch, "publish session ended");
        }
    }
}

#[cfg(test)]
mod tests;
