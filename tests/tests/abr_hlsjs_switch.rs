//! hls.js switches rendition under a throttled network: headless Chromium plays a stream with
//! an ABR ladder (ffmpeg RTMP publish, the engine transcodes two renditions), starts on the
//! source level, then the page's network is throttled through CDP
//! (`Network.emulateNetworkConditions`) below the source's bitrate; hls.js must switch to a
//! lower level and keep playing. Runs `tests/browser/abr_switch.mjs` with `node`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use showroom_tests::browser::run_node_json;
use showroom_tests::clients::FfmpegPublish;
use showroom_tests::Engine;

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Waits until the multivariant playlist lists `count` variants.
async fn wait_variants(engine: &Engine, url: &str, count: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = engine.http.get(url).send().await {
            if r.status() == 200
                && r.text()
                    .await
                    .unwrap_or_default()
                    .matches("#EXT-X-STREAM-INF")
                    .count()
                    >= count
            {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("{url}: not {count} variants after 60 s\n{}", engine.log());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn hlsjs_switches_down_under_a_throttled_network() -> anyhow::Result<()> {
    let dir = browser_dir();
    ensure!(
        dir.join("node_modules/hls.js/dist/hls.min.js").is_file()
            && dir
                .join("node_modules/playwright-core/package.json")
                .is_file(),
        "run `npm ci` in {} first (scripts/test.sh does)",
        dir.display()
    );
    ensure!(
        Path::new("/usr/bin/chromium").exists() || std::env::var_os("CHROMIUM_PATH").is_some(),
        "/usr/bin/chromium missing (scripts/deps.sh test installs Debian's chromium)"
    );
    let ladder = "[{name=\"360p\",height=360,bitrate_kbps=300,max_fps=30},\
                  {name=\"240p\",height=240,bitrate_kbps=150,max_fps=30}]";
    let engine = Engine::start_with(&[("SHOWROOM_ABR__LADDER", ladder)]).await?;
    let opts = FfmpegPublish {
        size: "854x480",
        seconds: Some(90),
        bitrate: "1500k",
        ..FfmpegPublish::default()
    };
    let (hls_url, _publisher) = engine.publish_ffmpeg("abr hls.js", &opts).await?;
    wait_variants(&engine, &hls_url, 3).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut args: Vec<std::ffi::OsString> = vec![hls_url.clone().into()];
    args.extend(["--warmup", "8", "--throttle-kbps", "600", "--wait", "40"].map(Into::into));
    let (r, line) = run_node_json(dir.join("abr_switch.mjs"), args).await?;
    eprintln!("abr_switch: {line}");
    let levels = r["levels"].as_array().context("levels")?;
    assert_eq!(levels.len(), 3, "source + 2 renditions: {line}");
    let heights: Vec<u64> = levels.iter().filter_map(|l| l["height"].as_u64()).collect();
    assert!(
        heights.contains(&480) && heights.contains(&360) && heights.contains(&240),
        "{line}"
    );
    assert_eq!(
        r["throttled_at_level"], r["start_level"],
        "playing the top level before the throttle: {line}"
    );
    assert_eq!(
        r["switched_down"], true,
        "no switch to a lower level: {line}"
    );
    assert_eq!(r["ok"], true, "not playing after the switch: {line}");
    Ok(())
}
