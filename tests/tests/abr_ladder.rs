//! Adaptive bitrate with real clients: ffmpeg publishes over RTMP, the engine transcodes the
//! ladder (GStreamer: decode once, x264 per rendition), ffprobe reads every rendition's init +
//! segments (resolution, keyframe PTS identical across renditions), and
//! `shared/tools/llhls_check.py` checks the whole multivariant (0 failures).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use reqwest::Url;
use serde_json::Value;
use showroom_tests::clients::FfmpegPublish;
use showroom_tests::hls::{attr, media_playlists, run_checker};
use showroom_tests::Engine;

/// One `EXT-X-STREAM-INF` variant: (RESOLUTION, URI).
fn variants(multivariant: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = multivariant.lines();
    while let Some(line) = lines.next() {
        if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            let res = attrs
                .split(',')
                .find_map(|a| a.strip_prefix("RESOLUTION="))
                .unwrap_or("")
                .to_string();
            if let Some(uri) = lines.next() {
                out.push((res, uri.trim().to_string()));
            }
        }
    }
    out
}

/// Waits until the multivariant playlist lists `count` variants; returns its text.
async fn wait_variants(engine: &Engine, url: &str, count: usize) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    loop {
        if let Ok(r) = engine.http.get(url).send().await {
            let status = r.status();
            last = r.text().await.unwrap_or_default();
            if status == 200 && variants(&last).len() >= count {
                return Ok(last);
            }
        }
        if Instant::now() > deadline {
            bail!(
                "{url}: not {count} variants after 60 s; last answer:\n{last}\nlog:\n{}",
                engine.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Complete segments of a media playlist: MSN → (EXTINF seconds, URI), and the EXT-X-MAP URI.
fn segments(playlist: &str) -> (BTreeMap<u64, (f64, String)>, Option<String>) {
    let mut msn = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let mut out = BTreeMap::new();
    let mut extinf = None;
    let mut map = None;
    for line in playlist.lines() {
        if let Some(v) = line.strip_prefix("#EXTINF:") {
            extinf = v.trim_end_matches(',').parse::<f64>().ok();
        } else if line.starts_with("#EXT-X-MAP:") {
            map = attr(line, "URI");
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            out.insert(msn, (extinf.take().unwrap_or(0.0), line.trim().to_string()));
            msn += 1;
        }
    }
    (out, map)
}

/// ffprobe of init + segments: (width, height, keyframe PTS in seconds).
async fn probe(
    engine: &Engine,
    dir: &std::path::Path,
    base: &Url,
    init: &str,
    segs: &[String],
) -> anyhow::Result<(u64, u64, Vec<f64>)> {
    let mut bytes = Vec::new();
    for uri in std::iter::once(init).chain(segs.iter().map(String::as_str)) {
        let r = engine.http.get(base.join(uri)?).send().await?;
        ensure!(r.status() == 200, "GET {uri}: {}", r.status());
        bytes.extend_from_slice(&r.bytes().await?);
    }
    let file = dir.join(format!("{}.mp4", init.replace('.', "_")));
    std::fs::write(&file, &bytes)?;
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_streams"])
        .args(["-show_entries", "packet=pts_time,flags", "-of", "json"])
        .arg(&file)
        .output()
        .context("ffprobe not installed (scripts/deps.sh test installs ffmpeg)")?;
    ensure!(
        out.status.success(),
        "ffprobe failed on {init}+segments: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout)?;
    let stream = &json["streams"][0];
    ensure!(stream["codec_name"] == "h264", "not H.264: {stream}");
    let keys: Vec<f64> = json["packets"]
        .as_array()
        .map(|p| p.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|p| p["flags"].as_str().is_some_and(|f| f.starts_with('K')))
        .filter_map(|p| p["pts_time"].as_str().and_then(|t| t.parse().ok()))
        .collect();
    Ok((
        stream["width"].as_u64().unwrap_or(0),
        stream["height"].as_u64().unwrap_or(0),
        keys,
    ))
}

/// The test: a 1080p ffmpeg RTMP publish on its own, with the default ladder (720p,
/// 480p, 360p). Every rendition decodes at its size, keyframes sit at the same PTS in every
/// rendition and the source, segments have the same durations, and each media playlist
/// reports every other rendition. The machine running the tests is shared and often busy: the
/// real-time watchdog gets 60 s of slack here (whether the ladder holds real time is measured
/// by benches/scripts/abr_ladder.py, not asserted by a test).
#[tokio::test]
async fn abr_1080p_publish_every_rendition_decodes_aligned() -> anyhow::Result<()> {
    // The issue asks for this publish "on its own": no other test of this file runs beside it.
    let _alone = showroom_tests::alone().await;
    let engine = Engine::start_with(&[("SHOWROOM_ABR__MAX_LAG_MS", "60000")]).await?;
    let opts = FfmpegPublish {
        size: "1920x1080",
        gop: 30,
        seconds: Some(60),
        preset: "ultrafast",
        bitrate: "4000k",
        ..FfmpegPublish::default()
    };
    let (hls_url, _publisher) = engine.publish_ffmpeg("abr 1080p", &opts).await?;
    let text = wait_variants(&engine, &hls_url, 4).await?;
    let base = Url::parse(&hls_url)?;
    let mut found: Vec<(String, String)> = variants(&text);
    found.sort();
    let resolutions: Vec<&str> = found.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        resolutions,
        vec!["1280x720", "1920x1080", "640x360", "854x480"],
        "{text}"
    );
    assert_eq!(found.iter().filter(|(_, u)| u == "video.m3u8").count(), 1);
    assert!(text.contains("AUDIO=\"aud\""), "{text}");

    // Wait for 3 complete segments common to every rendition.
    let deadline = Instant::now() + Duration::from_secs(90);
    let (lists, common) = loop {
        let mut lists = Vec::new();
        for (_, uri) in &found {
            let t = engine
                .http
                .get(base.join(uri)?)
                .send()
                .await?
                .text()
                .await?;
            lists.push((uri.clone(), t));
        }
        let mut common: Option<Vec<u64>> = None;
        for (_, t) in &lists {
            let msns: Vec<u64> = segments(t).0.keys().copied().collect();
            common = Some(match common {
                None => msns,
                Some(c) => c.into_iter().filter(|m| msns.contains(m)).collect(),
            });
        }
        let common = common.unwrap_or_default();
        if common.len() >= 3 {
            break (lists, common);
        }
        ensure!(
            Instant::now() < deadline,
            "no 3 common segments in 90 s: {lists:#?}\n{}",
            engine.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let common = &common[common.len() - 3..];

    let dir = tempfile::tempdir()?;
    let mut keyframes: Vec<(String, Vec<f64>)> = Vec::new();
    let mut durations: Vec<(String, Vec<f64>)> = Vec::new();
    for (uri, t) in &lists {
        // Every other video rendition and the audio rendition are reported.
        let reports = t.matches("#EXT-X-RENDITION-REPORT:").count();
        assert_eq!(reports, 4, "{uri} reports:\n{t}");
        let (segs, map) = segments(t);
        let init = map.with_context(|| format!("no EXT-X-MAP in {uri}"))?;
        let picked: Vec<String> = common.iter().map(|m| segs[m].1.clone()).collect();
        let (w, h, keys) = probe(&engine, dir.path(), &base, &init, &picked).await?;
        let (res, _) = found.iter().find(|(_, u)| u == uri).context("variant")?;
        assert_eq!(format!("{w}x{h}"), *res, "{uri} decodes at its RESOLUTION");
        assert!(keys.len() >= 3, "{uri}: keyframes {keys:?}");
        keyframes.push((uri.clone(), keys));
        durations.push((uri.clone(), common.iter().map(|m| segs[m].0).collect()));
    }
    let (src_uri, src_keys) = keyframes
        .iter()
        .find(|(u, _)| u == "video.m3u8")
        .context("source")?;
    for (uri, keys) in &keyframes {
        assert_eq!(
            keys.len(),
            src_keys.len(),
            "{uri} {keys:?} vs {src_uri} {src_keys:?}"
        );
        for (a, b) in keys.iter().zip(src_keys) {
            assert!(
                (a - b).abs() < 0.002,
                "{uri} keyframes {keys:?} vs source {src_keys:?}"
            );
        }
    }
    let src_durations = &durations
        .iter()
        .find(|(u, _)| u == "video.m3u8")
        .context("src")?
        .1;
    for (uri, d) in &durations {
        for (a, b) in d.iter().zip(src_durations) {
            assert!(
                (a - b).abs() < 0.04,
                "{uri} EXTINF {d:?} vs source {src_durations:?}"
            );
        }
    }
    let log = engine.log();
    assert!(
        log.contains("abr: H.264 encoder for the renditions"),
        "{log}"
    );
    assert!(!log.contains("rendition dropped"), "{log}");
    Ok(())
}

/// llhls_check.py on a multivariant with a source and two renditions: 0 failures over every
/// media playlist (EXT-X-RENDITION-REPORT, blocking reload and preload hints per rendition).
#[tokio::test]
async fn abr_llhls_check_passes_on_the_ladder() -> anyhow::Result<()> {
    // Part-cadence checks against real time: a 1080p transcode beside it starved the source
    // publisher on a 2-core CI machine (part inter-arrival jitter 904 ms).
    // The checker judges playlists and part cadence, not pixels: a small source and ladder
    // keep the debug-built engine's real-time transcode well inside a noisy 2-core machine
    // (854x480 with 360p + 240p reached 690 ms of part jitter with one core taken away).
    let _alone = showroom_tests::alone().await;
    let ladder = "[{name=\"240p\",height=240,bitrate_kbps=300,max_fps=30},\
                  {name=\"160p\",height=160,bitrate_kbps=150,max_fps=30}]";
    let engine = Engine::start_with(&[("SHOWROOM_ABR__LADDER", ladder)]).await?;
    let opts = FfmpegPublish {
        size: "640x360",
        seconds: Some(75),
        ..FfmpegPublish::default()
    };
    let (hls_url, _publisher) = engine.publish_ffmpeg("abr checker", &opts).await?;
    let text = wait_variants(&engine, &hls_url, 3).await?;
    let medias = media_playlists(&Url::parse(&hls_url)?, &text)?;
    assert_eq!(medias.len(), 4, "3 variants + the audio group:\n{text}");
    // Delta updates (CAN-SKIP-UNTIL) are switched on once every playlist holds 6 target
    // durations; wait for that, so the checker's snapshot of the playlists (fetched one after
    // the other) does not straddle the switch.
    let video = Url::parse(&hls_url)?.join("video.m3u8")?;
    let deadline = Instant::now() + Duration::from_secs(40);
    while !engine
        .http
        .get(video.clone())
        .send()
        .await?
        .text()
        .await?
        .contains("CAN-SKIP-UNTIL")
    {
        ensure!(Instant::now() < deadline, "no CAN-SKIP-UNTIL after 40 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let (summary, out) = run_checker(&hls_url, 30).await?;
    eprintln!("{out}");
    assert_eq!(
        summary["failed"].as_u64(),
        Some(0),
        "llhls_check failures:\n{out}"
    );
    for m in ["240p.m3u8", "160p.m3u8", "video.m3u8", "audio.m3u8"] {
        assert!(out.contains(m), "{m} not checked:\n{out}");
    }
    Ok(())
}

/// An empty ladder is passthrough only: no transcode runs, one variant.
#[tokio::test]
async fn abr_empty_ladder_is_passthrough() -> anyhow::Result<()> {
    let _alone = showroom_tests::alone().await;
    let engine = Engine::start_with(&[("SHOWROOM_ABR__LADDER", "[]")]).await?;
    let opts = FfmpegPublish {
        size: "854x480",
        seconds: Some(20),
        ..FfmpegPublish::default()
    };
    let (hls_url, _publisher) = engine.publish_ffmpeg("abr off", &opts).await?;
    let text = wait_variants(&engine, &hls_url, 1).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let text2 = engine.http.get(&hls_url).send().await?.text().await?;
    assert_eq!(variants(&text).len(), 1, "{text}");
    assert_eq!(variants(&text2).len(), 1, "{text2}");
    let log = engine.log();
    assert!(!log.contains("abr: transcoding session"), "{log}");
    Ok(())
}
