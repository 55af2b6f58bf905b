//! Publishers that vanish (killed, silent) end their session at once and the key can publish
//! again; RTMP timestamps past 24 bits and past the 32-bit wrap keep a monotonic timeline.

mod rtmp_common;

use std::time::Duration;

use rtmp_common::raw::RawClient;
use rtmp_common::*;
use showroom_pipelines::rtmp::RefusalKind;
use showroom_pipelines::stream::Event;
use showroom_pipelines::unit::TrackKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_publisher_ends_the_session_and_the_key_publishes_again() {
    let srv = server(&["k1"], test_config()).await;
    let mut reader = srv.stream("k1").subscribe("test", 8192);
    let mut ffmpeg = ffmpeg_light(&srv.url("k1"), 30);
    let start = wait_start(&mut reader, Duration::from_secs(20)).await;
    assert_eq!(start.epoch, 1);
    let mut units = 0;
    while units < 30 {
        match next(&mut reader, Duration::from_secs(5)).await {
            Some(Event::Unit(_)) => units += 1,
            other => panic!("expected units, got {other:?}"),
        }
    }
    ffmpeg
        .start_kill()
        .unwrap_or_else(|e| panic!("kill ffmpeg: {e}"));
    let killed_at = tokio::time::Instant::now();
    let _ = ffmpeg.wait().await;
    loop {
        match next(&mut reader, Duration::from_secs(5)).await {
            Some(Event::Unit(_)) => {}
            Some(Event::End { epoch }) => {
                assert_eq!(epoch, 1);
                break;
            }
            other => panic!("expected End after kill -9, got {other:?}"),
        }
    }
    assert!(
        killed_at.elapsed() < Duration::from_secs(2),
        "End came late: {:?}",
        killed_at.elapsed()
    );
    assert!(!srv.stream("k1").is_publishing());

    let ffmpeg = ffmpeg_light(&srv.url("k1"), 2);
    let seen = collect_session(&mut reader, Duration::from_secs(30)).await;
    let (ok, stderr) = finish(ffmpeg, Duration::from_secs(20)).await;
    assert!(ok, "republish failed: {stderr}");
    assert_eq!(seen.start.map(|s| s.epoch), Some(2));
    assert_eq!(seen.end, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_publisher_is_dropped_after_the_idle_timeout() {
    let srv = server(&["k1"], test_config()).await;
    let mut reader = srv.stream("k1").subscribe("test", 1024);
    let mut client = RawClient::publish(srv.addr, "live", "k1").await;
    client
        .video(0, avc_header_tag())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for i in 0..30u32 {
        client
            .video(i * 33, avc_frame_tag(i == 0))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // No audio and no metadata: the session starts video-only after the 1 s audio wait
    // (and the bus's 500 ms clock warm-up, which 1 s of frames covers).
    let start = wait_start(&mut reader, Duration::from_secs(3)).await;
    assert_eq!(start.tracks.len(), 1);
    let silent_from = tokio::time::Instant::now();
    loop {
        match next(&mut reader, Duration::from_secs(6)).await {
            Some(Event::Unit(_)) => {}
            Some(Event::End { epoch: 1 }) => break,
            other => panic!("expected End after the idle timeout, got {other:?}"),
        }
    }
    let silent = silent_from.elapsed();
    assert!(
        silent >= Duration::from_millis(1500) && silent <= Duration::from_secs(4),
        "{silent:?}"
    );
    srv.wait_refused(RefusalKind::IdleTimeout, 1).await;
    assert!(client.read_until_closed(Duration::from_secs(2)).await);
}

/// Sends 40 frames 33 ms apart from `first`, returns the DTS (ms) the bus saw.
async fn timeline_from(first: u32) -> Vec<u64> {
    let srv = server(&["k1"], test_config()).await;
    let mut reader = srv.stream("k1").subscribe("test", 1024);
    let mut client = RawClient::publish(srv.addr, "live", "k1").await;
    client
        .video(first, avc_header_tag())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for i in 0..40u32 {
        let ts = first.wrapping_add(i * 33);
        client
            .video(ts, avc_frame_tag(i % 10 == 0))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let _ = wait_start(&mut reader, Duration::from_secs(3)).await;
    let mut dts = Vec::new();
    while dts.len() < 40 {
        match next(&mut reader, Duration::from_secs(3)).await {
            Some(Event::Unit(u)) if u.track == TrackKind::Video => {
                assert_eq!(u.pts, u.dts);
                dts.push(u64::try_from(u.dts.as_millis()).unwrap_or(u64::MAX));
            }
            other => panic!("expected 40 units, got {other:?} after {}", dts.len()),
        }
    }
    dts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_timestamps_stay_monotonic() {
    let first = 0xFF_FF00;
    let dts = timeline_from(first).await;
    assert_eq!(dts[0], u64::from(first));
    assert!(dts.windows(2).all(|p| p[1] - p[0] == 33), "{dts:?}");
    assert!(dts[39] > 0xFF_FFFF);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_continue_past_the_32_bit_wrap() {
    let first = u32::MAX - 400;
    let dts = timeline_from(first).await;
    assert_eq!(dts[0], u64::from(first));
    assert!(dts.windows(2).all(|p| p[1] - p[0] == 33), "{dts:?}");
    assert!(dts[39] > u64::from(u32::MAX));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_stream_ends_its_rtmp_publisher() {
    let srv = server(&["k1"], test_config()).await;
    let mut reader = srv.stream("k1").subscribe("test", 8192);
    let ffmpeg = ffmpeg_light(&srv.url("k1"), 20);
    let _ = wait_start(&mut reader, Duration::from_secs(20)).await;
    srv.stream("k1").close();
    let (ok, stderr) = finish(ffmpeg, Duration::from_secs(10)).await;
    assert!(
        !ok && stderr.contains("was closed"),
        "ffmpeg after close: {stderr}"
    );
    srv.wait_refused(RefusalKind::StreamClosed, 1).await;
    loop {
        match next(&mut reader, Duration::from_secs(5)).await {
            Some(Event::Unit(_)) => {}
            Some(Event::End { epoch: 1 }) => break,
            other => panic!("expected End, got {other:?}"),
        }
    }
    let again = ffmpeg_light(&srv.url("k1"), 2);
    let (ok, stderr) = finish(again, Duration::from_secs(10)).await;
    assert!(
        !ok && stderr.contains("was closed"),
        "publish to a closed stream: {stderr}"
    );
    srv.wait_refused(RefusalKind::StreamClosed, 2).await;
}
