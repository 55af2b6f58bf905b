//! Sans-IO real-time check: is the ladder keeping up with the source?
//!
//! Input: at each source video unit, the time (any monotonic clock, as an argument) and the
//! worst lag among the running renditions (newest source PTS pushed minus newest PTS the
//! rendition's encoder produced). Output: whether to drop a rendition now. A lag above
//! `max_lag` that lasts `grace` and grew over it means the machine cannot encode the ladder in
//! real time. A lag that shrank (a backlog draining after a drop, or after a publisher's burst)
//! starts a new observation window instead.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Watchdog {
    max_lag: Duration,
    grace: Duration,
    /// When the lag went above `max_lag`, and how large it was then.
    behind_since: Option<(Duration, Duration)>,
}

impl Watchdog {
    pub fn new(max_lag: Duration, grace: Duration) -> Self {
        Self {
            max_lag,
            grace,
            behind_since: None,
        }
    }

    /// Returns true when the most expensive rendition must be dropped now.
    pub fn observe(&mut self, now: Duration, worst_lag: Option<Duration>) -> bool {
        let Some(lag) = worst_lag.filter(|l| *l > self.max_lag) else {
            self.behind_since = None;
            return false;
        };
        let (since, lag_then) = *self.behind_since.get_or_insert((now, lag));
        if now.saturating_sub(since) < self.grace {
            return false;
        }
        if lag <= lag_then {
            // Draining: watch a new window from here.
            self.behind_since = Some((now, lag));
            return false;
        }
        self.behind_since = None;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn drops_only_after_a_sustained_lag_then_waits_again() {
        let mut w = Watchdog::new(MS * 1500, MS * 3000);
        // A short burst of lag (a publisher's hiccup) is tolerated.
        assert!(!w.observe(Duration::ZERO, Some(MS * 2000)));
        assert!(!w.observe(MS * 2000, Some(MS * 2000)));
        assert!(!w.observe(MS * 2100, Some(MS * 100)));
        assert!(!w.observe(MS * 4000, Some(MS * 1600)));
        // Sustained and growing: 3 s after it began, one drop.
        assert!(!w.observe(MS * 6900, Some(MS * 2500)));
        assert!(w.observe(MS * 7000, Some(MS * 2600)));
        // Still behind right after: the rest get a fresh window.
        assert!(!w.observe(MS * 7100, Some(MS * 2600)));
        assert!(!w.observe(MS * 9900, Some(MS * 2700)));
        assert!(w.observe(MS * 10_200, Some(MS * 2800)));
        // Behind but draining: no drop, a new window.
        assert!(!w.observe(MS * 10_300, Some(MS * 2800)));
        assert!(!w.observe(MS * 13_400, Some(MS * 2000)));
        assert!(!w.observe(MS * 16_500, Some(MS * 1600)));
        // No renditions (nothing measured): never.
        assert!(!w.observe(MS * 20_000, None));
    }

    /// Driven faster than real time: a ladder that needs 1.5x real time to encode falls
    /// behind linearly; the watchdog fires once per grace period until the cost fits.
    #[test]
    fn emulated_overload_sheds_until_real_time() {
        let mut w = Watchdog::new(MS * 1500, MS * 3000);
        // Relative encode cost of each rendition; 1.0 = the machine's real-time budget.
        let mut costs = vec![0.8, 0.4, 0.3];
        let mut lag = 0.0f64;
        let mut dropped = 0;
        for tick in 0..600u64 {
            let now = MS * (tick as u32 * 100);
            let load: f64 = costs.iter().sum();
            lag = (lag + 0.1 * (load - 1.0)).max(0.0);
            let worst = (!costs.is_empty()).then(|| Duration::from_secs_f64(lag));
            if w.observe(now, worst) {
                costs.remove(0);
                dropped += 1;
            }
        }
        assert_eq!(
            dropped, 1,
            "0.7 of the budget holds: only the 0.8 rendition goes"
        );
        assert_eq!(costs, vec![0.4, 0.3]);
    }
}
