//! Feedback from readers to the publisher: keyframe requests (a WebRTC reader's viewers joined
//! or lost a picture). A WHIP publisher turns them into an RTCP PLI; RTMP has no way back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Publisher, Stream};

/// What a publisher runs when a reader wants a keyframe. Called on the requester's thread:
/// never block.
pub type KeyframeHook = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
pub(super) struct Upstream {
    /// The hook of the publish session with this epoch.
    hook: Mutex<Option<(u64, KeyframeHook)>>,
    /// Requests that reached a publisher.
    pub(super) forwarded: AtomicU64,
}

impl Stream {
    /// Asks the current publisher for a keyframe. Returns whether a publisher took the request
    /// (false: none, or its protocol cannot ask its source). Callers coalesce their requests.
    pub fn request_keyframe(&self) -> bool {
        let epoch = self.inner.lock().live.as_ref().map(|l| l.epoch);
        let hook = match (&*self.upstream.hook.lock(), epoch) {
            (Some((e, h)), Some(live)) if *e == live => Arc::clone(h),
            _ => return false,
        };
        self.upstream.forwarded.fetch_add(1, Ordering::Relaxed);
        hook();
        true
    }

    /// Keyframe requests that reached a publisher so far.
    pub fn keyframe_requests(&self) -> u64 {
        self.upstream.forwarded.load(Ordering::Relaxed)
    }
}

impl Publisher {
    /// Lets readers ask this publish session for keyframes ([`Stream::request_keyframe`]).
    /// The hook lives until the next session sets its own.
    pub fn on_keyframe_request(&self, hook: KeyframeHook) {
        *self.stream.upstream.hook.lock() = Some((self.epoch, hook));
    }
}
