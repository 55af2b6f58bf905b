//! Headless Chromium publishes its fake camera over WHIP; the bus gets H.264 + AAC units.

mod common;

use std::time::Duration;

use common::browser::browser_dir;
use common::{start, test_webrtc_config};
use showroom_pipelines::stream::Event;
use showroom_pipelines::unit::{Codec, TrackKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_publishes_over_whip() {
    let dir = browser_dir();
    let env = start(&["cam"], test_webrtc_config()).await;
    let mut reader = env.stream("cam").subscribe("test", 8192);
    let node = tokio::process::Command::new("node")
        .arg("whip_publish.mjs")
        .arg(env.page_url())
        .arg(env.whip_url("cam"))
        .arg("k-cam")
        .arg("6")
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let node = tokio::spawn(node);

    let session = match tokio::time::timeout(Duration::from_secs(30), reader.recv()).await {
        Ok(Some(Event::Start(s))) => s,
        other => panic!("no session on the bus: {other:?}"),
    };
    assert_eq!(session.protocol, "whip");
    let video = session.track(TrackKind::Video);
    assert!(
        matches!(video.map(|t| &t.codec), Some(Codec::H264 { .. })),
        "video track {video:?}"
    );
    assert!(
        matches!(
            session.track(TrackKind::Audio).map(|t| &t.codec),
            Some(Codec::Aac { .. })
        ),
        "audio track should be AAC (from Opus)"
    );
    let (mut v, mut a) = (0u32, 0u32);
    let mut ended = false;
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(10), reader.recv()).await {
        match ev {
            Event::Unit(u) if u.track == TrackKind::Video => v += 1,
            Event::Unit(_) => a += 1,
            Event::End { .. } => {
                ended = true;
                break;
            }
            Event::Start(_) => panic!("a second session started"),
        }
    }
    let out = match tokio::time::timeout(Duration::from_secs(60), node).await {
        Ok(Ok(Ok(o))) => o,
        other => panic!("node did not finish: {other:?}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "publisher failed: {stderr}\n{stdout}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("publisher output is not JSON ({e}): {stdout}\n{stderr}"));
    assert_eq!(report["status"].as_u64(), Some(201), "{report}");
    assert_eq!(report["codec"].as_str(), Some("video/H264"), "{report}");
    assert_eq!(report["deleteStatus"].as_u64(), Some(200), "{report}");
    assert!(ended, "DELETE did not end the bus session");
    assert!(v >= 60, "only {v} video units on the bus ({report})");
    assert!(a >= 100, "only {a} audio units on the bus");
    eprintln!("chromium WHIP: {v} video and {a} audio units on the bus; {report}");
}
