//! A GStreamer `webrtcbin` WHEP client receives an RTMP-published stream and decodes frames.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::webrtcbin::connect;
use common::{ffmpeg_publish, start, test_webrtc_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtcbin_receives_frames() {
    let env = start(&["gst"], test_webrtc_config()).await;
    let _ffmpeg = ffmpeg_publish(&env.rtmp_url("gst"), 0, 40);
    env.wait_live("gst").await;
    let viewer = connect(&env.whep_url("gst")).await;
    let mut decoded = 0;
    for _ in 0..150 {
        decoded = viewer.frames.load(Ordering::Relaxed);
        if decoded >= 60 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        decoded >= 60,
        "webrtcbin decoded only {decoded} frames in 15 s"
    );
    assert!(
        viewer.audio_buffers.load(Ordering::Relaxed) > 20,
        "no Opus received"
    );
    let location = viewer.location.clone().unwrap_or_default();
    let status = reqwest::Client::new()
        .delete(format!("http://{}{location}", env.http))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_eq!(status, 200, "DELETE {location}");
    assert_eq!(env.sfu.session_count(), 0);
}
