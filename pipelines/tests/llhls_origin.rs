//! LL-HLS origin end to end: a real x264/AAC encoder publishes on the bus, the origin packages
//! with cmafmux, and we read playlists, parts and segments as a player would.

mod llhls_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use llhls_common::*;
use showroom_pipelines::llhls::{self, LlHlsConfig, OriginError};
use showroom_pipelines::stream::Stream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_a_live_encoder() {
    let stream = Stream::new("t1");
    let origin = llhls::spawn(Arc::clone(&stream), LlHlsConfig::default());
    assert_eq!(origin.multivariant().err(), Some(OriginError::NotLive));
    let _enc = publish(&stream, false);
    let mv = wait_live(&origin).await;
    println!("{mv}");
    assert!(
        mv.contains("CODECS=\"avc1.") && mv.contains(",mp4a.40.2\""),
        "{mv}"
    );
    assert!(mv.contains("RESOLUTION=320x240"), "{mv}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let text = playlist(&origin, "video", "")
        .await
        .expect("video playlist");
    println!("{text}");
    assert_eq!(num(&text, "#EXT-X-TARGETDURATION:"), 2.0);
    let pt = num(&text, "#EXT-X-PART-INF:PART-TARGET=");
    assert!((0.2..=0.203).contains(&pt), "PART-TARGET {pt}");
    for l in text.lines().filter(|l| l.starts_with("#EXT-X-PART:")) {
        let d: f64 = attr(l, "DURATION")
            .and_then(|d| d.parse().ok())
            .expect("duration");
        assert!(d <= pt + 0.001, "{l}");
    }
    for l in text.lines().filter(|l| l.starts_with("#EXTINF:")) {
        let d: f64 = l[8..].trim_end_matches(',').parse().expect("extinf");
        assert!((1.9..=2.1).contains(&d), "{l}");
    }
    let audio = playlist(&origin, "audio", "")
        .await
        .expect("audio playlist");
    let apt = num(&audio, "#EXT-X-PART-INF:PART-TARGET=");
    assert!(
        (0.19..=0.195).contains(&apt),
        "audio PART-TARGET {apt}\n{audio}"
    );
    assert!(text.contains("#EXT-X-RENDITION-REPORT:URI=\"audio.m3u8\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_reload_preload_hint_errors_and_decodable_media() {
    let stream = Stream::new("t2");
    let origin = llhls::spawn(Arc::clone(&stream), LlHlsConfig::default());
    let _enc = publish(&stream, false);
    wait_live(&origin).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // A request for the next part is held, then released by that part.
    let text = playlist(&origin, "video", "").await.expect("playlist");
    let (msn, part) = next_part(&text);
    let held_before = origin.stats().held_total;
    let t0 = Instant::now();
    let held = playlist(
        &origin,
        "video",
        &format!("_HLS_msn={msn}&_HLS_part={part}"),
    )
    .await
    .expect("blocking");
    // Held (the origin's counter says it waited), and released by the part, well before the
    // 6 s hold limit (no tighter wall-clock bound: the box may be loaded).
    let waited = t0.elapsed();
    assert_eq!(origin.stats().held_total, held_before + 1, "not held");
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    let (m2, p2) = next_part(&held);
    assert!(
        (m2, p2) > (msn, part),
        "held answer lacks {msn}.{part}:\n{held}"
    );
    assert_eq!(origin.stats().held_now, 0);

    // An existing part is answered at once (never held); the preload hint is held then sent
    // whole, released by the part well before the hold limit.
    let before = origin.stats().held_total;
    playlist(
        &origin,
        "video",
        &format!("_HLS_msn={msn}&_HLS_part={part}"),
    )
    .await
    .expect("existing");
    assert_eq!(
        origin.stats().held_total,
        before,
        "an existing part was held"
    );
    let seq = hint(&held);
    let t0 = Instant::now();
    let body = origin.part("video", seq).await.expect("hinted part");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert!(&body.bytes[4..8] == b"moof" || &body.bytes[4..8] == b"styp");
    let again = origin.part("video", seq).await.expect("part again");
    assert_eq!(again.bytes, body.bytes);

    // Refusals: far future, part without msn, garbage; unknown files.
    let last = num(&held, "#EXT-X-MEDIA-SEQUENCE:") as u64 + segment_uris(&held).len() as u64;
    for q in [
        format!("_HLS_msn={}", last + 100),
        "_HLS_part=1".into(),
        "_HLS_msn=abc".into(),
    ] {
        let before = origin.stats().held_total;
        let r = playlist(&origin, "video", &q).await;
        assert!(matches!(r, Err(OriginError::BadRequest(_))), "{q}: {r:?}");
        assert_eq!(
            origin.stats().held_total,
            before,
            "{q}: refused only after a hold"
        );
    }
    assert_eq!(
        origin.segment("video", 999_999).await.err(),
        Some(OriginError::NotFound)
    );
    assert_eq!(
        origin.part("video", seq + 100).await.err(),
        Some(OriginError::NotFound)
    );
    assert_eq!(
        origin.init("video", "7").await.err(),
        Some(OriginError::NotFound)
    );
    assert_eq!(
        playlist(&origin, "subtitles", "").await.err(),
        Some(OriginError::NotFound)
    );

    // ffprobe decodes init + a whole segment: 2 s = 60 frames of 320x240 H.264, and AAC.
    let seg0 = origin.segment("video", 0).await.expect("segment 0").bytes;
    let init = origin.init("video", "1").await.expect("init").bytes;
    assert_eq!(&init[4..8], b"ftyp");
    let v = ffprobe(
        &init,
        &seg0,
        "stream=codec_name,width,height,nb_read_frames",
        &["-count_frames"],
    );
    assert_eq!(v, "h264,320,240,60");
    let a_init = origin.init("audio", "1").await.expect("audio init").bytes;
    let a_seg = origin
        .segment("audio", 0)
        .await
        .expect("audio segment")
        .bytes;
    let a = ffprobe(
        &a_init,
        &a_seg,
        "stream=codec_name,sample_rate,channels",
        &[],
    );
    assert_eq!(a, "aac,48000,2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_held_requests_are_released_by_one_part() {
    let stream = Stream::new("t6");
    let origin = llhls::spawn(Arc::clone(&stream), LlHlsConfig::default());
    let _enc = publish(&stream, false);
    wait_live(&origin).await;
    let text = playlist(&origin, "video", "").await.expect("playlist");
    // The part after the next one: at least one part duration away.
    let (msn, part) = next_part(&text);
    let query = format!("_HLS_msn={msn}&_HLS_part={}", part + 1);
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..2000)
        .map(|_| {
            let origin = Arc::clone(&origin);
            let query = query.clone();
            tokio::spawn(async move {
                let text = playlist(&origin, "video", &query).await?;
                Ok::<_, OriginError>((Instant::now(), text))
            })
        })
        .collect();
    // Wait for the tasks to park (a loaded box may take a while to run 2,000 of them).
    let mut held = 0;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        held = origin.stats().held_now;
        if held >= 1900 {
            break;
        }
    }
    assert!(held >= 1900, "only {held} requests held");
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await.expect("task").expect("released"));
    }
    let first = done.iter().map(|d| d.0).min().expect("answers");
    let last = done.iter().map(|d| d.0).max().expect("answers");
    println!(
        "2000 held: {held} held at once, released within {:?}, last answer {:?} after the requests",
        last - first,
        last - t0
    );
    // All released together by the part they waited for (one wake-up, not 2,000 polls), and
    // long before the 6 s hold limit. The bounds leave room for a loaded 2-core box.
    assert!(
        last - first < Duration::from_millis(300),
        "spread {:?}",
        last - first
    );
    assert!(last - t0 < Duration::from_secs(2), "took {:?}", last - t0);
    assert!(done
        .iter()
        .all(|d| next_part(&d.1) > (msn, part + 1) || next_part(&d.1).0 > msn));
    assert_eq!(origin.stats().held_now, 0);
}
