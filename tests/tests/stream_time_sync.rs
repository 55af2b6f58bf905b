//! Stream-time sync across the layers: a host pins a product during a real RTMP publish; the
//! event is stamped with the stream clock (epoch, PTS, PDT), the LL-HLS media playlist carries the
//! same instant as EXT-X-DATERANGE, inside the playlist's own PDT timeline at its live edge, and
//! the timeline API lists it with the same stream time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{json, Value};
use showroom_tests::clients::{ffmpeg_publish, FfmpegPublish};
use showroom_tests::Engine;

fn parse_pdt(s: &str) -> f64 {
    // 2026-11-21T14:53:37.750Z → unix seconds (UTC, ms precision)
    let out = std::process::Command::new("date")
        .args(["-u", "-d", s, "+%s.%3N"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("pdt")
}

fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("{name}=\""))? + name.len() + 2;
    let end = line[start..].find('"')? + start;
    Some(&line[start..end])
}

#[tokio::test]
async fn a_pin_lands_on_the_stream_timeline_and_in_the_playlist() -> anyhow::Result<()> {
    let engine = Engine::start().await?;
    let s = engine.create_stream("sync").await?;
    let (id, key) = (s["id"].as_str().unwrap(), s["stream_key"].as_str().unwrap());
    let _ffmpeg = ffmpeg_publish(&engine.rtmp_url(key), &FfmpegPublish::default());
    engine
        .wait_stream(id, Duration::from_secs(15), |s| s["state"] == "live")
        .await?;
    let playlist_url = engine.url(&format!("/hls/{id}/video.m3u8"));
    let mut ready = false;
    for _ in 0..100 {
        let r = engine.http.get(&playlist_url).send().await?;
        if r.status() == 200 && r.text().await?.contains("#EXT-X-PART:") {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "LL-HLS playlist never had parts");

    let product: Value = engine
        .admin(Method::POST, "/api/v1/products")
        .json(&json!({"title": "Red sneaker", "price_minor": 5900, "currency": "EUR", "stock": 10}))
        .send()
        .await?
        .json()
        .await?;
    let pid = product["id"].as_str().unwrap();
    let host: Value = engine
        .http
        .post(engine.url(&format!("/api/v1/streams/{id}/tokens/host")))
        .json(&json!({ "stream_key": key }))
        .send()
        .await?
        .json()
        .await?;
    let token = host["token"].as_str().unwrap();

    let pressed = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
    let pin: Value = engine
        .http
        .post(engine.url(&format!("/api/v1/streams/{id}/pins")))
        .bearer_auth(token)
        .json(&json!({ "product_id": pid }))
        .send()
        .await?
        .json()
        .await?;
    let stamp = &pin["stamp"];
    assert_eq!(stamp["epoch"], 1, "{pin}");
    let pts_ms = stamp["pts_ms"].as_u64().expect("pts while live");
    assert!(pts_ms > 0);
    let pdt = stamp["pdt_ms"].as_f64().unwrap() / 1000.0;
    // The newest ingested frame plays (PDT) within a second of the press on loopback.
    assert!(
        (pdt - pressed).abs() < 1.0,
        "pdt {pdt} vs pressed {pressed}"
    );

    // The same instant is an EXT-X-DATERANGE inside the playlist's PDT timeline, at its live edge.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = engine.http.get(&playlist_url).send().await?.text().await?;
    let range = text
        .lines()
        .find(|l| l.starts_with("#EXT-X-DATERANGE:") && l.contains(pid))
        .unwrap_or_else(|| panic!("no DATERANGE for the pin:\n{text}"));
    assert_eq!(attr(range, "CLASS"), Some("com.showroom.pin"));
    let start = parse_pdt(attr(range, "START-DATE").unwrap());
    assert!(
        (start - pdt).abs() < 0.0015,
        "START-DATE {start} = stamp {pdt}"
    );
    let mut seg_pdt = None;
    let mut edge = 0.0_f64;
    let mut first_pdt = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            let t = parse_pdt(v);
            first_pdt.get_or_insert(t);
            seg_pdt = Some(t);
            edge = t;
        } else if let Some(v) = line.strip_prefix("#EXT-X-PART:DURATION=") {
            let d: f64 = v.split(',').next().unwrap().parse()?;
            edge += d;
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            let d: f64 = v.trim_end_matches(',').split(',').next().unwrap().parse()?;
            if let Some(p) = seg_pdt.take() {
                edge = p + d;
            }
        }
    }
    let first_pdt = first_pdt.expect("PDT in playlist");
    assert!(start >= first_pdt, "pin before the playlist window");
    // Pressed at the newest ingested frame: at most a part or two past the newest published part.
    assert!(
        start <= edge + 0.5,
        "pin at {start} is beyond the playlist edge {edge}"
    );

    // The timeline API lists it with the same stream time.
    let viewer: Value = engine
        .http
        .post(engine.url(&format!("/api/v1/streams/{id}/tokens/viewer")))
        .json(&json!({}))
        .send()
        .await?
        .json()
        .await?;
    let timeline: Value = engine
        .http
        .get(engine.url(&format!("/api/v1/streams/{id}/timeline")))
        .bearer_auth(viewer["token"].as_str().unwrap())
        .send()
        .await?
        .json()
        .await?;
    let text = timeline.to_string();
    assert!(text.contains(pid), "{text}");
    assert!(text.contains(&format!("\"pts_ms\":{pts_ms}")), "{text}");
    Ok(())
}
