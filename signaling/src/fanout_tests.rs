//! The forwarder in memory: GOP cache on join, a slow viewer never stalls the others, and
//! sequence numbers stay continuous across publish sessions.

use std::time::Duration;

use bytes::Bytes;
use showroom_pipelines::rtp::{RtpKind, RtpPacket, RtpSink, VideoMode};
use tokio::sync::mpsc;

use super::Fanout;

fn rtp(seq: u16, ts: u32, payload: &[u8]) -> Bytes {
    let mut p = vec![0x80, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 7]);
    p.extend_from_slice(payload);
    Bytes::from(p)
}

/// A video packet `seq` (timestamp `seq * 3000`) into `f`; `key`: it starts a GOP.
pub(crate) fn video(f: &Fanout, seq: u16, key: bool) {
    let payload: &[u8] = if key { &[0x67, 0x42] } else { &[0x41, 0x9a] };
    f.packet(RtpPacket {
        kind: RtpKind::H264,
        data: rtp(seq, u32::from(seq) * 3000, payload),
        gop_start: key,
    });
}

/// A forwarder whose first session is live (passthrough, no audio).
pub(crate) fn fanout() -> Fanout {
    let f = Fanout::new("t", 100, Duration::from_millis(500));
    f.session_started(1, Some(VideoMode::Passthrough), false);
    f
}

#[test]
fn a_viewer_joins_on_the_cached_gop() {
    let f = fanout();
    video(&f, 1, false); // before any keyframe: not cached
    video(&f, 2, true);
    video(&f, 3, false);
    let (tx, _rx) = mpsc::channel(16);
    let gop = f.attach(1, tx);
    let seqs: Vec<u16> = gop
        .iter()
        .map(|p| p.packet.header.sequence_number)
        .collect();
    assert_eq!(seqs, vec![2, 3]);
    video(&f, 4, true);
    let (tx, _rx2) = mpsc::channel(16);
    assert_eq!(f.attach(2, tx).len(), 1, "a new GOP replaces the old one");
}

#[test]
fn a_full_viewer_queue_drops_only_for_that_viewer() {
    let f = fanout();
    let (slow_tx, _slow_rx) = mpsc::channel(2);
    let (fast_tx, mut fast_rx) = mpsc::channel(64);
    f.attach(1, slow_tx);
    f.attach(2, fast_tx);
    for seq in 0..10 {
        video(&f, seq, seq == 0);
    }
    let mut got = 0;
    while fast_rx.try_recv().is_ok() {
        got += 1;
    }
    assert_eq!(got, 10, "the fast viewer got everything");
    assert_eq!(
        f.stats
            .packets_dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        8
    );
    f.detach(1);
    assert_eq!(f.viewer_count(), 1);
}

#[test]
fn sequence_numbers_continue_across_sessions() {
    let f = fanout();
    let (tx, mut rx) = mpsc::channel(64);
    f.attach(1, tx);
    video(&f, 100, true);
    video(&f, 101, false);
    f.session_ended(1);
    f.session_started(2, Some(VideoMode::Passthrough), false);
    video(&f, 40_000, true);
    video(&f, 40_001, false);
    let mut seqs = Vec::new();
    while let Ok(p) = rx.try_recv() {
        seqs.push(p.packet.header.sequence_number);
    }
    assert_eq!(seqs, vec![100, 101, 102, 103]);
}

#[test]
fn garbage_from_the_egress_is_counted_not_forwarded() {
    let f = fanout();
    let (tx, mut rx) = mpsc::channel(4);
    f.attach(1, tx);
    f.packet(RtpPacket {
        kind: RtpKind::Opus,
        data: Bytes::from_static(&[1, 2, 3]),
        gop_start: false,
    });
    assert!(rx.try_recv().is_err());
    assert_eq!(
        f.stats.malformed.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn nacked_packets_come_from_the_stream_cache() {
    let f = fanout();
    for seq in 0..2000u16 {
        video(&f, seq, seq % 100 == 0);
    }
    let p = f.retransmit(1990).map(|p| p.packet.header.sequence_number);
    assert_eq!(p, Some(1990));
    assert!(f.retransmit(500).is_none(), "older than the cache");
    assert!(f.retransmit(2500).is_none(), "never sent");
    assert_eq!(
        f.stats
            .retransmitted
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        f.stats
            .retransmit_missed
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}
