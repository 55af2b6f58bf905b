//! GStreamer's rtmp2sink and librtmp-based rtmpsink (after flvmux) publish H.264 + AAC; the
//! bus gets both tracks.

mod rtmp_common;

use std::time::Duration;

use rtmp_common::*;
use showroom_pipelines::unit::TrackKind;
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gstreamer_rtmp2sink_publish() {
    gst_publish("rtmp2sink").await;
}

/// `rtmpsink` is built on librtmp, the library OBS's RTMP output grew from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gstreamer_librtmp_rtmpsink_publish() {
    gst_publish("rtmpsink").await;
}

async fn gst_publish(sink: &str) {
    require("gst-launch-1.0");
    for element in [
        sink,
        "flvmux",
        "x264enc",
        "avenc_aac",
        "aacparse",
        "h264parse",
    ] {
        let ok = std::process::Command::new("gst-inspect-1.0")
            .arg(element)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(ok, "this test needs the GStreamer element {element}");
    }
    let srv = server(&["g1"], test_config()).await;
    let mut reader = srv.stream("g1").subscribe("test", 4096);
    let pipeline = format!(
        "videotestsrc is-live=true num-buffers=90 ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! x264enc tune=zerolatency key-int-max=30 speed-preset=ultrafast ! h264parse \
         ! flvmux name=m streamable=true ! {sink} location={} \
         audiotestsrc is-live=true num-buffers=141 samplesperbuffer=1024 \
         ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! m.",
        srv.url("g1")
    );
    let mut cmd = Command::new("gst-launch-1.0");
    cmd.arg("-e").args(pipeline.split_whitespace());
    let gst = spawn(cmd);
    let seen = collect_session(&mut reader, Duration::from_secs(30)).await;
    let (ok, stderr) = finish(gst, Duration::from_secs(15)).await;
    assert!(ok, "gst-launch failed: {stderr}");

    let start = seen.start.as_ref().unwrap_or_else(|| panic!("no Start"));
    let video = start
        .track(TrackKind::Video)
        .unwrap_or_else(|| panic!("no video"));
    assert_eq!((video.width, video.height), (Some(320), Some(240)));
    let audio = start
        .track(TrackKind::Audio)
        .unwrap_or_else(|| panic!("no audio"));
    assert_eq!((audio.sample_rate, audio.channels), (Some(48000), Some(2)));
    let video: Vec<_> = seen.video().collect();
    assert!(video.len() >= 80, "about 90 frames, got {}", video.len());
    assert!(video[0].keyframe);
    assert!(
        video.iter().filter(|u| u.keyframe).count() >= 3,
        "key-int-max=30"
    );
    // The ingest passes the FLV tags' timestamps through unchanged (`rtmp::timeline` only
    // unwraps), so a repeated timestamp is the publisher's: both gst-launch publishers once sent
    // two video frames without an increase in the same CI run (a stalled start; flvmux in live
    // mode can send an audio tag ahead of a late frame and keeps its tags from going back).
    // What the ingest must give is a timeline that never goes back and advances at the frame
    // rate over the run.
    for pair in video.windows(2) {
        assert!(
            pair[1].dts >= pair[0].dts,
            "video dts went back: {:?} then {:?}",
            pair[0].dts,
            pair[1].dts
        );
    }
    let (first, last) = (video[0].dts, video[video.len() - 1].dts);
    let span = last.saturating_sub(first);
    let nominal = Duration::from_millis(1000 * (video.len() as u64 - 1) / 30);
    assert!(
        span + Duration::from_millis(500) >= nominal,
        "video dts spans {span:?} over {} frames at 30 fps (about {nominal:?})",
        video.len()
    );
    assert!(
        seen.audio().count() >= 100,
        "AAC frames: {}",
        seen.audio().count()
    );
    assert_eq!(seen.end, Some(1), "End after gst-launch left");
}
