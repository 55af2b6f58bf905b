//! When a stream's RTP egress has had no viewer long enough to stop (sans-IO: time is an
//! argument).

use std::time::{Duration, Instant};

/// Says "stop" once the viewer count has stayed at zero for `after` (zero = never).
#[derive(Debug, Clone)]
pub struct IdleTimer {
    after: Duration,
    since: Option<Instant>,
}

impl IdleTimer {
    pub fn new(after: Duration) -> Self {
        Self { after, since: None }
    }

    /// The configured idle time.
    pub fn after(&self) -> Duration {
        self.after
    }

    /// `viewers` watch at `now`: true when the egress should stop.
    pub fn observe(&mut self, now: Instant, viewers: usize) -> bool {
        if self.after.is_zero() || viewers > 0 {
            self.since = None;
            return false;
        }
        let since = *self.since.get_or_insert(now);
        now.saturating_duration_since(since) >= self.after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_after_continuous_idle_only() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut t = IdleTimer::new(Duration::from_secs(1));
        assert!(!t.observe(ms(0), 0));
        assert!(!t.observe(ms(900), 0));
        assert!(!t.observe(ms(950), 1), "a viewer resets the timer");
        assert!(!t.observe(ms(1000), 0));
        assert!(!t.observe(ms(1999), 0));
        assert!(t.observe(ms(2000), 0));
    }

    #[test]
    fn zero_means_never() {
        let t0 = Instant::now();
        let mut t = IdleTimer::new(Duration::ZERO);
        assert!(!t.observe(t0, 0));
        assert!(!t.observe(t0 + Duration::from_secs(3600), 0));
    }
}
