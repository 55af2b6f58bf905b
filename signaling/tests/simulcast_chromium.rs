//! Simulcast-style layers from the ABR renditions, with two headless Chromium WHEP viewers of
//! one RTMP-published stream: one behind a real UDP bottleneck (a relay of 500 kbit/s with a
//! small queue), the other not. The throttled one drops below the source and keeps decoding;
//! the other stays on the source at full height while it does.

mod common;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::browser::run_script;
use common::{ffmpeg_publish_with, start_registry, test_webrtc_config, test_whip_config, Registry};
use showroom_pipelines::transcode::RenditionSpec;
use showroom_signaling::WebRtcConfig;
use tokio::process::Child;

const SOURCE_HEIGHT: u64 = 360;
const SECS: u32 = 30;

/// ffmpeg publishing a 640x360 test pattern at ~1.2 Mbit/s (keyframe every second) + AAC.
fn publish(url: &str) -> Child {
    let rate = ["-b:v", "1200k", "-maxrate", "1200k", "-bufsize", "600k"];
    ffmpeg_publish_with(url, 0, SECS + 30, &rate)
}

fn samples(report: &serde_json::Value) -> Vec<serde_json::Value> {
    assert!(report["error"].is_null(), "viewer error: {report}");
    report["samples"].as_array().cloned().unwrap_or_default()
}

fn frames(s: &serde_json::Value) -> u64 {
    s["framesDecoded"].as_u64().unwrap_or(0)
}

fn height(s: &serde_json::Value) -> Option<u64> {
    s["height"].as_u64()
}

/// The session id at the end of a WHEP `Location`.
fn session_of(report: &serde_json::Value) -> String {
    report["location"]
        .as_str()
        .and_then(|l| l.rsplit('/').next())
        .unwrap_or_else(|| panic!("no Location in {report}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_viewer_drops_a_layer_and_the_other_stays_on_the_source() {
    let name = "layers";
    let ladder = [
        RenditionSpec::new("240p", 240, 350, 30),
        RenditionSpec::new("160p", 160, 150, 30),
    ];
    let cfg = WebRtcConfig {
        udp_mux_port: Some(0),
        udp_mux_bind: "127.0.0.1".into(),
        ..test_webrtc_config()
    };
    let env = start_registry(
        Registry::with_ladder(&[name], &ladder),
        cfg,
        test_whip_config(),
    )
    .await;
    let server = env.sfu.udp_mux_addr().expect("the UDP mux is bound");
    let _ffmpeg = publish(&env.rtmp_url(name));
    env.wait_live(name).await;
    // Let the renditions start (the transcoder's first keyframes) before viewers come.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let relay = common::relay::spawn(server, 500_000, Duration::from_millis(60)).await;
    let args = |relay_args: Vec<String>| {
        let mut args = vec![env.page_url(), env.whep_url(name), SECS.to_string()];
        args.extend(relay_args);
        args
    };
    let timeout = Duration::from_secs(u64::from(SECS) + 60);
    let throttled_args = args(vec![
        relay.viewer_side.to_string(),
        relay.server_side.to_string(),
    ]);
    let free_args = args(Vec::new());
    let throttled = run_script("whep_view.mjs", &throttled_args, timeout);
    let free = run_script("whep_view.mjs", &free_args, timeout);

    // The SFU's per-viewer layer, sampled while both watch.
    let sfu = env.sfu.clone();
    let sampler = tokio::spawn(async move {
        let mut seen: HashMap<String, Vec<(u32, usize)>> = HashMap::new();
        for tick in 0..(SECS * 4) {
            if let Some(info) = sfu.webrtc_info("layers") {
                for v in info.viewers {
                    seen.entry(v.session).or_default().push((tick, v.layer));
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        seen
    });
    let (throttled, free) = tokio::join!(throttled, free);
    let seen = sampler.await.expect("sampler");
    let info = env.sfu.webrtc_info(name).expect("egress runs");
    eprintln!("layers: {:?}", info.layers);
    eprintln!(
        "relay: {} packets down, {} dropped, {} up",
        relay.stats.down_packets.load(Ordering::Relaxed),
        relay.stats.down_dropped.load(Ordering::Relaxed),
        relay.stats.up_packets.load(Ordering::Relaxed)
    );
    assert_eq!(info.layers.len(), 3, "source + 2 renditions: {info:?}");
    assert!(
        info.layers.iter().all(|l| l.live),
        "all layers live: {info:?}"
    );

    // The throttled viewer: on the source first, then below it; Chromium sees smaller frames
    // and keeps decoding.
    let t_samples = samples(&throttled);
    let t_ticks = seen
        .get(&session_of(&throttled))
        .cloned()
        .unwrap_or_default();
    let t_layers: Vec<usize> = t_ticks.iter().map(|&(_, l)| l).collect();
    eprintln!("throttled viewer layers (every 250 ms): {t_layers:?}");
    let t_heights: Vec<Option<u64>> = t_samples.iter().step_by(10).map(height).collect();
    eprintln!("throttled viewer frame heights (every 1 s): {t_heights:?}");
    assert!(
        relay.stats.down_dropped.load(Ordering::Relaxed) > 0,
        "the bottleneck never dropped: not throttled"
    );
    assert_eq!(
        t_layers.first(),
        Some(&0),
        "starts on the source: {t_layers:?}"
    );
    let tail = &t_layers[t_layers.len().saturating_sub(20)..];
    assert!(
        !tail.is_empty() && tail.iter().all(|&l| l > 0),
        "the throttled viewer is below the source for its last 5 s: {t_layers:?}"
    );
    let last = &t_samples[t_samples.len() - 1];
    let last_h = height(last).unwrap_or(0);
    assert!(
        last_h > 0 && last_h < SOURCE_HEIGHT,
        "Chromium's frameHeight went down: {t_heights:?}"
    );
    let five_s_before = &t_samples[t_samples.len().saturating_sub(50)];
    assert!(
        frames(last) >= frames(five_s_before) + 60,
        "the throttled viewer keeps decoding ({} → {} in 5 s)",
        frames(five_s_before),
        frames(last)
    );

    // The free viewer: on the source, at the source's height, while the throttled one drops
    // (its own feedback decides, not the other viewer's), and decoding throughout. It must
    // stay there for at least 5 s after the throttled viewer left the source. Later on, its
    // own REMB may fall too: Chromium's delay-based estimate also reacts to a CPU-starved
    // receiver on this 2-core box (two browsers, ffmpeg and two x264 renditions), and
    // following a viewer's own estimate down is the policy; that is logged, not failed.
    let f_samples = samples(&free);
    let f_ticks = seen.get(&session_of(&free)).cloned().unwrap_or_default();
    let f_layers: Vec<usize> = f_ticks.iter().map(|&(_, l)| l).collect();
    let t_drop = t_ticks
        .iter()
        .find(|&&(_, l)| l > 0)
        .map(|&(tick, _)| tick)
        .expect("the throttled viewer dropped (checked above)");
    // 5 s from the drop, or from the free viewer's arrival if it came after (both browsers
    // start together, but either may be first).
    let f_first = f_ticks.first().map_or(u32::MAX, |&(tick, _)| tick);
    let hold_until = t_drop.max(f_first).saturating_add(20);
    let f_until: Vec<usize> = f_ticks
        .iter()
        .filter(|&&(tick, _)| tick <= hold_until)
        .map(|&(_, l)| l)
        .collect();
    assert!(
        f_layers.len() > 40
            && f_ticks.iter().any(|&(tick, _)| tick >= hold_until)
            && f_until.iter().all(|&l| l == 0),
        "the unthrottled viewer stays on the source until 5 s after the throttled one dropped \
         (tick {t_drop}): {f_ticks:?}"
    );
    if f_layers.iter().any(|&l| l > 0) {
        eprintln!("the unthrottled viewer's own REMB fell later: {f_layers:?}");
    }
    // Chromium's samples are every 100 ms from its start: the first 4 s of decoded frames
    // fall inside the window above (the throttled viewer drops after it starts too).
    let f_heights: Vec<u64> = f_samples.iter().filter_map(height).take(40).collect();
    assert!(
        f_heights.len() >= 30 && f_heights.iter().all(|&h| h == SOURCE_HEIGHT),
        "the unthrottled viewer's frameHeight is {SOURCE_HEIGHT} on the source: {f_heights:?}"
    );
    let f_last = frames(&f_samples[f_samples.len() - 1]);
    let f_mid = frames(&f_samples[f_samples.len() / 2]);
    assert!(
        f_last >= f_mid + 150,
        "the unthrottled viewer keeps decoding at full rate ({f_mid} → {f_last})"
    );
    assert_eq!(throttled["deleteStatus"].as_u64(), Some(200));
    assert_eq!(free["deleteStatus"].as_u64(), Some(200));
}
