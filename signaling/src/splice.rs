//! One viewer's video RTP stream spliced from several layers (sans-IO: time is an argument).
//!
//! Each layer's forwarder numbers its packets on its own. A viewer on one layer gets that
//! layer's sequence numbers and timestamps shifted by a constant; at a switch (always on the
//! target layer's keyframe) the shifts are chosen so the sequence number follows the last one
//! sent and the timestamp advances by the wall time since the last packet sent. A NACK for a
//! number the viewer saw is mapped back to the layer and number it came from.

use std::collections::VecDeque;
use std::time::Instant;

/// Layers' numbering remembered for NACK (older segments are forgotten).
const SEGMENTS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    /// First outgoing sequence number of the segment.
    start: u16,
    layer: usize,
    seq_shift: u16,
    ts_shift: u32,
}

/// The splice state of one viewer's video.
#[derive(Debug, Default)]
pub struct Splice {
    segments: VecDeque<Segment>,
    /// Last outgoing (sequence number, timestamp) and when it went out.
    last: Option<(u16, u32, Instant)>,
}

impl Splice {
    pub fn new() -> Self {
        Self::default()
    }

    /// The layer the viewer is on (`None` before the first packet).
    pub fn layer(&self) -> Option<usize> {
        self.segments.back().map(|s| s.layer)
    }

    /// The outgoing (sequence number, timestamp) of a packet of `layer` sent at `now`. A packet
    /// of another layer than the current one starts a new segment: call it only for the
    /// target layer's keyframe.
    pub fn map(&mut self, now: Instant, layer: usize, seq: u16, ts: u32) -> (u16, u32) {
        let seg = match self.segments.back() {
            Some(s) if s.layer == layer => *s,
            _ => {
                let (seq_shift, ts_shift) = match self.last {
                    Some((last_seq, last_ts, at)) => {
                        let ticks = (now.saturating_duration_since(at).as_micros() * 9 / 100)
                            .clamp(1, u128::from(u32::MAX / 2))
                            as u32;
                        (
                            last_seq.wrapping_add(1).wrapping_sub(seq),
                            last_ts.wrapping_add(ticks).wrapping_sub(ts),
                        )
                    }
                    None => (0, 0),
                };
                let s = Segment {
                    start: seq.wrapping_add(seq_shift),
                    layer,
                    seq_shift,
                    ts_shift,
                };
                if self.segments.len() == SEGMENTS {
                    self.segments.pop_front();
                }
                self.segments.push_back(s);
                s
            }
        };
        let out = (
            seq.wrapping_add(seg.seq_shift),
            ts.wrapping_add(seg.ts_shift),
        );
        self.last = Some((out.0, out.1, now));
        out
    }

    /// A NACKed outgoing sequence number → (layer, the layer's sequence number, timestamp
    /// shift), if it is in a remembered segment.
    pub fn nack(&self, out_seq: u16) -> Option<(usize, u16, u32)> {
        let last = self.last?.0;
        // Not sent yet (ahead of the last packet): nothing to map.
        if out_seq.wrapping_sub(last) != 0 && out_seq.wrapping_sub(last) < 0x8000 {
            return None;
        }
        let age = last.wrapping_sub(out_seq);
        self.segments
            .iter()
            .rev()
            .find(|s| last.wrapping_sub(s.start) >= age)
            .map(|s| (s.layer, out_seq.wrapping_sub(s.seq_shift), s.ts_shift))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn sequence_numbers_stay_continuous_across_switches() {
        let t0 = Instant::now();
        let mut s = Splice::new();
        // Layer 0 from seq 100; then layer 2 (its own numbering from 40000, wrapping) on a
        // keyframe; then back to layer 0.
        let mut out = Vec::new();
        for i in 0..5u16 {
            out.push(s.map(t0, 0, 100 + i, 9000));
        }
        let t1 = t0 + Duration::from_millis(40);
        for i in 0..5u16 {
            out.push(s.map(t1, 2, 65533u16.wrapping_add(i), 777));
        }
        let t2 = t1 + Duration::from_millis(100);
        for i in 0..5u16 {
            out.push(s.map(t2, 0, 300 + i, 99_000));
        }
        let seqs: Vec<u16> = out.iter().map(|o| o.0).collect();
        assert_eq!(seqs, (100..115).collect::<Vec<u16>>());
        // Timestamps advance by the wall time between the segments (90 kHz).
        assert_eq!(out[4].1, 9000);
        assert_eq!(out[5].1, 9000 + 3600);
        assert_eq!(out[10].1, 9000 + 3600 + 9000);
        assert_eq!(s.layer(), Some(0));
    }

    #[test]
    fn a_nack_maps_back_to_the_layer_packet() {
        let t0 = Instant::now();
        let mut s = Splice::new();
        for i in 0..10u16 {
            s.map(t0, 0, 1000 + i, 0); // out 1000..=1009
        }
        for i in 0..10u16 {
            s.map(t0, 1, 50 + i, 0); // out 1010..=1019
        }
        assert_eq!(s.nack(1005).map(|n| (n.0, n.1)), Some((0, 1005)));
        assert_eq!(s.nack(1010).map(|n| (n.0, n.1)), Some((1, 50)));
        assert_eq!(s.nack(1019).map(|n| (n.0, n.1)), Some((1, 59)));
        assert_eq!(s.nack(1020), None, "not sent yet");
        assert_eq!(s.nack(999), None, "before the first packet sent");
    }
}
