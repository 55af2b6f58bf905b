//! The engine's WebRTC layers end to end: ffmpeg publishes over RTMP, the engine transcodes a
//! two-rung ladder, a headless Chromium WHEP viewer starts on the configured start layer, and
//! `GET /api/v1/streams/{id}/webrtc` reports the layers and the viewer's (staff only).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{ensure, Context};
use serde_json::Value;
use showroom_tests::browser::run_node_json;
use showroom_tests::clients::FfmpegPublish;
use showroom_tests::Engine;

async fn webrtc_info(engine: &Engine, id: &str) -> anyhow::Result<Value> {
    let r = engine
        .admin(
            reqwest::Method::GET,
            &format!("/api/v1/streams/{id}/webrtc"),
        )
        .send()
        .await?;
    ensure!(r.status() == 200, "GET webrtc: {}", r.status());
    Ok(r.json().await?)
}

#[tokio::test]
async fn a_viewer_starts_on_the_configured_layer_and_the_api_reports_it() -> anyhow::Result<()> {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../signaling/tests/browser/whep_view.mjs");
    ensure!(
        script
            .with_file_name("node_modules/playwright-core/package.json")
            .is_file(),
        "run `npm ci` in signaling/tests/browser first"
    );
    let ladder = "[{name=\"240p\",height=240,bitrate_kbps=350,max_fps=30},\
                  {name=\"160p\",height=160,bitrate_kbps=150,max_fps=30}]";
    let engine = Engine::start_with(&[
        ("SHOWROOM_ABR__LADDER", ladder),
        ("SHOWROOM_WEBRTC__INCLUDE_LOOPBACK", "true"),
        ("SHOWROOM_WEBRTC__ICE_INTERFACES", "[\"lo\"]"),
        ("SHOWROOM_WEBRTC__START_LAYER", "2"),
    ])
    .await?;
    let opts = FfmpegPublish {
        seconds: Some(60),
        gop: 30,
        ..FfmpegPublish::default()
    };
    let (hls_url, _publisher) = engine.publish_ffmpeg("layers", &opts).await?;
    let id = hls_url
        .split('/')
        .rev()
        .nth(1)
        .context("stream id in hls_url")?
        .to_owned();

    // Staff only; unknown streams are 404.
    let path = format!("/api/v1/streams/{id}/webrtc");
    let anon = engine.http.get(engine.url(&path)).send().await?;
    assert_eq!(anon.status(), 401, "no credentials");
    let unknown = engine
        .admin(reqwest::Method::GET, "/api/v1/streams/nope/webrtc")
        .send()
        .await?;
    assert_eq!(unknown.status(), 404);
    let idle = webrtc_info(&engine, &id).await?;
    assert_eq!(idle["viewers"].as_array().map(Vec::len), Some(0), "{idle}");

    engine
        .wait_stream(&id, Duration::from_secs(30), |s| s["state"] == "live")
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await; // the renditions' first keyframes
    let args = vec![
        engine.url("/healthz").into(),
        engine.url(&format!("/whep/{id}")).into(),
        "7".into(),
    ];
    let viewer = tokio::spawn(run_node_json(script, args));
    // The viewer is on layer 0 from its POST until it connects and is attached to its start layer.
    let mut during = Value::Null;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        during = webrtc_info(&engine, &id).await?;
        let all_live = during["layers"]
            .as_array()
            .is_some_and(|l| l.len() == 3 && l.iter().all(|l| l["live"] == true));
        if all_live && during["viewers"][0]["layer"].as_u64() == Some(2) {
            break;
        }
    }
    let (report, line) = viewer.await??;
    eprintln!("webrtc info while watching: {during}");
    let layers = during["layers"].as_array().context("layers")?;
    let names: Vec<&str> = layers.iter().filter_map(|l| l["name"].as_str()).collect();
    assert_eq!(names, ["source", "240p", "160p"], "{during}");
    assert!(layers.iter().all(|l| l["live"] == true), "{during}");
    assert_eq!(layers[1]["bitrate_bps"].as_u64(), Some(350_000));
    let v = &during["viewers"][0];
    assert_eq!(v["layer"].as_u64(), Some(2), "{during}");
    assert_eq!(v["layer_name"], "160p", "{during}");

    let samples = report["samples"].as_array().context("samples")?;
    let heights: Vec<u64> = samples
        .iter()
        .filter_map(|s| s["height"].as_u64())
        .collect();
    assert!(
        !heights.is_empty() && heights.iter().all(|&h| h == 160),
        "Chromium decodes the 160p layer: {line}"
    );
    let frames = samples
        .last()
        .and_then(|s| s["framesDecoded"].as_u64())
        .unwrap_or(0);
    assert!(frames >= 60, "framesDecoded {frames}: {line}");
    Ok(())
}
