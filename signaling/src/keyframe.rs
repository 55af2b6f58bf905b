//! Coalescing of viewers' PLI/FIR into upstream keyframe requests (sans-IO: time is an argument).

use std::time::{Duration, Instant};

/// Lets at most one keyframe request through per `interval`; the rest are counted and dropped.
#[derive(Debug)]
pub struct KeyframeGate {
    interval: Duration,
    last: Option<Instant>,
    coalesced: u64,
}

impl KeyframeGate {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
            coalesced: 0,
        }
    }

    /// A viewer asked for a keyframe at `now`: true when it should go upstream.
    pub fn request(&mut self, now: Instant) -> bool {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < self.interval => {
                self.coalesced += 1;
                false
            }
            _ => {
                self.last = Some(now);
                true
            }
        }
    }

    /// Requests absorbed by an earlier one.
    pub fn coalesced(&self) -> u64 {
        self.coalesced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_are_coalesced_to_one_per_interval() {
        let t0 = Instant::now();
        let mut g = KeyframeGate::new(Duration::from_millis(500));
        assert!(g.request(t0));
        for ms in [1, 100, 250, 499] {
            assert!(!g.request(t0 + Duration::from_millis(ms)));
        }
        assert_eq!(g.coalesced(), 4);
        assert!(g.request(t0 + Duration::from_millis(500)));
        assert!(!g.request(t0 + Duration::from_millis(700)));
        assert!(g.request(t0 + Duration::from_millis(1001)));
    }
}
