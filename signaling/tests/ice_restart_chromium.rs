//! Headless Chromium trickles its candidates and then restarts ICE (`pc.restartIce()`), over
//! WHEP `PATCH` (RFC 9725 §4.3/§4.4) and over `/ws/signal`; video keeps being decoded.

mod common;

use std::time::Duration;

use common::browser::run_script;
use common::{start_live, test_webrtc_config};

async fn restart(mode: &str) -> serde_json::Value {
    let name = format!("restart{mode}");
    let (env, _ffmpeg) = start_live(&name, 0, 60, test_webrtc_config()).await;
    let report = run_script(
        "whep_restart.mjs",
        &[
            env.page_url(),
            env.whep_url(&name),
            mode.to_owned(),
            env.ws_url(),
        ],
        Duration::from_secs(90),
    )
    .await;
    eprintln!("{mode}: {report}");
    assert!(report["error"].is_null(), "viewer error: {report}");
    assert_eq!(
        report["offerHadCandidates"].as_bool(),
        Some(false),
        "the offer must go out without candidates: {report}"
    );
    let patches = report["patches"].as_array().cloned().unwrap_or_default();
    assert!(!patches.is_empty(), "no candidate trickled: {report}");
    let before = report["framesBeforeRestart"].as_u64().unwrap_or(0);
    assert!(
        before >= 30,
        "only {before} frames before the restart (trickled session did not connect?): {report}"
    );
    assert_eq!(report["restartStatus"].as_u64(), Some(200), "{report}");
    assert_ne!(report["ufragBefore"], report["ufragAfter"], "{report}");
    assert!(report["serverUfragAfter"].is_string(), "{report}");
    assert_ne!(
        report["serverUfragBefore"], report["serverUfragAfter"],
        "the server kept its ICE credentials: {report}"
    );
    let at = report["framesAtRestart"].as_u64().unwrap_or(0);
    let end = report["framesEnd"].as_u64().unwrap_or(0);
    assert!(
        end >= at + 60,
        "video did not continue after the ICE restart ({at} → {end}): {report}"
    );
    assert_eq!(report["stateEnd"].as_str(), Some("connected"), "{report}");
    if let Some(u) = report["transportUfrag"].as_str() {
        assert_eq!(
            Some(u),
            report["ufragAfter"].as_str(),
            "media runs on the old ICE session: {report}"
        );
    }
    assert_eq!(report["leaveStatus"].as_u64(), Some(200), "{report}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.sfu.session_count(), 0, "session left behind");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_trickles_and_restarts_ice_over_whep_patch() {
    let report = restart("patch").await;
    assert!(
        report["patches"]
            .as_array()
            .is_some_and(|p| p.iter().all(|s| s.as_u64() == Some(204))),
        "trickle PATCHes must answer 204: {report}"
    );
    assert!(report["etag"].is_string(), "no ETag on the 201: {report}");
    assert_eq!(
        report["restartType"].as_str(),
        Some("application/trickle-ice-sdpfrag"),
        "{report}"
    );
    assert!(report["etagAfter"].is_string(), "{report}");
    assert_ne!(report["etag"], report["etagAfter"], "restart kept the ETag");
    assert_eq!(
        report["stalePatch"].as_u64(),
        Some(412),
        "a PATCH with the pre-restart ETag must be refused: {report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_trickles_and_restarts_ice_over_ws_signal() {
    let report = restart("ws").await;
    assert_eq!(report["restartType"].as_str(), Some("answer"), "{report}");
}

/// `web-client/src/player/rfc9725.ts` transpiled to an ES module (with the web client's tsc).
fn transpile_client_signalling() -> std::path::PathBuf {
    let web = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web-client");
    let tsc = web.join("node_modules/.bin/tsc");
    assert!(
        tsc.exists(),
        "run `npm ci` in {} first (tsc is missing)",
        web.display()
    );
    let out = std::env::temp_dir().join(format!("showroom-rfc9725-{}", std::process::id()));
    let status = std::process::Command::new(&tsc)
        .current_dir(&web)
        .args(["--ignoreConfig", "src/player/rfc9725.ts", "--outDir"])
        .arg(&out)
        .args([
            "--target",
            "es2022",
            "--module",
            "esnext",
            "--lib",
            "es2022,dom",
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(status, "tsc could not transpile rfc9725.ts");
    out.join("rfc9725.js")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_client_signalling_restarts_ice() {
    let module = transpile_client_signalling();
    let (env, _ffmpeg) = start_live("client", 0, 60, test_webrtc_config()).await;
    let report = run_script(
        "whep_client_restart.mjs",
        &[
            env.page_url(),
            env.whep_url("client"),
            module.display().to_string(),
        ],
        Duration::from_secs(90),
    )
    .await;
    eprintln!("web client: {report}");
    assert!(report["error"].is_null(), "client error: {report}");
    assert!(
        report["framesBeforeRestart"].as_u64().unwrap_or(0) >= 30,
        "{report}"
    );
    assert!(report["etagAfter"].is_string(), "{report}");
    assert_ne!(report["etagBefore"], report["etagAfter"], "{report}");
    assert_ne!(
        report["serverUfragBefore"], report["serverUfragAfter"],
        "{report}"
    );
    let at = report["framesAtRestart"].as_u64().unwrap_or(0);
    let end = report["framesEnd"].as_u64().unwrap_or(0);
    assert!(end >= at + 60, "video stopped after restartIce(): {report}");
    assert_eq!(report["stateEnd"].as_str(), Some("connected"), "{report}");
    if let Some(u) = report["transportUfrag"].as_str() {
        assert_eq!(Some(u), report["ufragAfter"].as_str(), "{report}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.sfu.session_count(), 0, "hangUp left the session");
}
