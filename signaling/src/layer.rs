//! Per-viewer choice of a simulcast-style layer from congestion feedback (sans-IO: time is an
//! argument).
//!
//! Layer 0 is the source, then the renditions from the highest to the lowest bitrate. Feedback
//! goes in ([`LayerController::on_loss`] from RTCP receiver reports, [`LayerController::on_remb`]
//! from REMB), then [`LayerController::poll`] with the layers' bitrates says whether to switch.
//! Down is quick (sustained loss, or REMB below the layer's bitrate); up is slow (clean reports
//! for a while, and REMB, when the viewer sends it, well above the next layer's bitrate); an up
//! that is followed by a down soon after doubles the wait before the next try.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Thresholds of the layer choice (the `layer_*` keys of `[webrtc]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LayerConfig {
    /// A receiver report with at least this much loss (percent) counts as lossy...
    pub loss_down_pct: u8,
    /// ...and this many lossy reports in a row switch the viewer one layer down.
    pub loss_down_reports: u32,
    /// Reports under this loss (percent) count as clean.
    pub loss_up_pct: u8,
    /// A viewer goes one layer up after this long (ms) with clean reports and no switch.
    pub up_hold_ms: u64,
    /// No further down switch for this long (ms) after a switch (its effect shows first).
    pub down_cooldown_ms: u64,
    /// REMB under this percentage of the current layer's bitrate...
    pub remb_down_pct: u32,
    /// ...for this long (ms) switches down to the best layer that fits the REMB.
    pub remb_hold_ms: u64,
    /// Going up needs a REMB (when the viewer sends one) of at least this percentage of the
    /// next layer's bitrate.
    pub remb_up_pct: u32,
}

impl Default for LayerConfig {
    fn default() -> Self {
        Self {
            loss_down_pct: 10,
            loss_down_reports: 2,
            loss_up_pct: 2,
            up_hold_ms: 8000,
            down_cooldown_ms: 3000,
            remb_down_pct: 80,
            remb_hold_ms: 2000,
            remb_up_pct: 120,
        }
    }
}

/// What the controller knows of one layer when polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerStatus {
    /// Video bitrate, bit/s (0 = unknown: no REMB rule for that layer).
    pub bitrate_bps: u64,
    /// The layer's bus is live (a rendition can be skipped or dropped by the transcoder).
    pub live: bool,
}

/// Why a viewer changes layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Receiver reports with this loss (percent, the last one).
    Loss(u8),
    /// REMB (bit/s) under the layer's bitrate.
    Remb(u64),
    /// Clean reports for the hold time (and REMB room, if any): one layer up.
    Clean,
    /// The current layer stopped (no longer live).
    LayerGone,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Loss(pct) => write!(f, "loss {pct}%"),
            Self::Remb(bps) => write!(f, "REMB {} kbit/s", bps / 1000),
            Self::Clean => f.write_str("clean reports"),
            Self::LayerGone => f.write_str("layer gone"),
        }
    }
}

/// A switch the viewer should make (at the target layer's next keyframe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub from: usize,
    pub to: usize,
    pub reason: Reason,
}

/// REMB older than this is ignored.
const REMB_FRESH: Duration = Duration::from_secs(5);
/// The up-switch wait doubles after a failed up, up to this many times the configured hold.
const MAX_BACKOFF: u32 = 8;

/// One viewer's layer controller.
#[derive(Debug)]
pub struct LayerController {
    cfg: LayerConfig,
    current: usize,
    lossy_streak: u32,
    last_loss_pct: u8,
    /// Last report at or above `loss_up_pct`.
    last_dirty: Option<Instant>,
    last_switch: Option<(Instant, bool)>,
    remb: Option<(u64, Instant)>,
    low_remb_since: Option<Instant>,
    backoff: u32,
}

impl LayerController {
    /// A viewer starting on layer `start` at `now`.
    pub fn new(cfg: LayerConfig, start: usize, now: Instant) -> Self {
        Self {
            cfg,
            current: start,
            lossy_streak: 0,
            last_loss_pct: 0,
            last_dirty: Some(now),
            last_switch: None,
            remb: None,
            low_remb_since: None,
            backoff: 1,
        }
    }

    pub fn current(&self) -> usize {
        self.current
    }

    /// A receiver report block for the viewer's video: `fraction_lost` as in RTCP (n/256).
    pub fn on_loss(&mut self, now: Instant, fraction_lost: u8) {
        let pct = (u32::from(fraction_lost) * 100 / 256) as u8;
        self.last_loss_pct = pct;
        if pct >= self.cfg.loss_down_pct {
            self.lossy_streak += 1;
        } else {
            self.lossy_streak = 0;
        }
        if pct >= self.cfg.loss_up_pct {
            self.last_dirty = Some(now);
        }
    }

    /// A REMB from the viewer, bit/s.
    pub fn on_remb(&mut self, now: Instant, bps: u64) {
        self.remb = Some((bps, now));
    }

    fn fresh_remb(&self, now: Instant) -> Option<u64> {
        self.remb
            .filter(|(_, at)| now.saturating_duration_since(*at) <= REMB_FRESH)
            .map(|(bps, _)| bps)
    }

    fn since(now: Instant, t: Option<Instant>) -> Duration {
        t.map_or(Duration::MAX, |t| now.saturating_duration_since(t))
    }

    /// Whether to switch now, given the layers (index 0 = source, then lower bitrates).
    pub fn poll(&mut self, now: Instant, layers: &[LayerStatus]) -> Option<Decision> {
        let live = |i: usize| layers.get(i).is_some_and(|l| l.live);
        if !live(self.current) {
            let to = (0..layers.len()).find(|&i| live(i))?;
            return Some(self.switch(now, to, Reason::LayerGone, false));
        }
        let since_switch = Self::since(now, self.last_switch.map(|(t, _)| t));
        let cooldown = Duration::from_millis(self.cfg.down_cooldown_ms);
        let remb = self.fresh_remb(now);
        let bitrate = layers[self.current].bitrate_bps;

        // REMB under the current layer's bitrate, held: down to the best layer that fits.
        let low = remb.filter(|&r| {
            bitrate > 0
                && r.saturating_mul(100) < bitrate.saturating_mul(self.cfg.remb_down_pct.into())
        });
        match low {
            Some(_) => {
                self.low_remb_since.get_or_insert(now);
            }
            None => self.low_remb_since = None,
        }
        let lower = (self.current + 1..layers.len()).filter(|&i| live(i));
        if since_switch >= cooldown {
            if let (Some(r), Some(t)) = (low, self.low_remb_since) {
                if now.saturating_duration_since(t) >= Duration::from_millis(self.cfg.remb_hold_ms)
                {
                    let to = lower
                        .clone()
                        .find(|&i| layers[i].bitrate_bps <= r)
                        .or_else(|| lower.clone().next_back());
                    if let Some(to) = to {
                        return Some(self.switch(now, to, Reason::Remb(r), false));
                    }
                }
            }
            if self.lossy_streak >= self.cfg.loss_down_reports.max(1) {
                if let Some(to) = lower.clone().next() {
                    let pct = self.last_loss_pct;
                    return Some(self.switch(now, to, Reason::Loss(pct), false));
                }
            }
        }

        // Up: one layer, after a clean hold (longer after failed tries), if REMB has room.
        let base = Duration::from_millis(self.cfg.up_hold_ms);
        if matches!(self.last_switch, Some((_, true))) && since_switch >= base * 2 {
            self.backoff = 1; // the last up held
        }
        let hold = base * self.backoff;
        if self.current > 0 && since_switch >= hold && Self::since(now, self.last_dirty) >= hold {
            let to = (0..self.current).rev().find(|&i| live(i))?;
            let need = layers[to]
                .bitrate_bps
                .saturating_mul(self.cfg.remb_up_pct.into());
            if remb.is_none_or(|r| r.saturating_mul(100) >= need) {
                return Some(self.switch(now, to, Reason::Clean, true));
            }
        }
        None
    }

    fn switch(&mut self, now: Instant, to: usize, reason: Reason, up: bool) -> Decision {
        let base = Duration::from_millis(self.cfg.up_hold_ms);
        // A down soon after an up: that up failed, wait longer before the next try.
        if !up
            && matches!(self.last_switch, Some((t, true)) if now.saturating_duration_since(t) < base * 2)
        {
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        }
        let d = Decision {
            from: self.current,
            to,
            reason,
        };
        self.current = to;
        self.lossy_streak = 0;
        self.low_remb_since = None;
        self.last_switch = Some((now, up));
        d
    }
}

#[cfg(test)]
#[path = "layer_tests.rs"]
mod tests;
