//! Replay test helpers shared by the recording tests: fetch, wait for a complete VOD playlist,
//! sum its durations, and have ffprobe/ffmpeg count, decode and time what the engine serves.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};

use crate::clients::{ffmpeg_publish, FfmpegPublish};
use crate::Engine;

/// Status and body of a GET on the engine.
pub async fn get_bytes(engine: &Engine, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    let r = engine.http.get(engine.url(path)).send().await?;
    Ok((r.status().as_u16(), r.bytes().await?.to_vec()))
}

/// The sum of a playlist's `#EXTINF` durations, in seconds.
pub fn extinf_sum(playlist: &str) -> f64 {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|v| v.trim_end_matches(',').parse::<f64>().ok())
        .sum()
}

/// A publisher that sends `seconds` of media to stream `id` (key `key`) and ends cleanly:
/// returns once the stream was live and is not any more.
pub async fn publish_to_the_end(
    engine: &Engine,
    id: &str,
    key: &str,
    seconds: u32,
) -> anyhow::Result<()> {
    let mut publisher = ffmpeg_publish(
        &engine.rtmp_url(key),
        &FfmpegPublish {
            seconds: Some(seconds),
            ..Default::default()
        },
    );
    engine
        .wait_stream(id, Duration::from_secs(15), |s| s["state"] == "live")
        .await?;
    ensure!(publisher.wait_success(), "ffmpeg failed");
    engine
        .wait_stream(id, Duration::from_secs(20), |s| s["state"] != "live")
        .await?;
    Ok(())
}

/// Waits until the replay playlist of `id` is complete (ENDLIST), at most `within`.
pub async fn wait_vod(engine: &Engine, id: &str, within: Duration) -> anyhow::Result<String> {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = get_bytes(engine, &format!("/vod/{id}/index.m3u8")).await?;
        let text = String::from_utf8_lossy(&body).into_owned();
        if status == 200 && text.contains("#EXT-X-ENDLIST") {
            return Ok(text);
        }
        ensure!(
            Instant::now() < deadline,
            "no complete VOD playlist ({status}):\n{text}\n{}",
            engine.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// ffprobe decodes the first video stream of `url`: its codec name and frame count.
pub fn count_frames(url: &str) -> anyhow::Result<(String, f64)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames,codec_name",
            "-of",
            "csv=p=0",
            url,
        ])
        .output()
        .context("ffprobe")?;
    // The HLS demuxer lists the stream under its program too: the first line is enough.
    let probe = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    ensure!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (codec, frames) = probe
        .split_once(',')
        .with_context(|| format!("ffprobe said {probe}"))?;
    let frames = frames
        .parse()
        .with_context(|| format!("ffprobe said {probe}"))?;
    Ok((codec.to_owned(), frames))
}

/// ffmpeg decodes all of `url` and reports no error.
pub fn decodes_cleanly(url: &str) -> anyhow::Result<()> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i", url, "-f", "null", "-"])
        .output()
        .context("ffmpeg")?;
    let errors = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success() && errors.trim().is_empty(),
        "decoding {url} failed:\n{errors}"
    );
    Ok(())
}

/// A media file's duration in seconds (ffprobe's `format=duration`).
pub fn duration_of(file: &Path) -> anyhow::Result<f64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .context("ffprobe")?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .with_context(|| format!("duration of {}", file.display()))
}
