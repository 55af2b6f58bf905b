//! Recordings in S3-compatible storage, with real clients: ffmpeg publishes over RTMP, drops and
//! reconnects; every finished file goes to a real S3 server (moto and s3s-fs, both checking SigV4)
//! and the local copies are deleted (`keep_local = false`); ffmpeg replays the VOD served from
//! the bucket, from this engine and from a second engine with an empty data dir on the same
//! PostgreSQL; deleting the stream deletes every object; a wrong secret is refused, logged, and
//! the engine stays up with the recording kept on its disk.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use reqwest::Method;
use showroom_tests::clients::{ffmpeg_publish, FfmpegPublish};
use showroom_tests::services::{Postgres, S3};
use showroom_tests::vod::{
    count_frames, decodes_cleanly, duration_of, extinf_sum, get_bytes, publish_to_the_end, wait_vod,
};
use showroom_tests::Engine;

/// How long a replay may take to be complete once the publisher is gone.
const VOD_WAIT: Duration = Duration::from_secs(40);

/// Files of kind `ext` under `dir`, recursively.
fn local_files(dir: &Path, ext: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(local_files(&p, ext));
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p.display().to_string());
        }
    }
    out
}

/// The store's S3 settings for `s3`: its endpoint, bucket, key and prefix, path style.
fn store_config(s3: &S3) -> showroom_pipelines::record::S3Config {
    showroom_pipelines::record::S3Config {
        endpoint: s3.endpoint(),
        bucket: s3.bucket.clone(),
        access_key_id: s3.access_key_id.clone(),
        secret_access_key: s3.secret_access_key.clone(),
        prefix: s3.prefix.clone(),
        path_style: true,
        ..Default::default()
    }
}

/// The replay at `url` decodes whole (H.264): its frame count.
fn decode(url: &str) -> anyhow::Result<f64> {
    let (codec, frames) = count_frames(url)?;
    ensure!(codec == "h264", "{url}: {codec}");
    decodes_cleanly(url)?;
    Ok(frames)
}

#[tokio::test]
async fn recordings_go_to_s3_and_replay_from_there_on_any_engine() -> anyhow::Result<()> {
    round_trip(S3::start("showroom-rec").await?).await
}

/// The same on a second, independent S3 implementation, with the engine's default key prefix
/// (`recordings/`: a `/` in every list query, which moto cannot check).
#[tokio::test]
async fn recordings_round_trip_on_s3s_fs_with_the_default_prefix() -> anyhow::Result<()> {
    round_trip(S3::start_s3s_fs("showroom-rec").await?).await
}

async fn round_trip(s3: S3) -> anyhow::Result<()> {
    let pg = Postgres::start()?;
    let mut env: Vec<(String, String)> = s3.engine_env(&s3.secret_access_key, false);
    env.push(("SHOWROOM_DATABASE__URL".into(), pg.url()));
    env.push((
        "SHOWROOM_RECORDING__THUMBNAIL_INTERVAL_S".into(),
        "1".into(),
    ));
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let engine = Engine::start_with(&env_ref).await?;
    let s = engine.create_stream("recorded to s3").await?;
    let (id, key) = (
        s["id"].as_str().context("id")?.to_owned(),
        s["stream_key"].as_str().context("key")?.to_owned(),
    );

    // First publisher: ~6 s, then it vanishes; the second publishes 5 s and ends cleanly.
    let mut first = ffmpeg_publish(&engine.rtmp_url(&key), &FfmpegPublish::default());
    engine
        .wait_stream(&id, Duration::from_secs(15), |s| s["state"] == "live")
        .await?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    first.kill();
    engine
        .wait_stream(&id, Duration::from_secs(20), |s| s["state"] != "live")
        .await?;
    publish_to_the_end(&engine, &id, &key, 5).await?;
    let playlist = wait_vod(&engine, &id, VOD_WAIT).await?;
    ensure!(
        playlist.matches("#EXT-X-MAP:").count() == 2
            && playlist.matches("#EXT-X-DISCONTINUITY").count() == 1,
        "two sessions, one discontinuity:\n{playlist}"
    );
    let segments: Vec<&str> = playlist.lines().filter(|l| l.ends_with(".m4s")).collect();
    let recorded = extinf_sum(&playlist);
    ensure!(
        recorded > 7.0 && recorded < 13.0,
        "recorded {recorded:.2} s of ~6 + 5 s:\n{playlist}"
    );

    // Every file reaches the bucket, and the local copies go (the index stays).
    let prefix = format!("{}{id}/", s3.prefix);
    let local = engine.data_dir.path().join("recordings").join(&id);
    let deadline = Instant::now() + Duration::from_secs(60);
    let keys = loop {
        let keys = s3.list(&prefix)?;
        let m4s = keys.iter().filter(|k| k.ends_with(".m4s")).count();
        let inits = keys.iter().filter(|k| k.ends_with("/init.mp4")).count();
        let sprites = keys.iter().filter(|k| k.ends_with("/sprite.tsv")).count();
        let left = local_files(&local, "m4s").len() + local_files(&local, "jpg").len()
            - usize::from(local.join("latest.jpg").exists());
        if m4s == segments.len() && inits == 2 && sprites == 2 && left == 0 {
            break keys;
        }
        ensure!(
            Instant::now() < deadline,
            "bucket has {m4s}/{} segments, {inits} inits, {sprites} sprite tables; {left} local files left:\n{keys:#?}\n{}",
            segments.len(),
            engine.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    ensure!(keys.contains(&format!("{prefix}index.tsv")), "{keys:#?}");
    ensure!(
        keys.iter()
            .any(|k| k.contains("/thumbs/") && k.ends_with(".jpg"))
            && keys
                .iter()
                .any(|k| k.contains("/sprite-") && k.ends_with(".jpg")),
        "{keys:#?}"
    );
    ensure!(local.join("index.tsv").exists(), "the index stays local");

    // The replay, now served from the bucket, decodes whole with the right length.
    let frames = decode(&engine.url(&format!("/vod/{id}/index.m3u8")))?;
    ensure!(
        (frames / 30.0 - recorded).abs() < 1.0,
        "{frames} frames at 30 fps for {recorded:.2} s recorded"
    );

    // A second engine with an empty data dir, on the same database and bucket, serves it too.
    let engine2 = Engine::start_with(&env_ref).await?;
    ensure!(
        !engine2
            .data_dir
            .path()
            .join("recordings")
            .join(&id)
            .exists(),
        "the second engine's data dir is not empty"
    );
    let playlist2 = wait_vod(&engine2, &id, VOD_WAIT).await?;
    ensure!(playlist2 == playlist, "{playlist2}\nvs\n{playlist}");
    let frames2 = decode(&engine2.url(&format!("/vod/{id}/index.m3u8")))?;
    ensure!(frames2 == frames, "{frames2} vs {frames} frames");
    let (status, mp4) = get_bytes(&engine2, &format!("/vod/{id}/download.mp4")).await?;
    ensure!(
        status == 200 && mp4.get(4..8) == Some(b"ftyp"),
        "download from engine 2: {status}\n{}",
        engine2.log()
    );
    let file = engine2.data_dir.path().join("download-check.mp4");
    std::fs::write(&file, &mp4)?;
    let mp4_secs = duration_of(&file)?;
    ensure!(
        (mp4_secs - recorded).abs() < 0.5,
        "download lasts {mp4_secs:.2} s, replay {recorded:.2} s"
    );
    let (status, vtt) = get_bytes(&engine2, &format!("/vod/{id}/thumbs.vtt")).await?;
    let vtt = String::from_utf8(vtt)?;
    ensure!(
        status == 200 && vtt.contains(".jpg#xywh="),
        "{status} {vtt}\n{}",
        engine2.log()
    );
    let sheet = vtt
        .lines()
        .find(|l| l.contains(".jpg#"))
        .and_then(|l| l.split('#').next())
        .context("no cue")?;
    let (status, jpg) = get_bytes(&engine2, &format!("/vod/{id}/{sheet}")).await?;
    ensure!(
        status == 200 && jpg.starts_with(&[0xFF, 0xD8]) && jpg.ends_with(&[0xFF, 0xD9]),
        "{sheet}: {status}"
    );

    // Deleting the stream deletes every object under its prefix.
    let r = engine
        .admin(Method::DELETE, &format!("/api/v1/streams/{id}"))
        .send()
        .await?;
    ensure!(r.status() == 204, "delete: {}", r.status());
    let left = s3.list(&prefix)?;
    ensure!(left.is_empty(), "objects left after DELETE: {left:#?}");
    ensure!(!local.exists());
    let (status, _) = get_bytes(&engine, &format!("/vod/{id}/index.m3u8")).await?;
    ensure!(status == 404);
    Ok(())
}

#[tokio::test]
async fn a_wrong_secret_is_refused_logged_and_the_recording_stays_local() -> anyhow::Result<()> {
    wrong_secret(S3::start("showroom-rec").await?).await
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_s3s_fs_too() -> anyhow::Result<()> {
    wrong_secret(S3::start_s3s_fs("showroom-rec").await?).await
}

async fn wrong_secret(s3: S3) -> anyhow::Result<()> {
    let env = s3.engine_env("not-the-secret", false);
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut engine = Engine::start_with(&env_ref).await?;
    let s = engine.create_stream("bad key").await?;
    let (id, key) = (
        s["id"].as_str().context("id")?.to_owned(),
        s["stream_key"].as_str().context("key")?.to_owned(),
    );
    publish_to_the_end(&engine, &id, &key, 5).await?;
    let playlist = wait_vod(&engine, &id, VOD_WAIT).await?;
    // Refused at start (bucket check) and for the uploads, with S3's reason.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !engine.log().contains("recording upload to S3 refused") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let log = engine.log();
    ensure!(
        log.contains("S3 bucket check failed") && log.contains("recording upload to S3 refused"),
        "{log}"
    );
    ensure!(log.contains("SignatureDoesNotMatch"), "{log}");
    ensure!(s3.list(&format!("{}{id}", s3.prefix))?.is_empty());
    // Nothing was lost: the segments are still on disk and the replay plays.
    let local = engine.data_dir.path().join("recordings").join(&id);
    let m4s = local_files(&local, "m4s").len();
    ensure!(
        m4s == playlist.lines().filter(|l| l.ends_with(".m4s")).count() && m4s > 0,
        "{m4s} local segments for\n{playlist}"
    );
    decode(&engine.url(&format!("/vod/{id}/index.m3u8")))?;
    ensure!(engine.is_running(), "the engine died:\n{}", engine.log());
    Ok(())
}

/// The store's S3 side on its own, time as an argument: the uploader puts each finished file
/// (and the index) in the bucket and deletes the local copy; the retention sweep applies the
/// quota and the age limit to the bucket by LastModified, never to a busy stream; deleting a
/// stream empties its prefix.
#[tokio::test]
async fn the_retention_sweep_and_deletion_apply_to_the_bucket() -> anyhow::Result<()> {
    sweep(S3::start("sweep").await?).await
}

#[tokio::test]
async fn the_retention_sweep_applies_to_an_s3s_fs_bucket() -> anyhow::Result<()> {
    sweep(S3::start_s3s_fs("sweep").await?).await
}

async fn sweep(s3: S3) -> anyhow::Result<()> {
    use showroom_pipelines::record::Recordings;
    use std::time::SystemTime;

    let p = s3.prefix.clone();
    let root = tempfile::tempdir()?;
    let config = store_config(&s3);
    let recordings = Recordings::new(root.path()).with_s3(&config)?;
    let uploader = recordings.uploader().context("uploader")?;
    for (id, size) in [("old", 1000usize), ("busy", 1000), ("big", 5000)] {
        let session = root.path().join(id).join("1700000000000");
        std::fs::create_dir_all(&session)?;
        let seg = session.join("00001.m4s");
        std::fs::write(&seg, vec![7u8; size])?;
        uploader.finished(&seg);
        let index = root.path().join(id).join("index.tsv");
        std::fs::write(
            &index,
            format!("seg\t1700000000000\t1\t0\t2000000\t0\t{size}\n"),
        )?;
        uploader.updated(&index);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let keys = s3.list(&p)?;
        let local = local_files(root.path(), "m4s");
        if keys.len() == 6 && local.is_empty() {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "uploads: {keys:#?}, local left {local:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // What was uploaded reads back through the store.
    let segments = recordings.segments("big").await?;
    ensure!(segments.len() == 1 && segments[0].bytes == 5000);

    let busy = |id: &str| id == "busy";
    let now = SystemTime::now();
    let swept = recordings
        .sweep_remote(now, Some(Duration::from_secs(3600)), 0, &busy)
        .await?;
    ensure!(swept.streams.is_empty(), "nothing is old yet: {swept:?}");
    // A 2000-byte quota over ~6000 bytes of streams that are not busy: some go, the busy one stays.
    let swept = recordings.sweep_remote(now, None, 2000, &busy).await?;
    ensure!(
        swept.bytes >= 4000 && !swept.streams.contains(&"busy".to_owned()),
        "{swept:?}"
    );
    ensure!(s3.list(&format!("{p}busy/"))?.len() == 2);
    // Next month everything but the busy stream is expired.
    let later = now + Duration::from_secs(31 * 86_400);
    recordings
        .sweep_remote(later, Some(Duration::from_secs(30 * 86_400)), 0, &busy)
        .await?;
    let left = s3.list(&p)?;
    ensure!(
        left.iter().all(|k| k.starts_with(&format!("{p}busy/"))) && left.len() == 2,
        "{left:#?}"
    );
    // Deleting the stream deletes its objects.
    ensure!(recordings.delete("busy").await?);
    ensure!(s3.list(&p)?.is_empty());
    Ok(())
}

/// Our S3 client against moto: put, get, a listing over several pages (continuation tokens),
/// a missing key, delete.
#[tokio::test]
async fn the_s3_client_pages_through_a_listing() -> anyhow::Result<()> {
    pages(S3::start("pages").await?).await
}

/// The same against s3s-fs, under a prefix with a `/` in it.
#[tokio::test]
async fn the_s3_client_pages_through_an_s3s_fs_listing() -> anyhow::Result<()> {
    pages(S3::start_s3s_fs("pages").await?).await
}

async fn pages(s3: S3) -> anyhow::Result<()> {
    use showroom_pipelines::record::s3::S3Client;

    let p = s3.prefix.clone();
    let client = S3Client::new(&store_config(&s3))?.with_page_size(2);
    client.head_bucket().await?;
    for i in 0..5 {
        let body = format!("object {i}");
        client
            .put_object(&format!("{p}p-{i}/data.txt"), body.into(), "text/plain")
            .await?;
    }
    client
        .put_object(&format!("{p}other"), "x".into(), "text/plain")
        .await?;
    let listed = client.list(&format!("{p}p-")).await?;
    let keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    let want: Vec<String> = (0..5).map(|i| format!("{p}p-{i}/data.txt")).collect();
    ensure!(keys == want, "{keys:?}");
    ensure!(listed.iter().all(|o| o.size == 8));
    ensure!(
        s3.list(&format!("{p}p-"))?.len() == 5,
        "boto3 sees the same"
    );
    let got = client
        .get_bytes(&format!("{p}p-3/data.txt"))
        .await?
        .context("p-3")?;
    ensure!(&got[..] == b"object 3");
    ensure!(client
        .get_bytes(&format!("{p}p-9/data.txt"))
        .await?
        .is_none());
    client.delete_object(&format!("{p}p-3/data.txt")).await?;
    ensure!(client.list(&format!("{p}p-")).await?.len() == 4);
    Ok(())
}
