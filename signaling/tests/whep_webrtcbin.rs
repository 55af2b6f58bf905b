//! A GStreamer `webrtcbin` WHEP client receives an RTMP-published stream and decodes frames.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::webrtcbin::connect;
use common::{ffmpeg_publish, start, test_webrtc_config, wait_count};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtcbin_receives_frames() {
    let env = start(&["gst"], test_webrtc_config()).await;
    let _ffmpeg = ffmpeg_publish(&env.rtmp_url("gst"), 0, 40);
    env.wait_live("gst").await;
    let viewer = connect(&env.whep_url("gst")).await;
    let decoded = wait_count(&viewer.frames, 60, Duration::from_secs(15)).await;
    assert!(
        decoded >= 60,
        "webrtcbin decoded only {decoded} frames in 15 s"
    );
    assert!(
        viewer.audio_buffers.load(Ordering::Relaxed) > 20,
        "no Opus received"
    );
    let location = viewer.location.clone().unwrap_or_default();
    let status = env.delete(&location).await;
    assert_eq!(status, 200, "DELETE {location}");
    assert_eq!(env.sfu.session_count(), 0);
}
