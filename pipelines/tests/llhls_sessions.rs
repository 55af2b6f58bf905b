//! LL-HLS across sessions and encoders: reconnect discontinuity, eviction, B-frames, date ranges.

mod llhls_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use llhls_common::*;
use showroom_pipelines::llhls::{self, LlHlsConfig, OriginError};
use showroom_pipelines::stream::Stream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_is_a_discontinuity_and_old_media_is_evicted() {
    let stream = Stream::new("t3");
    let config = LlHlsConfig {
        window_segments: 3,
        ..LlHlsConfig::default()
    };
    let origin = llhls::spawn(Arc::clone(&stream), config);
    let enc = publish(&stream, false);
    wait_live(&origin).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(enc);
    // The session's last segment is closed at End.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let text = playlist(&origin, "video", "").await.expect("playlist");
    let (first_end, parts) = next_part(&text);
    assert_eq!(parts, 0, "open segment after End:\n{text}");
    let seg0 = origin
        .segment("video", 0)
        .await
        .expect("segment 0 before eviction");
    assert!(!seg0.bytes.is_empty());

    let _enc = publish(&stream, false);
    // Wait for the new session's first segments (MSNs continue, new init, discontinuity).
    let start = Instant::now();
    let text = loop {
        let t = playlist(&origin, "video", "").await.expect("playlist");
        if t.contains("video.init2.mp4") && next_part(&t).0 > first_end {
            break t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no second session:\n{t}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("{text}");
    let lines: Vec<&str> = text.lines().collect();
    let d = lines
        .iter()
        .position(|l| *l == "#EXT-X-DISCONTINUITY")
        .expect("discontinuity");
    assert_eq!(lines[d + 1], "#EXT-X-MAP:URI=\"video.init2.mp4\"");
    assert!(lines[d + 2].starts_with("#EXT-X-PROGRAM-DATE-TIME:"));
    let audio = playlist(&origin, "audio", "")
        .await
        .expect("audio playlist");
    assert!(
        audio.contains("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"audio.init2.mp4\""),
        "{audio}"
    );
    assert!(origin.init("video", "2").await.is_ok());

    // With a window of 3 segments, session 1 (and its init) leaves the playlist and memory.
    let start = Instant::now();
    loop {
        let t = playlist(&origin, "video", "").await.expect("playlist");
        if num(&t, "#EXT-X-MEDIA-SEQUENCE:") as u64 > first_end {
            assert_eq!(num(&t, "#EXT-X-DISCONTINUITY-SEQUENCE:"), 1.0, "{t}");
            assert!(segment_uris(&t).len() <= 3);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(12),
            "no eviction:\n{t}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        origin.segment("video", 0).await.err(),
        Some(OriginError::NotFound)
    );
    assert_eq!(
        origin.part("video", 0).await.err(),
        Some(OriginError::NotFound)
    );
    assert_eq!(
        origin.init("video", "1").await.err(),
        Some(OriginError::NotFound)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_frames_keep_parts_within_target_and_decode() {
    let stream = Stream::new("t4");
    let origin = llhls::spawn(Arc::clone(&stream), LlHlsConfig::default());
    let _enc = publish(&stream, true);
    wait_live(&origin).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let text = playlist(&origin, "video", "").await.expect("playlist");
    let pt = num(&text, "#EXT-X-PART-INF:PART-TARGET=");
    let mut first_of_segment = true;
    for l in text.lines() {
        if l.starts_with("#EXT-X-PART:") {
            let d: f64 = attr(l, "DURATION")
                .and_then(|d| d.parse().ok())
                .expect("duration");
            assert!(d <= pt + 0.001 && d >= 0.85 * pt, "{l}");
            if first_of_segment {
                assert!(l.ends_with(",INDEPENDENT=YES"), "{l}\n{text}");
            }
            first_of_segment = false;
        } else if l.starts_with("#EXTINF:") {
            first_of_segment = true;
        }
    }
    let init = origin.init("video", "1").await.expect("init").bytes;
    let seg = origin.segment("video", 1).await.expect("segment 1").bytes;
    let v = ffprobe(
        &init,
        &seg,
        "stream=codec_name,has_b_frames,nb_read_frames",
        &["-count_frames"],
    );
    let fields: Vec<&str> = v.split(',').collect();
    assert_eq!(fields[..2], ["h264", "2"], "{v}");
    // 60 frames in the segment; a decoder fed one segment alone may hold back the last
    // reordered frame.
    let frames: u32 = fields[2].parse().expect("frame count");
    assert!((59..=60).contains(&frames), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_ranges_are_listed_in_the_window() {
    let stream = Stream::new("t5");
    let origin = llhls::spawn(Arc::clone(&stream), LlHlsConfig::default());
    let _enc = publish(&stream, false);
    wait_live(&origin).await;
    let start = stream.now().expect("stream clock").wall;
    origin.add_daterange(llhls::DateRange {
        id: "pin-1".into(),
        class: "com.showroom.pin".into(),
        start,
        duration: Some(Duration::from_secs(30)),
        attributes: vec![
            ("X-PRODUCT".into(), "sku-42".into()),
            ("bad name".into(), "x".into()),
        ],
    });
    let text = playlist(&origin, "video", "").await.expect("playlist");
    let l = text
        .lines()
        .find(|l| l.starts_with("#EXT-X-DATERANGE:"))
        .expect("daterange");
    assert!(
        l.starts_with("#EXT-X-DATERANGE:ID=\"pin-1\",CLASS=\"com.showroom.pin\",START-DATE=\""),
        "{l}"
    );
    assert!(l.ends_with(",DURATION=30.000,X-PRODUCT=\"sku-42\""), "{l}");
}
