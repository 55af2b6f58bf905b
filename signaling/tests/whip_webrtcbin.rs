//! WHIP ingest from a GStreamer `webrtcbin` publisher: the stream reaches the bus as H.264 +
//! AAC (so LL-HLS can package it) and comes back out over WHEP; refusals have their status.

mod common;

use std::time::Duration;

use common::whip_client::publish;
use common::{start, test_webrtc_config, wait_count};
use showroom_pipelines::llhls::{self, LlHlsConfig, PlaylistQuery};
use showroom_pipelines::stream::Event;
use showroom_pipelines::unit::{Codec, TrackKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtcbin_publishes_and_is_viewed_over_whep() {
    let env = start(&["host"], test_webrtc_config()).await;
    let mut reader = env.stream("host").subscribe("test", 4096);
    let origin = llhls::spawn(env.stream("host"), LlHlsConfig::default());
    let publisher = publish(&env.whip_url("host"), Some("k-host")).await;
    assert_eq!(publisher.status, 201, "WHIP POST: {}", publisher.body);
    assert!(
        publisher.body.contains("127.0.0.1"),
        "answer: {}",
        publisher.body
    );
    let location = publisher.location.clone().unwrap_or_default();
    assert!(location.starts_with("/whip/host/"), "Location {location}");

    let session = match tokio::time::timeout(Duration::from_secs(15), reader.recv()).await {
        Ok(Some(Event::Start(s))) => s,
        other => panic!("no session on the bus: {other:?}"),
    };
    assert_eq!(session.protocol, "whip");
    let video = session.track(TrackKind::Video).map(|t| t.codec.clone());
    let audio = session.track(TrackKind::Audio).map(|t| t.codec.clone());
    assert!(
        matches!(video, Some(Codec::H264 { .. })),
        "video track {video:?}"
    );
    assert!(
        matches!(audio, Some(Codec::Aac { .. })),
        "audio track (Opus → AAC) {audio:?}"
    );
    let (mut v, mut a, mut keys) = (0, 0, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while (v < 60 || a < 50) && tokio::time::Instant::now() < deadline {
        if let Ok(Some(Event::Unit(u))) =
            tokio::time::timeout(Duration::from_secs(2), reader.recv()).await
        {
            match u.track {
                TrackKind::Video => {
                    v += 1;
                    keys += u64::from(u.keyframe);
                }
                TrackKind::Audio => a += 1,
            }
        }
    }
    assert!(v >= 60 && a >= 50, "bus units: {v} video, {a} audio");
    assert!(keys >= 1, "no keyframe on the bus");

    // The same stream comes out as LL-HLS: AAC + H.264 renditions with parts.
    let mut hls = String::new();
    for _ in 0..100 {
        let q = PlaylistQuery::parse(None).unwrap_or_else(|e| panic!("query: {e}"));
        if let (Ok(m), Ok(a)) = (
            origin.multivariant(),
            origin.media_playlist("audio", &q).await,
        ) {
            hls = format!(
                "{}\n{}",
                String::from_utf8_lossy(&m.bytes),
                String::from_utf8_lossy(&a.bytes)
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        hls.contains("avc1") && hls.contains("mp4a"),
        "LL-HLS of the WHIP stream: {hls}"
    );
    assert!(hls.contains("#EXT-X-PART:"), "no LL-HLS parts: {hls}");

    // The same stream comes out over WHEP.
    let viewer = common::webrtcbin::connect(&env.whep_url("host")).await;
    let decoded = wait_count(&viewer.frames, 30, Duration::from_secs(15)).await;
    assert!(
        decoded >= 30,
        "WHEP viewer of the WHIP stream decoded {decoded} frames"
    );
    drop(viewer);

    let status = env.delete(&location).await;
    assert_eq!(status, 200, "DELETE {location}");
    assert_eq!(env.whip.session_count(), 0);
    assert!(!env.stream("host").is_publishing(), "publish did not end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_refusals() {
    let env = start(&["one", "two"], test_webrtc_config()).await;
    let url = env.whip_url("one");

    let p = publish(&url, None).await;
    assert_eq!(p.status, 401, "no token: {}", p.body);
    let p = publish(&url, Some("wrong")).await;
    assert_eq!(p.status, 401, "wrong key: {}", p.body);
    assert!(p.body.contains("unknown stream key"), "{}", p.body);
    let p = publish(&url, Some("k-two")).await;
    assert_eq!(p.status, 401, "key of another stream: {}", p.body);

    let bad = reqwest::Client::new()
        .post(&url)
        .bearer_auth("k-one")
        .header("content-type", "application/sdp")
        .body("v=0\r\nnot sdp")
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST: {e}"));
    assert_eq!(bad.status().as_u16(), 400);

    let first = publish(&url, Some("k-one")).await;
    assert_eq!(first.status, 201, "first publisher: {}", first.body);
    let second = publish(&url, Some("k-one")).await;
    assert_eq!(second.status, 409, "second publisher: {}", second.body);
    assert!(
        second.body.contains("already has a publisher"),
        "{}",
        second.body
    );
    assert_eq!(env.whip.session_count(), 1);
}
