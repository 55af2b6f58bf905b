//! Recording and replay with real clients: ffmpeg publishes over RTMP, drops, reconnects; the
//! recording (fMP4 segments from the media bus, no re-encode) is replayed through
//! `/vod/{id}/index.m3u8` and decoded whole by ffmpeg; thumbnails are real JPEGs; deleting the
//! stream deletes its recording.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use reqwest::Method;
use showroom_tests::clients::{ffmpeg_publish, FfmpegPublish};
use showroom_tests::vod::{
    count_frames, decodes_cleanly, duration_of, extinf_sum, get_bytes, publish_to_the_end, wait_vod,
};
use showroom_tests::Engine;

fn is_jpeg(b: &[u8]) -> bool {
    b.len() > 100 && b.starts_with(&[0xFF, 0xD8]) && b.ends_with(&[0xFF, 0xD9])
}

#[tokio::test]
async fn a_recording_survives_a_reconnect_and_replays_whole() -> anyhow::Result<()> {
    let engine = Engine::start_with(&[("SHOWROOM_RECORDING__THUMBNAIL_INTERVAL_S", "1")]).await?;
    let s = engine.create_stream("recorded").await?;
    let (id, key) = (
        s["id"].as_str().unwrap().to_owned(),
        s["stream_key"].as_str().unwrap(),
    );

    // First publisher: ~7 s, then it vanishes (killed, no clean close).
    let mut first = ffmpeg_publish(&engine.rtmp_url(key), &FfmpegPublish::default());
    engine
        .wait_stream(&id, Duration::from_secs(15), |s| s["state"] == "live")
        .await?;
    let live_since = Instant::now();
    // While live: the poster is a real JPEG and it changes.
    let mut posters = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while posters.len() < 2 && Instant::now() < deadline {
        let (status, jpg) = get_bytes(&engine, &format!("/thumbs/{id}/latest.jpg")).await?;
        if status == 200 && is_jpeg(&jpg) && posters.last() != Some(&jpg) {
            posters.push(jpg);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    ensure!(
        posters.len() == 2,
        "latest.jpg did not appear and change:\n{}",
        engine.log()
    );
    tokio::time::sleep(Duration::from_secs(7).saturating_sub(live_since.elapsed())).await;
    // While still recording, the playlist is an EVENT playlist without ENDLIST.
    let (status, body) = get_bytes(&engine, &format!("/vod/{id}/index.m3u8")).await?;
    let text = String::from_utf8_lossy(&body);
    ensure!(
        status == 200 && text.contains("PLAYLIST-TYPE:EVENT") && !text.contains("ENDLIST"),
        "{status} {text}\n{}",
        engine.log()
    );
    let first_secs = live_since.elapsed().as_secs_f64();
    first.kill();
    engine
        .wait_stream(&id, Duration::from_secs(20), |s| s["state"] != "live")
        .await?;

    // The publisher comes back for 6 s of media and ends cleanly.
    publish_to_the_end(&engine, &id, key, 6).await?;

    let playlist = wait_vod(&engine, &id, Duration::from_secs(30)).await?;
    ensure!(playlist.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{playlist}");
    ensure!(
        playlist.matches("#EXT-X-MAP:").count() == 2,
        "one init per session:\n{playlist}"
    );
    ensure!(
        playlist.matches("#EXT-X-DISCONTINUITY").count() == 1,
        "one discontinuity:\n{playlist}"
    );
    let recorded = extinf_sum(&playlist);
    // First session: what was live before the kill (minus at most the segment in flight);
    // second: its 6 s (minus the anchor warm-up at most). The state turns "live" a little after
    // the first frames arrive, hence the margin above.
    ensure!(
        recorded > first_secs - 2.5 + 5.0 && recorded < first_secs + 6.0 + 1.5,
        "recorded {recorded:.2} s of {first_secs:.2} + 6 s:\n{playlist}"
    );

    // ffmpeg reads the replay over HTTP and decodes every frame of both sessions.
    let url = engine.url(&format!("/vod/{id}/index.m3u8"));
    let (codec, frames) = count_frames(&url)?;
    ensure!(codec == "h264", "{codec}");
    ensure!(
        (frames / 30.0 - recorded).abs() < 1.0,
        "{frames} frames at 30 fps for {recorded:.2} s recorded"
    );
    decodes_cleanly(&url)?;

    // The MP4 download: one progressive file (moov first, no fragments) of the same length.
    let (status, mp4) = get_bytes(&engine, &format!("/vod/{id}/download.mp4")).await?;
    ensure!(
        status == 200,
        "download: {status} {}\n{}",
        String::from_utf8_lossy(&mp4),
        engine.log()
    );
    ensure!(
        mp4.get(4..8) == Some(b"ftyp")
            && mp4.windows(4).position(|w| w == b"moov")
                < mp4.windows(4).position(|w| w == b"mdat"),
        "not a faststart MP4"
    );
    ensure!(
        !mp4.windows(4).any(|w| w == b"moof"),
        "the download is still fragmented"
    );
    let file = engine.data_dir.path().join("download-check.mp4");
    std::fs::write(&file, &mp4)?;
    let mp4_secs = duration_of(&file)?;
    ensure!(
        (mp4_secs - recorded).abs() < 0.5,
        "download lasts {mp4_secs:.2} s, replay {recorded:.2} s"
    );

    // The scrubber's thumbnail track names real JPEGs.
    let (status, vtt) = get_bytes(&engine, &format!("/vod/{id}/thumbs.vtt")).await?;
    let vtt = String::from_utf8(vtt)?;
    ensure!(status == 200 && vtt.starts_with("WEBVTT"), "{vtt}");
    ensure!(vtt.contains(".jpg#xywh="), "no sprite-sheet cues:\n{vtt}");
    let first_jpg = vtt
        .lines()
        .find(|l| l.contains(".jpg"))
        .and_then(|l| l.split('#').next())
        .with_context(|| format!("no cue:\n{vtt}"))?;
    ensure!(
        vtt.matches(".jpg").count() >= 5,
        "a thumbnail per keyframe (2 s GOP, 1 s interval) expected:\n{vtt}"
    );
    let (status, jpg) = get_bytes(&engine, &format!("/vod/{id}/{first_jpg}")).await?;
    ensure!(status == 200 && is_jpeg(&jpg), "{first_jpg}: {status}");
    // The sheet holds the session's tiles side by side: as wide as its tiles together.
    let tiles = vtt.matches(&format!("{first_jpg}#xywh=")).count();
    let tile_w: u32 = vtt
        .split("#xywh=")
        .nth(1)
        .and_then(|c| c.split(',').nth(2))
        .and_then(|w| w.parse().ok())
        .context("tile width")?;
    let sheet = engine.data_dir.path().join("sheet-check.jpg");
    std::fs::write(&sheet, &jpg)?;
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=width",
            "-of",
            "csv=p=0",
        ])
        .arg(&sheet)
        .output()?;
    let sheet_w: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("sheet width")?;
    ensure!(
        tile_w == 320 && sheet_w == tile_w * tiles.min(10) as u32,
        "sheet {sheet_w} px wide for {tiles} tiles of {tile_w} px"
    );

    // Bad names are refused, the engine stays up.
    for bad in [
        "/vod/{id}/..%2F..%2Fadmin_key/init.mp4",
        "/vod/{id}/123/..%2Findex.tsv",
        "/vod/nope/index.m3u8",
    ] {
        let (status, _) = get_bytes(&engine, &bad.replace("{id}", &id)).await?;
        ensure!(status == 404, "{bad}: {status}");
    }

    // Deleting the stream deletes its recording.
    let dir = engine.data_dir.path().join("recordings").join(&id);
    ensure!(dir.join("index.tsv").exists());
    let r = engine
        .admin(Method::DELETE, &format!("/api/v1/streams/{id}"))
        .send()
        .await?;
    ensure!(r.status() == 204, "delete: {}", r.status());
    ensure!(!dir.exists(), "{} still exists after DELETE", dir.display());
    let (status, _) = get_bytes(&engine, &format!("/vod/{id}/index.m3u8")).await?;
    ensure!(status == 404);
    Ok(())
}

/// The shoppable replay in Chromium (`web-client/tests/e2e/replay.mjs`): a pin made ~10 s into
/// the live show appears 10 s into the replay (±0.2 s).
#[test]
fn a_pin_reappears_at_its_stream_time_in_the_replay() -> anyhow::Result<()> {
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-client");
    let build = Command::new("npm")
        .args(["run", "build"])
        .current_dir(&web)
        .output()
        .context("npm")?;
    ensure!(
        build.status.success(),
        "npm run build:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let out = Command::new("node")
        .arg("tests/e2e/replay.mjs")
        .env("SHOWROOM_BIN", showroom_tests::showroom_bin())
        .current_dir(&web)
        .output()
        .context("node")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    ensure!(
        out.status.success() && text.contains("replay: ok"),
        "replay in Chromium failed:\n{text}"
    );
    Ok(())
}
