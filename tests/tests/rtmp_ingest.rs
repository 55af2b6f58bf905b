//! RTMP ingest through the real engine: OBS stand-ins (ffmpeg, GStreamer rtmp2sink) make a stream
//! live with the right codecs; bad publishers are refused without touching the good one; a
//! publisher that vanishes leaves the stream idle and can come back.

use std::time::Duration;

use showroom_tests::clients::{ffmpeg_publish, gst_publish, FfmpegPublish};
use showroom_tests::Engine;

const LIVE_WAIT: Duration = Duration::from_secs(15);

fn is_live(s: &serde_json::Value) -> bool {
    s["state"] == "live"
}

#[tokio::test]
async fn ffmpeg_publish_goes_live_with_codecs_and_survives_bad_peers() -> anyhow::Result<()> {
    let mut engine = Engine::start().await?;
    let s = engine.create_stream("main").await?;
    let (id, key) = (s["id"].as_str().unwrap(), s["stream_key"].as_str().unwrap());

    let mut ffmpeg = ffmpeg_publish(
        &engine.rtmp_url(key),
        &FfmpegPublish {
            bframes: 2,
            ..Default::default()
        },
    );
    let live = engine.wait_stream(id, LIVE_WAIT, is_live).await?;
    let ingest = &live["ingest"];
    assert_eq!(ingest["protocol"], "rtmp");
    assert_eq!(ingest["video"]["codec"], "h264");
    assert_eq!(ingest["video"]["width"], 640);
    assert_eq!(ingest["video"]["height"], 360);
    assert_eq!(ingest["audio"]["codec"], "aac");
    assert_eq!(ingest["audio"]["sample_rate"], 48000);

    // A wrong key and a second publisher on the live key are refused; garbage on the port too.
    let mut wrong = ffmpeg_publish(&engine.rtmp_url("sk_wrong"), &FfmpegPublish::default());
    assert!(!wrong.wait_success(), "wrong key must be refused");
    let mut second = ffmpeg_publish(&engine.rtmp_url(key), &FfmpegPublish::default());
    assert!(!second.wait_success(), "second publisher must be refused");
    {
        use tokio::io::AsyncWriteExt;
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", engine.rtmp_port)).await?;
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await?;
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), async {
            use tokio::io::AsyncReadExt;
            tcp.read(&mut buf).await
        })
        .await??;
        assert_eq!(n, 0, "garbage handshake: connection closed");
    }
    let metrics = engine
        .http
        .get(engine.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        metrics.contains("showroom_rtmp_refused_total{reason=\"unknown_key\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("showroom_rtmp_refused_total{reason=\"already_publishing\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("showroom_rtmp_refused_total{reason=\"handshake\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("showroom_streams_live 1"), "{metrics}");

    // The first publisher was untouched by all that.
    let before = engine.stream(id).await?["ingest"]["started_at"].clone();
    assert!(engine.is_running());
    assert_eq!(engine.stream(id).await?["ingest"]["started_at"], before);

    // Publisher vanishes mid-stream → idle; the same key publishes again at once.
    ffmpeg.kill();
    engine
        .wait_stream(id, Duration::from_secs(20), |s| s["state"] == "idle")
        .await?;
    let _again = ffmpeg_publish(&engine.rtmp_url(key), &FfmpegPublish::default());
    engine.wait_stream(id, LIVE_WAIT, is_live).await?;
    // HLS continues across the reconnect, with a discontinuity and a new init segment.
    let playlist = engine.url(&format!("/hls/{id}/video.m3u8"));
    let mut text = String::new();
    for _ in 0..100 {
        text = engine.http.get(&playlist).send().await?.text().await?;
        if text.contains("#EXT-X-DISCONTINUITY\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");
    assert_eq!(text.matches("#EXT-X-MAP:").count(), 2, "{text}");
    let log = engine.log();
    assert!(log.contains("unknown stream key"), "log names the reason");
    Ok(())
}

#[tokio::test]
async fn gstreamer_rtmp2sink_publish_goes_live() -> anyhow::Result<()> {
    let engine = Engine::start().await?;
    let s = engine.create_stream("gst").await?;
    let (id, key) = (s["id"].as_str().unwrap(), s["stream_key"].as_str().unwrap());
    let _gst = gst_publish(&engine.rtmp_url(key), 20);
    let live = engine.wait_stream(id, LIVE_WAIT, is_live).await?;
    assert_eq!(live["ingest"]["video"]["codec"], "h264");
    assert_eq!(live["ingest"]["audio"]["codec"], "aac");
    Ok(())
}

#[tokio::test]
async fn staff_end_the_stream_and_public_info_hides_the_key() -> anyhow::Result<()> {
    let engine = Engine::start().await?;
    let s = engine.create_stream("ending").await?;
    let (id, key) = (s["id"].as_str().unwrap(), s["stream_key"].as_str().unwrap());

    let info: serde_json::Value = engine
        .http
        .get(engine.url(&format!("/api/v1/streams/{id}/info")))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(info["state"], "idle");
    assert_eq!(info["rtmp_url"], s["rtmp_url"]);
    assert!(
        !info.to_string().contains(key),
        "public info must not leak the key"
    );

    let mut ffmpeg = ffmpeg_publish(&engine.rtmp_url(key), &FfmpegPublish::default());
    engine.wait_stream(id, LIVE_WAIT, is_live).await?;
    let token = |kind: &'static str, body: serde_json::Value| {
        let req = engine
            .http
            .post(engine.url(&format!("/api/v1/streams/{id}/tokens/{kind}")))
            .json(&body);
        async move {
            let v: serde_json::Value = req.send().await?.json().await?;
            anyhow::Ok(v["token"].as_str().unwrap_or_default().to_owned())
        }
    };
    let end = engine.url(&format!("/api/v1/streams/{id}/end"));
    let r = engine.http.post(&end).send().await?;
    assert_eq!(r.status(), 401);
    let viewer = token("viewer", serde_json::json!({})).await?;
    let r = engine.http.post(&end).bearer_auth(&viewer).send().await?;
    assert_eq!(r.status(), 403, "a viewer cannot end the stream");
    assert_eq!(engine.stream(id).await?["state"], "live");

    let host = token("host", serde_json::json!({ "stream_key": key })).await?;
    let r = engine.http.post(&end).bearer_auth(&host).send().await?;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await?;
    assert_eq!(body["ended"], true);
    engine
        .wait_stream(id, Duration::from_secs(10), |s| s["state"] == "idle")
        .await?;
    assert!(!ffmpeg.wait_success(), "the encoder was disconnected");
    // The stream itself remains and can go live again.
    let _again = ffmpeg_publish(&engine.rtmp_url(key), &FfmpegPublish::default());
    engine.wait_stream(id, LIVE_WAIT, is_live).await?;
    Ok(())
}
