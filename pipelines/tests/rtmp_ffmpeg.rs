//! ffmpeg publishes H.264 + AAC over RTMP; the bus carries what the API and LL-HLS need.

mod rtmp_common;

use std::time::Duration;

use rtmp_common::*;
use showroom_pipelines::unit::{Codec, TrackKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_h264_aac_reaches_the_bus() {
    let srv = server(&["k1"], test_config()).await;
    let mut reader = srv.stream("k1").subscribe("test", 4096);
    let ffmpeg = ffmpeg_h264_aac(&srv.url("k1"), 4);
    let seen = collect_session(&mut reader, Duration::from_secs(30)).await;
    let (ok, stderr) = finish(ffmpeg, Duration::from_secs(10)).await;
    assert!(ok, "ffmpeg failed: {stderr}");

    let start = seen.start.as_ref().unwrap_or_else(|| panic!("no Start"));
    assert_eq!(start.epoch, 1);
    assert_eq!(start.protocol, "rtmp");
    let video = start
        .track(TrackKind::Video)
        .unwrap_or_else(|| panic!("no video track"));
    assert!(matches!(&video.codec, Codec::H264 { config } if config.first() == Some(&1)));
    assert_eq!((video.width, video.height), (Some(640), Some(360)));
    assert_eq!(video.framerate, Some((30, 1)));
    let audio = start
        .track(TrackKind::Audio)
        .unwrap_or_else(|| panic!("no audio track"));
    assert!(matches!(&audio.codec, Codec::Aac { config } if config.len() >= 2));
    assert_eq!((audio.sample_rate, audio.channels), (Some(48000), Some(1)));
    assert_eq!(seen.end, Some(1), "End after ffmpeg left");

    // Keyframes every 2 s (-g 60 at 30 fps), the first unit of video is one.
    let video: Vec<_> = seen.video().collect();
    assert!(video.len() >= 110, "about 120 frames, got {}", video.len());
    assert!(video[0].keyframe);
    let keys: Vec<_> = video.iter().filter(|u| u.keyframe).map(|u| u.dts).collect();
    assert!(keys.len() >= 2, "keyframes: {keys:?}");
    for pair in keys.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap.abs_diff(Duration::from_secs(2)) <= Duration::from_millis(40),
            "{keys:?}"
        );
    }
    // Monotonic DTS, pts == dts without B-frames, 4 s of media.
    for pair in video.windows(2) {
        assert!(pair[1].dts > pair[0].dts, "video dts not increasing");
    }
    assert!(video.iter().all(|u| u.pts == u.dts));
    let span = video[video.len() - 1].dts - video[0].dts;
    assert!(
        span >= Duration::from_millis(3800) && span <= Duration::from_millis(4100),
        "{span:?}"
    );
    let audio: Vec<_> = seen.audio().collect();
    assert!(
        audio.len() >= 180,
        "about 187 AAC frames, got {}",
        audio.len()
    );
    for pair in audio.windows(2) {
        assert!(pair[1].dts >= pair[0].dts, "audio dts going back");
    }
    // Units arrive in real time (-re): all of them within 4 s of media plus slack.
    let (first, last) = (seen.units[0].0, seen.units[seen.units.len() - 1].0);
    assert!(last - first <= Duration::from_secs(6), "{:?}", last - first);
    assert!(
        srv.stats
            .bytes_in
            .load(std::sync::atomic::Ordering::Relaxed)
            > 100_000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_with_b_frames_gives_pts_after_dts() {
    let srv = server(&["kb"], test_config()).await;
    let mut reader = srv.stream("kb").subscribe("test", 4096);
    let ffmpeg = ffmpeg_publish(
        &srv.url("kb"),
        "640x360",
        &[
            "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "60",
        ],
        &["-c:a", "aac", "-b:a", "128k"],
        3,
    );
    let seen = collect_session(&mut reader, Duration::from_secs(30)).await;
    let (ok, stderr) = finish(ffmpeg, Duration::from_secs(10)).await;
    assert!(ok, "ffmpeg failed: {stderr}");
    let video: Vec<_> = seen.video().collect();
    assert!(video.len() >= 80, "got {} frames", video.len());
    let reordered = video.iter().filter(|u| u.pts > u.dts).count();
    assert!(
        reordered > video.len() / 2,
        "B-frames: {reordered} of {} with pts > dts",
        video.len()
    );
    for pair in video.windows(2) {
        assert!(pair[1].dts > pair[0].dts, "video dts not increasing");
    }
    // PTS order differs from decode order somewhere (a B-frame shows before its reference).
    assert!(video.windows(2).any(|p| p[1].pts < p[0].pts));
    assert_eq!(seen.end, Some(1));
}
