//! Headless Chromium watches RTMP-published streams over WHEP: passthrough and transcode.

mod common;

use std::time::Duration;

use common::browser::run_script;
use common::{ffmpeg_publish, start, test_webrtc_config, Env};
use showroom_pipelines::rtp::VideoMode;

/// Runs the Chromium WHEP viewer for `secs` and returns its JSON report.
async fn chromium_view(env: &Env, name: &str, secs: u32) -> serde_json::Value {
    run_script(
        "whep_view.mjs",
        &[env.page_url(), env.whep_url(name), secs.to_string()],
        Duration::from_secs(u64::from(secs) + 60),
    )
    .await
}

fn frames(sample: &serde_json::Value) -> u64 {
    sample["framesDecoded"].as_u64().unwrap_or(0)
}

async fn watch(bframes: u32, expect: VideoMode) {
    let name = if bframes == 0 { "plain" } else { "bframes" };
    let env = start(&[name], test_webrtc_config()).await;
    let _ffmpeg = ffmpeg_publish(&env.rtmp_url(name), bframes, 40);
    env.wait_live(name).await;
    let report = chromium_view(&env, name, 8).await;
    assert!(report["error"].is_null(), "viewer error: {report}");
    let samples = report["samples"].as_array().cloned().unwrap_or_default();
    assert!(samples.len() > 10, "too few samples: {report}");
    let last = frames(&samples[samples.len() - 1]);
    let mid = frames(&samples[samples.len() / 2]);
    assert!(
        report["firstFrameMs"].as_f64().is_some(),
        "no frame decoded: {report}"
    );
    assert!(last >= 60, "framesDecoded only {last}: {report}");
    assert!(last > mid, "framesDecoded stopped growing ({mid} → {last})");
    assert_eq!(samples[samples.len() - 1]["width"].as_u64(), Some(640));
    assert!(
        samples[samples.len() - 1]["audioPackets"]
            .as_u64()
            .unwrap_or(0)
            > 50,
        "audio (Opus) not received: {report}"
    );
    assert_eq!(report["deleteStatus"].as_u64(), Some(200), "{report}");
    // Video goes out with its send time, so Chromium's REMB estimate sees the network only.
    let extmaps = report["answerExtmaps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        extmaps.iter().any(|l| l.as_str().is_some_and(
            |l| l.ends_with(" http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time")
        )),
        "abs-send-time not negotiated: {extmaps:?}"
    );
    let fanout = env
        .sfu
        .fanout(name)
        .unwrap_or_else(|| panic!("no fanout for {name}"));
    assert_eq!(fanout.video_mode(), Some(expect));
    assert_eq!(env.sfu.session_count(), 0, "session left behind");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fanout.viewer_count(), 0, "viewer queue left behind");
    eprintln!(
        "{name}: first frame after {} ms, {last} frames decoded",
        report["firstFrameMs"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_views_passthrough_stream() {
    watch(0, VideoMode::Passthrough).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_views_bframes_stream_transcoded() {
    watch(2, VideoMode::Transcode).await;
}
