//! A viewer's path through two real forwarders in memory: attach to the target on a decision,
//! switch on its keyframe, continuous sequence numbers, NACK mapped to the right layer.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Instant;

use tokio::sync::mpsc;

use super::*;
use crate::fanout::tests::{fanout, video};

/// Feeds everything queued for the viewer through its path; returns (layer, outgoing seq).
fn drain(path: &mut VideoPath, rx: &mut mpsc::Receiver<Arc<Outgoing>>) -> Vec<(usize, u16)> {
    let mut out = Vec::new();
    while let Ok(p) = rx.try_recv() {
        if p.layer == WAKE {
            path.retarget();
        } else if let Some(o) = path.video(Instant::now(), &p) {
            out.push((p.layer, o.header.sequence_number));
        }
    }
    out
}

#[test]
fn a_switch_waits_for_the_targets_keyframe_and_numbers_stay_continuous() {
    let src = Arc::new(fanout());
    let low = Arc::new(fanout().with_layer(1));
    let layers = Arc::new(LayerSet {
        names: vec![SOURCE.into(), "160p".into()],
        heights: vec![None, Some(160)],
        nominal_bps: vec![0, 150_000],
        fanouts: vec![Arc::clone(&src), Arc::clone(&low)],
        buses: vec![Weak::new(), Weak::new()],
    });
    let shared = ViewerLayer::new(0);
    let (tx, mut rx) = mpsc::channel(64);
    let (mut path, gop) =
        VideoPath::attach(7, Arc::clone(&layers), 0, tx.clone(), Arc::clone(&shared));
    assert!(gop.is_empty());

    video(&src, 1000, true);
    video(&src, 1001, false);
    video(&low, 50_000, true); // not attached to the low layer yet
    let mut sent = drain(&mut path, &mut rx);
    assert_eq!(sent, [(0, 1000), (0, 1001)]);

    shared.want(1, &tx, &wake_marker());
    sent.extend(drain(&mut path, &mut rx));
    assert_eq!(low.viewer_count(), 1, "attached to the target at once");
    video(&low, 50_001, false); // not a keyframe: still on the source
    video(&src, 1002, false);
    sent.extend(drain(&mut path, &mut rx));
    video(&low, 50_002, true); // the target's keyframe: switch
    video(&src, 1003, false); // the source's video is off for this viewer now
    video(&low, 50_003, false);
    sent.extend(drain(&mut path, &mut rx));

    assert_eq!(
        sent,
        [(0, 1000), (0, 1001), (0, 1002), (1, 1003), (1, 1004)],
        "one continuous sequence across the switch"
    );
    assert_eq!(shared.current.load(Ordering::Relaxed), 1);
    assert_eq!(shared.switches.load(Ordering::Relaxed), 1);
    assert_eq!(src.viewer_count(), 1, "still on the source for the audio");

    // NACKs map back: 1003 was the low layer's keyframe 50002, 1001 the source's 1001.
    let re = retransmit(&layers, &shared, 1003).expect("in the low layer's cache");
    assert_eq!(re.header.sequence_number, 1003);
    assert_eq!(&re.payload[..], &[0x67, 0x42]);
    let re = retransmit(&layers, &shared, 1001).expect("in the source's cache");
    assert_eq!(&re.payload[..], &[0x41, 0x9a]);
    assert!(retransmit(&layers, &shared, 1005).is_none(), "not sent yet");
}
