//! Keyframes on demand for WHIP sources: the publisher (webrtcbin + x264, one keyframe at the
//! start and then none unless asked) gets an RTCP PLI when a late WHEP viewer joins, so the
//! viewer decodes at once instead of waiting for a keyframe that would never come.

mod common;

use std::time::{Duration, Instant};

use common::webrtcbin::connect;
use common::whip_client::{publish_with, Opts};
use common::{start_with, test_webrtc_config, test_whip_config, wait_count};
use showroom_signaling::WhipConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_viewer_of_long_gop_whip_stream_decodes_within_2s() {
    // The SFU's GOP cache cannot help (32 packets), and no periodic keyframe request is made:
    // only a request on demand can start the viewer.
    let mut cfg = test_webrtc_config();
    cfg.gop_cache_packets = 32;
    let whip = WhipConfig {
        keyframe_interval: Duration::ZERO,
        ..test_whip_config()
    };
    let env = start_with(&["kf"], cfg, whip).await;
    let publisher = publish_with(
        &env.whip_url("kf"),
        Some("k-kf"),
        Opts {
            key_int: 100_000,
            ..Opts::default()
        },
    )
    .await;
    assert_eq!(publisher.status, 201, "WHIP: {}", publisher.body);
    env.wait_live("kf").await;
    let stream = env.stream("kf");
    // Late: the publisher's only keyframe is seconds old.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = stream.keyframe_requests();
    let t0 = Instant::now();
    let viewer = connect(&env.whep_url("kf")).await;
    let decoded = wait_count(&viewer.frames, 1, Duration::from_secs(6)).await;
    let first = t0.elapsed();
    assert!(
        decoded > 0,
        "late viewer decoded nothing in 6 s ({} keyframe requests reached the publisher)",
        stream.keyframe_requests() - before
    );
    eprintln!(
        "late viewer: first decoded frame {} ms after its offer; {} keyframe request(s) upstream",
        first.as_millis(),
        stream.keyframe_requests() - before
    );
    assert!(
        stream.keyframe_requests() > before,
        "no keyframe request reached the WHIP publisher"
    );
    assert!(
        first <= Duration::from_secs(2),
        "first frame after {first:?} (target ≤ 2 s)"
    );
    let decoded = wait_count(&viewer.frames, 20, Duration::from_secs(3)).await;
    assert!(
        decoded >= 20,
        "video did not keep flowing ({decoded} frames)"
    );
}
