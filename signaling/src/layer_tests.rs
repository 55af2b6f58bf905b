//! The layer controller driven faster than real time: loss and REMB in, switches out.

use std::time::{Duration, Instant};

use super::*;

/// Source ~3 Mbit/s, then 1000 and 300 kbit/s renditions, all live.
fn ladder() -> Vec<LayerStatus> {
    [3_000_000, 1_000_000, 300_000]
        .into_iter()
        .map(|bitrate_bps| LayerStatus {
            bitrate_bps,
            live: true,
        })
        .collect()
}

/// The decision from `from` to `to` for `reason`.
fn d(from: usize, to: usize, reason: Reason) -> Option<Decision> {
    Some(Decision { from, to, reason })
}

const LOSSY: u8 = 64; // 25 %
const CLEAN: u8 = 0;

fn ms(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

#[test]
fn sustained_loss_drops_one_layer_a_single_lossy_report_does_not() {
    let t0 = Instant::now();
    let layers = ladder();
    let mut c = LayerController::new(LayerConfig::default(), 0, t0);
    c.on_loss(ms(t0, 1000), LOSSY);
    assert_eq!(c.poll(ms(t0, 1000), &layers), None, "one lossy report");
    c.on_loss(ms(t0, 2000), CLEAN);
    c.on_loss(ms(t0, 3000), LOSSY);
    assert_eq!(c.poll(ms(t0, 3000), &layers), None, "not in a row");
    c.on_loss(ms(t0, 4000), LOSSY);
    assert_eq!(c.poll(ms(t0, 4000), &layers), d(0, 1, Reason::Loss(25)));
    assert_eq!(c.current(), 1);
}

#[test]
fn after_a_switch_loss_waits_for_the_cooldown_then_drops_again() {
    let t0 = Instant::now();
    let layers = ladder();
    let mut c = LayerController::new(LayerConfig::default(), 0, t0);
    for i in 1..=2 {
        c.on_loss(ms(t0, i * 1000), LOSSY);
    }
    assert_eq!(c.poll(ms(t0, 2000), &layers).map(|d| d.to), Some(1));
    // Reports still lossy (the old layer's packets in flight): no second drop yet.
    for i in 3..=4 {
        c.on_loss(ms(t0, i * 1000), LOSSY);
        assert_eq!(c.poll(ms(t0, i * 1000), &layers), None);
    }
    c.on_loss(ms(t0, 5000), LOSSY);
    assert_eq!(c.poll(ms(t0, 5000), &layers).map(|d| d.to), Some(2));
    // The lowest layer: nowhere further down.
    for i in 6..=12 {
        c.on_loss(ms(t0, i * 1000), LOSSY);
        assert_eq!(c.poll(ms(t0, i * 1000), &layers), None);
    }
}

#[test]
fn low_remb_jumps_to_the_best_layer_that_fits() {
    let t0 = Instant::now();
    let layers = ladder();
    let mut c = LayerController::new(LayerConfig::default(), 0, t0);
    c.on_remb(ms(t0, 1000), 2_900_000); // within 80 % of the source: fine
    assert_eq!(c.poll(ms(t0, 1000), &layers), None);
    c.on_remb(ms(t0, 2000), 500_000);
    assert_eq!(c.poll(ms(t0, 2000), &layers), None, "not held yet");
    c.on_remb(ms(t0, 3000), 500_000);
    assert_eq!(c.poll(ms(t0, 3000), &layers), None, "held 1 s of 2");
    c.on_remb(ms(t0, 4000), 500_000);
    assert_eq!(
        c.poll(ms(t0, 4000), &layers),
        d(0, 2, Reason::Remb(500_000))
    );
}

#[test]
fn clean_reports_go_up_one_layer_after_the_hold_if_remb_has_room() {
    let t0 = Instant::now();
    let layers = ladder();
    let mut c = LayerController::new(LayerConfig::default(), 2, t0);
    // REMB only 1.1x the next layer: no up, however clean.
    let mut t = 0;
    while t <= 20_000 {
        c.on_loss(ms(t0, t), CLEAN);
        c.on_remb(ms(t0, t), 1_100_000);
        assert_eq!(c.poll(ms(t0, t), &layers), None, "at {t} ms");
        t += 1000;
    }
    // Enough room: up to layer 1 (not straight to the source).
    c.on_remb(ms(t0, t), 1_300_000);
    assert_eq!(c.poll(ms(t0, t), &layers), d(2, 1, Reason::Clean));
}

#[test]
fn an_up_that_fails_doubles_the_wait_before_the_next_try() {
    let t0 = Instant::now();
    let layers = ladder();
    let mut c = LayerController::new(LayerConfig::default(), 1, t0);
    let mut ups = Vec::new();
    let mut t = 0;
    // A link where layer 0 always gets lossy and layer 1 is clean.
    while t <= 120_000 {
        let loss = if c.current() == 0 { LOSSY } else { CLEAN };
        c.on_loss(ms(t0, t), loss);
        if let Some(d) = c.poll(ms(t0, t), &layers) {
            if d.to < d.from {
                ups.push(t);
            }
        }
        t += 1000;
    }
    assert!(ups.len() >= 3, "ups at {ups:?}");
    let gaps: Vec<u64> = ups.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.windows(2).all(|g| g[1] > g[0]),
        "waits between tries grow: {gaps:?}"
    );
}

#[test]
fn a_viewer_on_a_layer_that_stops_goes_back_to_the_source() {
    let t0 = Instant::now();
    let mut layers = ladder();
    let mut c = LayerController::new(LayerConfig::default(), 1, t0);
    assert_eq!(c.poll(ms(t0, 100), &layers), None);
    layers[1].live = false;
    assert_eq!(c.poll(ms(t0, 200), &layers), d(1, 0, Reason::LayerGone));
    // Down skips a layer that is not live.
    let mut c = LayerController::new(LayerConfig::default(), 0, t0);
    c.on_loss(ms(t0, 1000), LOSSY);
    c.on_loss(ms(t0, 2000), LOSSY);
    assert_eq!(c.poll(ms(t0, 2000), &layers).map(|d| d.to), Some(2));
}
