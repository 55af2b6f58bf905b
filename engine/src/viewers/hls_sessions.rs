//! LL-HLS player sessions, estimated from media playlist requests. Sans-IO: time is an argument.
//!
//! A player keeps asking for its media playlist: hls.js in low-latency mode holds one blocking
//! `_HLS_msn` request after another (several a second), a plain HLS player reloads every target
//! duration. A client seen on a successful media playlist request within the last `window` counts
//! as one session. The client key is the `cid` query parameter when the player sends one (our web
//! client does: one random id per page), else its address and User-Agent (players behind one NAT
//! with the same browser then count once). Keys are hashed by the caller; at most `cap` clients
//! are tracked (beyond that, new clients are not counted until old ones expire).

use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct HlsSessions {
    window: Duration,
    cap: usize,
    streams: HashMap<String, HashMap<u64, Instant>>,
    tracked: usize,
}

impl HlsSessions {
    pub fn new(window: Duration, cap: usize) -> Self {
        Self {
            window,
            cap,
            streams: HashMap::new(),
            tracked: 0,
        }
    }

    /// A successful media playlist request of `client` on `stream` at `now`.
    pub fn seen(&mut self, stream: &str, client: u64, now: Instant) {
        if let Some(clients) = self.streams.get_mut(stream) {
            if let Some(t) = clients.get_mut(&client) {
                *t = now;
                return;
            }
        }
        if self.tracked >= self.cap {
            self.prune(now);
            if self.tracked >= self.cap {
                return;
            }
        }
        self.streams
            .entry(stream.to_owned())
            .or_default()
            .insert(client, now);
        self.tracked += 1;
    }

    /// Sessions of `stream` seen within the window before `now`.
    pub fn count(&self, stream: &str, now: Instant) -> usize {
        self.streams.get(stream).map_or(0, |clients| {
            clients
                .values()
                .filter(|t| now.saturating_duration_since(**t) <= self.window)
                .count()
        })
    }

    /// Forget sessions older than the window (and streams left without any).
    pub fn prune(&mut self, now: Instant) {
        let window = self.window;
        self.streams.retain(|_, clients| {
            clients.retain(|_, t| now.saturating_duration_since(*t) <= window);
            !clients.is_empty()
        });
        self.tracked = self.streams.values().map(HashMap::len).sum();
    }

    /// Clients tracked now (all streams), for tests and metrics.
    pub fn tracked(&self) -> usize {
        self.tracked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(6);

    #[test]
    fn a_client_counts_once_while_it_keeps_asking() {
        let t0 = Instant::now();
        let mut s = HlsSessions::new(W, 100);
        for i in 0..30 {
            // hls.js: video and audio playlists, every 200 ms part
            s.seen("a", 1, t0 + Duration::from_millis(200 * i));
        }
        s.seen("a", 2, t0);
        s.seen("b", 1, t0);
        let now = t0 + Duration::from_secs(6);
        assert_eq!(s.count("a", now), 2);
        assert_eq!(s.count("b", now), 1);
        assert_eq!(s.count("nope", now), 0);
        // client 2 stopped at t0: gone after the window; client 1 asked until 5.8 s
        let later = t0 + Duration::from_millis(6_500);
        assert_eq!(s.count("a", later), 1);
        assert_eq!(s.count("b", later), 0);
        s.prune(later);
        assert_eq!(s.tracked(), 1);
        assert_eq!(s.count("a", t0 + Duration::from_secs(12)), 0);
    }

    #[test]
    fn the_cap_bounds_memory_and_frees_with_time() {
        let t0 = Instant::now();
        let mut s = HlsSessions::new(W, 3);
        for c in 0..5 {
            s.seen("a", c, t0);
        }
        assert_eq!((s.tracked(), s.count("a", t0)), (3, 3));
        // a known client still refreshes when full
        s.seen("a", 0, t0 + Duration::from_secs(5));
        assert_eq!(s.count("a", t0 + Duration::from_secs(7)), 1);
        // once the others expired, new clients are tracked again
        s.seen("a", 9, t0 + Duration::from_secs(7));
        assert_eq!(s.count("a", t0 + Duration::from_secs(7)), 2);
    }
}
