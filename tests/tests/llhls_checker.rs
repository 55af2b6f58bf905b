//! LL-HLS origin conformance with real clients: ffmpeg (with and without B-frames) and GStreamer's
//! `rtmp2sink` publish over RTMP; `shared/tools/llhls_check.py` checks the origin (0 failures),
//! and ffprobe reads init + segment of every media playlist (H.264 + AAC, right resolution).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use reqwest::Url;
use serde_json::Value;
use showroom_tests::clients::{ffmpeg_publish, gst_publish, FfmpegPublish};
use showroom_tests::hls::{attr, media_playlists, run_checker};
use showroom_tests::Engine;

/// (media sequence of the newest part or segment, parts listed so far) of a media playlist.
fn newest_position(playlist: &str) -> (u64, usize) {
    let mut msn = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let mut parts = 0;
    for line in playlist.lines() {
        if line.starts_with("#EXT-X-PART:") {
            parts += 1;
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            msn += 1;
        }
    }
    (msn, parts)
}

/// Waits until the multivariant playlist answers and its first media playlist lists parts.
async fn wait_playlist(engine: &Engine, hls_url: &str) -> anyhow::Result<Vec<Url>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let base = Url::parse(hls_url)?;
    let mut last = String::new();
    loop {
        if let Ok(r) = engine.http.get(hls_url).send().await {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            if status == 200 {
                let medias = media_playlists(&base, &body)?;
                let media = engine.http.get(medias[0].clone()).send().await?;
                let text = media.text().await?;
                if text.contains("#EXT-X-PART:") && text.contains("#EXTINF") {
                    return Ok(medias);
                }
                last = text;
            } else {
                last = format!("{status}: {body}");
            }
        }
        if Instant::now() > deadline {
            bail!("no LL-HLS playlist with a complete segment after 30 s; last answer:\n{last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Init + newest complete segment of each media playlist, probed by ffprobe; returns the
/// streams found (codec_name, width, height) across all playlists.
async fn probe_streams(engine: &Engine, medias: &[Url]) -> anyhow::Result<Vec<Value>> {
    let dir = tempfile::tempdir()?;
    let mut streams = Vec::new();
    for (i, media) in medias.iter().enumerate() {
        let text = engine.http.get(media.clone()).send().await?.text().await?;
        let init = text
            .lines()
            .find(|l| l.starts_with("#EXT-X-MAP:"))
            .and_then(|l| attr(l, "URI"))
            .with_context(|| format!("no EXT-X-MAP in {media}:\n{text}"))?;
        let segment = text
            .lines()
            .rfind(|l| !l.starts_with('#') && !l.trim().is_empty())
            .with_context(|| format!("no complete segment in {media}:\n{text}"))?;
        let mut bytes = Vec::new();
        for uri in [init.as_str(), segment] {
            let r = engine.http.get(media.join(uri)?).send().await?;
            ensure!(r.status() == 200, "GET {uri} from {media}: {}", r.status());
            bytes.extend_from_slice(&r.bytes().await?);
        }
        let file = dir.path().join(format!("media{i}.mp4"));
        std::fs::write(&file, &bytes)?;
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-show_streams", "-of", "json"])
            .arg(&file)
            .output()
            .context("ffprobe not installed (scripts/deps.sh test installs ffmpeg)")?;
        ensure!(
            out.status.success(),
            "ffprobe failed on init+{segment} of {media}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: Value = serde_json::from_slice(&out.stdout)?;
        if let Some(list) = json["streams"].as_array() {
            streams.extend(list.iter().cloned());
        }
    }
    Ok(streams)
}

fn assert_h264_aac(streams: &[Value], width: u64, height: u64) {
    let video = streams
        .iter()
        .find(|s| s["codec_name"] == "h264")
        .unwrap_or_else(|| panic!("no H.264 stream: {streams:?}"));
    assert_eq!(video["width"].as_u64(), Some(width), "{video}");
    assert_eq!(video["height"].as_u64(), Some(height), "{video}");
    let audio = streams
        .iter()
        .find(|s| s["codec_name"] == "aac")
        .unwrap_or_else(|| panic!("no AAC stream: {streams:?}"));
    assert_eq!(audio["sample_rate"].as_str(), Some("48000"), "{audio}");
}

async fn ffmpeg_conformance(bframes: u32) -> anyhow::Result<()> {
    // The checker times part arrivals against real time: one real-time publish at a time.
    let _alone = showroom_tests::alone().await;
    let engine = Engine::start().await?;
    let s = engine
        .create_stream(&format!("checker bf{bframes}"))
        .await?;
    let key = s["stream_key"].as_str().context("stream_key")?;
    let hls_url = s["hls_url"].as_str().context("hls_url")?.to_owned();
    let opts = FfmpegPublish {
        bframes,
        gop: 60,
        fps: 30,
        seconds: Some(75),
        ..FfmpegPublish::default()
    };
    let _publisher = ffmpeg_publish(&engine.rtmp_url(key), &opts);
    let medias = wait_playlist(&engine, &hls_url).await?;

    let (summary, text) = run_checker(&hls_url, 20).await?;
    eprintln!("{text}");
    assert_eq!(
        summary["failed"].as_u64(),
        Some(0),
        "llhls_check failures (bframes={bframes}):\n{text}"
    );
    assert!(
        summary["passed"].as_u64().unwrap_or(0) > 20,
        "too few checks ran:\n{text}"
    );
    assert!(
        summary["origin_latency_ms"]["p50"].is_number(),
        "no origin latency measured:\n{text}"
    );

    let streams = probe_streams(&engine, &medias).await?;
    assert_h264_aac(&streams, 640, 360);
    Ok(())
}

#[tokio::test]
async fn llhls_check_passes_ffmpeg_without_bframes() -> anyhow::Result<()> {
    ffmpeg_conformance(0).await
}

#[tokio::test]
async fn llhls_check_passes_ffmpeg_with_bframes() -> anyhow::Result<()> {
    ffmpeg_conformance(2).await
}

#[tokio::test]
async fn rtmp2sink_publish_advances_playlist_and_probes() -> anyhow::Result<()> {
    let _alone = showroom_tests::alone().await;
    let engine = Engine::start().await?;
    let s = engine.create_stream("rtmp2sink").await?;
    let key = s["stream_key"].as_str().context("stream_key")?;
    let hls_url = s["hls_url"].as_str().context("hls_url")?.to_owned();
    let _publisher = gst_publish(&engine.rtmp_url(key), 40);
    let medias = wait_playlist(&engine, &hls_url).await?;

    for media in &medias {
        let first = engine.http.get(media.clone()).send().await?.text().await?;
        let before = newest_position(&first);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let again = engine.http.get(media.clone()).send().await?.text().await?;
        let after = newest_position(&again);
        assert!(
            after.0 > before.0 || (after.0 == before.0 && after.1 > before.1),
            "{media} did not advance in 3 s: {before:?} -> {after:?}\n{again}"
        );
    }
    let streams = probe_streams(&engine, &medias).await?;
    assert_h264_aac(&streams, 640, 360);
    Ok(())
}
