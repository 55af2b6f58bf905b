//! A stream's RTP egress (here with the B-frame transcode) stops once it has had no WebRTC
//! viewer for `egress_idle_stop_ms`, and starts again for the next viewer.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::webrtcbin::{connect, WebrtcbinViewer};
use common::{start_live, test_webrtc_config, wait_count, Env};
use showroom_pipelines::rtp::VideoMode;

async fn watch(env: &Env, name: &str) -> WebrtcbinViewer {
    let viewer = connect(&env.whep_url(name)).await;
    let decoded = wait_count(&viewer.frames, 30, Duration::from_secs(15)).await;
    assert!(decoded >= 30, "viewer decoded only {decoded} frames");
    viewer
}

async fn leave(env: &Env, viewer: &WebrtcbinViewer) {
    let location = viewer.location.clone().unwrap_or_default();
    assert_eq!(env.delete(&location).await, 200, "DELETE {location}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_egress_stops_and_restarts_for_the_next_viewer() {
    let mut cfg = test_webrtc_config();
    cfg.egress_idle_stop_ms = 1000;
    let (env, _ffmpeg) = start_live("idle", 2, 60, cfg).await;
    let stream = env.stream("idle");
    let readers_before = stream.reader_count();

    let first = watch(&env, "idle").await;
    let fanout = env
        .sfu
        .fanout("idle")
        .unwrap_or_else(|| panic!("no egress while watched"));
    assert_eq!(fanout.video_mode(), Some(VideoMode::Transcode));
    assert_eq!(stream.reader_count(), readers_before + 1);
    assert_eq!(env.sfu.viewer_count("idle"), 1);

    // Still there shortly after the viewer left…
    leave(&env, &first).await;
    drop(first);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        env.sfu.fanout("idle").is_some(),
        "stopped before the idle time"
    );
    // …and gone (reader off the bus, transcode stopped) after it.
    let mut stopped = false;
    for _ in 0..40 {
        if env.sfu.fanout("idle").is_none() && stream.reader_count() == readers_before {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stopped, "the idle egress was not stopped within 4 s");
    let packets = fanout.stats.packets_in.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        fanout.stats.packets_in.load(Ordering::Relaxed),
        packets,
        "the stopped egress still produces RTP"
    );

    // The next viewer starts it again.
    let second = watch(&env, "idle").await;
    let restarted = env
        .sfu
        .fanout("idle")
        .unwrap_or_else(|| panic!("egress not restarted"));
    assert!(!std::sync::Arc::ptr_eq(&restarted, &fanout));
    assert_eq!(restarted.video_mode(), Some(VideoMode::Transcode));
    leave(&env, &second).await;
}
