//! The LL-HLS origin of one stream: typed requests in, playlist and media bytes out.
//!
//! It knows nothing of HTTP. Blocking requests await a per-rendition `watch` channel that the
//! packager bumps on every new part, so a held request costs one parked task and no polling.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::watch;

use super::config::LlHlsConfig;
use super::daterange::DateRange;
use super::error::OriginError;
use super::playlist;
use super::request::PlaylistQuery;
use super::state::State;
use super::store::Rendition;
use crate::unit::TrackKind;

pub const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const PLAIN_PLAYLIST_CACHE: &str = "no-cache";
const BLOCKING_PLAYLIST_CACHE: &str = "public, max-age=60";
const MEDIA_CACHE: &str = "public, max-age=3600";
/// Date ranges kept at most (the oldest go first), so memory stays bounded before going live.
const MAX_DATERANGES: usize = 256;

/// A response body with the headers the HTTP layer must set.
#[derive(Debug, Clone)]
pub struct HlsBody {
    pub bytes: Bytes,
    pub content_type: &'static str,
    pub cache_control: &'static str,
}

/// Counters of one origin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OriginStats {
    pub parts_produced: u64,
    pub segments: u64,
    pub requests: u64,
    /// Requests being held right now (gauge).
    pub held_now: i64,
    /// Requests that had to wait (counter): a request answered at once does not count.
    pub held_total: u64,
}

/// One stream's LL-HLS origin, alive across publish sessions.
pub struct Origin {
    id: String,
    pub(super) config: LlHlsConfig,
    pub(super) state: Mutex<State>,
    pub(super) parts: AtomicU64,
    pub(super) segments: AtomicU64,
    requests: AtomicU64,
    held: AtomicI64,
    held_total: AtomicU64,
}

struct HeldGuard<'a>(&'a AtomicI64);

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Origin {
    pub fn new(id: impl Into<String>, config: LlHlsConfig) -> Self {
        let window = config.window();
        Self {
            id: id.into(),
            config,
            state: Mutex::new(State {
                window,
                ..State::default()
            }),
            parts: AtomicU64::new(0),
            segments: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            held: AtomicI64::new(0),
            held_total: AtomicU64::new(0),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn stats(&self) -> OriginStats {
        OriginStats {
            parts_produced: self.parts.load(Ordering::Relaxed),
            segments: self.segments.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            held_now: self.held.load(Ordering::Relaxed),
            held_total: self.held_total.load(Ordering::Relaxed),
        }
    }

    /// Adds timed metadata; it is listed while it overlaps the playlist window.
    pub fn add_daterange(&self, range: DateRange) {
        let mut st = self.state.lock();
        st.touch();
        st.dateranges.retain(|d| d.id != range.id);
        st.dateranges.push(range);
        if let Some(oldest) = st
            .renditions
            .iter()
            .filter_map(|r| r.segs.front().map(|s| s.pdt))
            .min()
        {
            st.dateranges.retain(|d| d.relevant_after(oldest));
        }
        if st.dateranges.len() > MAX_DATERANGES {
            let excess = st.dateranges.len() - MAX_DATERANGES;
            st.dateranges.drain(..excess);
            tracing::warn!(stream = %self.id, excess, "llhls: too many date ranges, oldest dropped");
        }
    }

    pub fn multivariant(&self) -> Result<HlsBody, OriginError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let st = self.state.lock();
        if !st.live() {
            return Err(OriginError::NotLive);
        }
        let text = playlist::multivariant(&st).ok_or(OriginError::NotLive)?;
        Ok(HlsBody {
            bytes: Bytes::from(text),
            content_type: PLAYLIST_TYPE,
            cache_control: PLAIN_PLAYLIST_CACHE,
        })
    }

    /// The rendition's index and a receiver of its change notifications.
    fn index(&self, rendition: &str) -> Result<(usize, watch::Receiver<u64>), OriginError> {
        let st = self.state.lock();
        if st.renditions.is_empty() {
            return Err(OriginError::NotLive);
        }
        let (idx, r) = st.rendition(rendition).ok_or(OriginError::NotFound)?;
        Ok((idx, r.notify.subscribe()))
    }

    /// Waits (at most `max_hold`) until `ready` holds for rendition `idx`.
    async fn wait(
        &self,
        idx: usize,
        mut rx: watch::Receiver<u64>,
        ready: impl Fn(&Rendition) -> bool,
    ) -> Result<(), OriginError> {
        let check = || self.state.lock().renditions.get(idx).is_some_and(&ready);
        if check() {
            return Ok(());
        }
        self.held.fetch_add(1, Ordering::Relaxed);
        self.held_total.fetch_add(1, Ordering::Relaxed);
        let _guard = HeldGuard(&self.held);
        let deadline = tokio::time::Instant::now() + self.config.max_hold();
        loop {
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {
                    if check() {
                        return Ok(());
                    }
                }
                Ok(Err(_)) => return Err(OriginError::NotFound),
                Err(_) => {
                    tracing::debug!(stream = %self.id, "llhls: held request timed out");
                    return Err(OriginError::Timeout);
                }
            }
        }
    }

    /// A media playlist; with `_HLS_msn` (and `_HLS_part`) held until that segment/part exists.
    pub async fn media_playlist(
        &self,
        rendition: &str,
        query: &PlaylistQuery,
    ) -> Result<HlsBody, OriginError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let (idx, rx) = self.index(rendition)?;
        {
            let st = self.state.lock();
            if !st.live() {
                return Err(OriginError::NotLive);
            }
            if let (Some(msn), Some(r)) = (query.msn, st.renditions.get(idx)) {
                if msn > r.max_msn() {
                    tracing::debug!(stream = %self.id, rendition, msn, max = r.max_msn(), "llhls: _HLS_msn too far ahead");
                    return Err(OriginError::BadRequest(format!(
                        "_HLS_msn={msn} is beyond the live edge"
                    )));
                }
                if query.part.is_some_and(|p| p > 1000) {
                    tracing::debug!(stream = %self.id, rendition, part = ?query.part, "llhls: _HLS_part too large");
                    return Err(OriginError::BadRequest("_HLS_part is too large".into()));
                }
            }
        }
        let cache = match query.msn {
            Some(msn) => {
                let part = query.part;
                self.wait(idx, rx, |r| r.has_reached(msn, part)).await?;
                BLOCKING_PLAYLIST_CACHE
            }
            None => PLAIN_PLAYLIST_CACHE,
        };
        let text = self
            .state
            .lock()
            .media_playlist(idx, query.skip)
            .ok_or(OriginError::NotLive)?;
        Ok(HlsBody {
            bytes: text,
            content_type: PLAYLIST_TYPE,
            cache_control: cache,
        })
    }

    /// The init segment of publish session `name` (its epoch, as in the EXT-X-MAP URI).
    pub async fn init(&self, rendition: &str, name: &str) -> Result<HlsBody, OriginError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let epoch: u64 = name.parse().map_err(|_| OriginError::NotFound)?;
        let (idx, _) = self.index(rendition)?;
        let st = self.state.lock();
        let r = st.renditions.get(idx).ok_or(OriginError::NotFound)?;
        let bytes = r.inits.get(&epoch).cloned().ok_or(OriginError::NotFound)?;
        Ok(HlsBody {
            bytes,
            content_type: media_type(r.kind),
            cache_control: MEDIA_CACHE,
        })
    }

    /// A complete segment (all its parts).
    pub async fn segment(&self, rendition: &str, msn: u64) -> Result<HlsBody, OriginError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let (idx, _) = self.index(rendition)?;
        let st = self.state.lock();
        let r = st.renditions.get(idx).ok_or(OriginError::NotFound)?;
        let bytes = r.segment_bytes(msn).ok_or(OriginError::NotFound)?;
        Ok(HlsBody {
            bytes,
            content_type: media_type(r.kind),
            cache_control: MEDIA_CACHE,
        })
    }

    /// Part number `seq` (numbered across the stream). The next parts (the preload hint) are
    /// held until they exist, then sent whole.
    pub async fn part(&self, rendition: &str, seq: u64) -> Result<HlsBody, OriginError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let (idx, rx) = self.index(rendition)?;
        {
            let st = self.state.lock();
            let r = st.renditions.get(idx).ok_or(OriginError::NotFound)?;
            if seq < r.oldest_seq() || seq > r.next_seq + 2 {
                return Err(OriginError::NotFound);
            }
        }
        self.wait(idx, rx, |r| seq < r.next_seq).await?;
        let st = self.state.lock();
        let r = st.renditions.get(idx).ok_or(OriginError::NotFound)?;
        let bytes = r.part_bytes(seq).ok_or(OriginError::NotFound)?;
        Ok(HlsBody {
            bytes,
            content_type: media_type(r.kind),
            cache_control: MEDIA_CACHE,
        })
    }
}

fn media_type(kind: TrackKind) -> &'static str {
    match kind {
        TrackKind::Video => "video/mp4",
        TrackKind::Audio => "audio/mp4",
    }
}
