//! Trickle ICE over HTTP PATCH (RFC 9725 §4.3) with GStreamer `webrtcbin` clients: the offer
//! goes out without candidates, they follow in `application/trickle-ice-sdpfrag` PATCHes, and
//! the session connects — a WHEP viewer decodes video, a WHIP publisher's media reaches the bus.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::webrtcbin::{connect_trickle, fragment};
use common::whip_client::{publish_with, Opts};
use common::{start, start_live, test_webrtc_config, wait_count};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtcbin_viewer_trickles_candidates_by_patch() {
    let (env, _ffmpeg) = start_live("tv", 0, 40, test_webrtc_config()).await;
    let viewer = connect_trickle(&env.whep_url("tv")).await;
    assert!(viewer.etag.is_some(), "201 without ETag");
    assert_eq!(viewer.patches, vec![204, 204], "trickle PATCH statuses");
    let decoded = wait_count(&viewer.frames, 30, Duration::from_secs(10)).await;
    assert!(
        decoded >= 30,
        "trickled viewer decoded only {decoded} frames in 10 s"
    );
    let status = env
        .delete(&viewer.location.clone().unwrap_or_default())
        .await;
    assert_eq!(status, 200);
    assert_eq!(env.sfu.session_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtcbin_publisher_trickles_candidates_by_patch() {
    let env = start(&["tp"], test_webrtc_config()).await;
    let publisher = publish_with(
        &env.whip_url("tp"),
        Some("k-tp"),
        Opts {
            trickle: true,
            ..Opts::default()
        },
    )
    .await;
    assert_eq!(publisher.status, 201, "WHIP: {}", publisher.body);
    assert!(publisher.etag.is_some(), "201 without ETag");
    assert_eq!(publisher.patches, vec![204, 204], "trickle PATCH statuses");
    env.wait_live("tp").await;
    let stream = env.stream("tp");
    let units = stream.stats.units_in.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        stream.stats.units_in.load(Ordering::Relaxed) > units + 20,
        "media stopped flowing from the trickled publisher"
    );

    let url = format!(
        "http://{}{}",
        env.http,
        publisher.location.clone().unwrap_or_default()
    );
    let client = reqwest::Client::new();
    let frag = fragment(&publisher.offer, &[], true);
    let status =
        |r: Result<reqwest::Response, reqwest::Error>| r.map(|r| r.status().as_u16()).unwrap_or(0);
    let stale = client
        .patch(&url)
        .header("content-type", "application/trickle-ice-sdpfrag")
        .header("if-match", "\"not-the-etag\"")
        .body(frag.clone())
        .send()
        .await;
    assert_eq!(status(stale), 412, "wrong If-Match");
    // A WHIP session supports trickle but not ICE restart: 422 (RFC 9725 §4.3), session kept.
    let restart = client
        .patch(&url)
        .header("content-type", "application/trickle-ice-sdpfrag")
        .header("if-match", "*")
        .body(frag.replace("a=ice-ufrag:", "a=ice-ufrag:new"))
        .send()
        .await;
    let restart = match restart {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => panic!("PATCH: {e}"),
    };
    assert_eq!(restart.0, 422, "WHIP ICE restart: {}", restart.1);
    assert!(restart.1.contains("ICE restart"), "reason: {}", restart.1);
    assert_eq!(
        env.whip.session_count(),
        1,
        "the refused restart ended the session"
    );
    let location = publisher.location.clone().unwrap_or_default();
    assert_eq!(env.delete(&location).await, 200);
}
