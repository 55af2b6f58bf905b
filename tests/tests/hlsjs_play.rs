//! hls.js (lowLatencyMode) in headless Chromium plays a stream published by ffmpeg over RTMP:
//! frames decoded grow over time and hls.js reports a latency. Runs `tests/browser/hlsjs_play.mjs`
//! with `node`; installs its npm dependencies (`npm ci`) when they are missing. A screenshot of
//! the playing page is saved to `<target>/artifacts/hlsjs_play_bf{0,2}.png`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use showroom_tests::browser::run_node_json;
use showroom_tests::clients::{ffmpeg_publish, FfmpegPublish};
use showroom_tests::Engine;

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// `<target>/artifacts` (the test binary lives in `<target>/<profile>/deps`).
fn artifacts_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let target = exe
        .ancestors()
        .nth(3)
        .context("test binary not under <target>/<profile>/deps")?;
    let dir = target.join("artifacts");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// `npm ci --no-audit --no-fund` in tests/browser unless hls.js and playwright-core are there.
fn ensure_node_deps(dir: &Path) -> anyhow::Result<()> {
    // The tests of this file run in parallel threads: one `npm ci` at a time.
    static NPM: Mutex<()> = Mutex::new(());
    let _guard = NPM.lock().unwrap_or_else(|e| e.into_inner());
    let modules = dir.join("node_modules");
    if modules.join("hls.js/dist/hls.min.js").is_file()
        && modules.join("playwright-core/package.json").is_file()
    {
        return Ok(());
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .context("npm not installed (needed for hls.js and playwright-core)")?;
    ensure!(
        out.status.success(),
        "npm ci in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Waits until the stream's multivariant playlist answers 200.
async fn wait_playlist(engine: &Engine, url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = engine.http.get(url).send().await {
            if r.status() == 200 {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("{url} not served after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn hlsjs_plays_llhls_in_chromium() -> anyhow::Result<()> {
    play(0).await
}

/// OBS-like encodes have B-frames: composition offsets must survive the fMP4 packaging.
#[tokio::test]
async fn hlsjs_plays_llhls_with_bframes_in_chromium() -> anyhow::Result<()> {
    play(2).await
}

async fn play(bframes: u32) -> anyhow::Result<()> {
    let dir = browser_dir();
    ensure_node_deps(&dir)?;
    ensure!(
        Path::new("/usr/bin/chromium").exists() || std::env::var_os("CHROMIUM_PATH").is_some(),
        "/usr/bin/chromium missing (scripts/deps.sh test installs Debian's chromium)"
    );
    let engine = Engine::start().await?;
    let s = engine.create_stream(&format!("hls.js bf{bframes}")).await?;
    let key = s["stream_key"].as_str().context("stream_key")?;
    let hls_url = s["hls_url"].as_str().context("hls_url")?.to_owned();
    let opts = FfmpegPublish {
        bframes,
        seconds: Some(90),
        ..FfmpegPublish::default()
    };
    let _publisher = ffmpeg_publish(&engine.rtmp_url(key), &opts);
    wait_playlist(&engine, &hls_url).await?;
    // A complete segment first, so hls.js starts on a live playlist with parts.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let shot = artifacts_dir()?.join(format!("hlsjs_play_bf{bframes}.png"));
    let _ = std::fs::remove_file(&shot);
    let mut args: Vec<std::ffi::OsString> = vec![hls_url.clone().into()];
    args.extend(["--seconds", "20", "--warmup", "8", "--screenshot"].map(Into::into));
    args.push(shot.clone().into());
    let (r, line) = run_node_json(dir.join("hlsjs_play.mjs"), args).await?;
    eprintln!("hlsjs_play: {line}");

    assert!(r["fatal"].is_null(), "hls.js fatal error: {line}");
    let frames: Vec<u64> = r["frames"]
        .as_array()
        .context("frames")?
        .iter()
        .map(|f| f.as_u64().unwrap_or(0))
        .collect();
    assert_eq!(frames.len(), 20, "one sample a second: {line}");
    // Playing, not stuck: frames grow over the last 10 s by at least 5 s worth at 30 fps.
    let (mid, last) = (frames[9], frames[19]);
    assert!(
        last > mid + 150,
        "frames did not grow ({mid} -> {last}): {line}"
    );
    assert!(
        frames.windows(2).all(|w| w[1] >= w[0]),
        "frames went backwards: {line}"
    );
    assert_eq!(r["video_size"], serde_json::json!([640, 360]), "{line}");
    let latency = r["latency_s"]
        .as_f64()
        .context("hls.latency not a number")?;
    assert!(
        latency > 0.0 && latency < 10.0,
        "hls.latency {latency}: {line}"
    );
    assert!(
        r["target_latency_s"].is_number(),
        "hls.targetLatency: {line}"
    );
    // Wall clock minus the PDT of the frame on screen: the origin's PDT is this host's clock.
    let true_p50 = r["true_latency_ms"]["p50"]
        .as_f64()
        .with_context(|| format!("no PDT-based latency (hls.playingDate): {line}"))?;
    assert!(
        true_p50 > 0.0 && true_p50 < 10_000.0,
        "true latency {true_p50} ms: {line}"
    );
    assert!(shot.is_file(), "no screenshot at {}", shot.display());
    eprintln!("screenshot: {}", shot.display());
    Ok(())
}
