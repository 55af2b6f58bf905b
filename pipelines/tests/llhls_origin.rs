//! LL-HLS origin end to end: a real x264/AAC encoder publishes on the bus, the origin packages
//! with cmafmux, and we read playlists, parts and segments as a player would.

use std::process::Command;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gst::prelude::*;
use showroom_pipelines::llhls::{self, LlHlsConfig, Origin, OriginError, PlaylistQuery};
use showroom_pipelines::stream::{Publisher, Stream, Track};
use showroom_pipelines::unit::{Codec, TrackKind, Unit};

/// A live test source encoding into the bus until dropped.
struct Encoder {
    pipeline: gst::Pipeline,
    threads: Vec<JoinHandle<()>>,
}

impl Drop for Encoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn codec_data(sample: &gst::Sample) -> Bytes {
    let caps = sample.caps().expect("caps");
    let buf = caps
        .structure(0)
        .expect("structure")
        .get::<gst::Buffer>("codec_data")
        .expect("codec_data");
    let bytes = Bytes::copy_from_slice(&buf.map_readable().expect("map"));
    bytes
}

/// x264enc shifts its timestamps by 1000 h (to keep DTS positive); undo it so video and audio
/// share one timeline, as they do from an RTMP publisher (both moved 10 s later so B-frame
/// DTS stay positive).
const X264_OFFSET: Duration = Duration::from_secs(1000 * 3600);
const LEAD: Duration = Duration::from_secs(10);

fn unit(track: TrackKind, sample: &gst::Sample) -> Option<Unit> {
    let b = sample.buffer()?;
    let shift = |d: Duration| match track {
        TrackKind::Video => (d + LEAD).saturating_sub(X264_OFFSET),
        TrackKind::Audio => d + LEAD,
    };
    let pts = shift(Duration::from_nanos(b.pts()?.nseconds()));
    let dts = b
        .dts()
        .map_or(pts, |d| shift(Duration::from_nanos(d.nseconds())));
    Some(Unit {
        track,
        pts,
        dts,
        keyframe: !b.flags().contains(gst::BufferFlags::DELTA_UNIT),
        payload: Bytes::copy_from_slice(&b.map_readable().ok()?),
    })
}

/// Publishes 320x240@30 H.264 (keyframe every 2 s) and 48 kHz AAC to `stream`.
fn publish(stream: &Arc<Stream>, bframes: bool) -> Encoder {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    showroom_pipelines::gst_init::init().expect("GStreamer");
    let x264 = if bframes {
        "x264enc speed-preset=ultrafast key-int-max=60 bframes=2 b-adapt=false"
    } else {
        "x264enc speed-preset=ultrafast tune=zerolatency key-int-max=60"
    };
    let desc = format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! {x264} \
         ! video/x-h264,stream-format=avc,alignment=au ! appsink name=v sync=false \
         audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse \
         ! audio/mpeg,stream-format=raw ! appsink name=a sync=false"
    );
    let pipeline = gst::parse::launch(&desc)
        .expect("encoder pipeline (x264enc, avenc_aac installed?)")
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    let sink = |n: &str| {
        pipeline
            .by_name(n)
            .expect("appsink")
            .downcast::<gst_app::AppSink>()
            .expect("appsink")
    };
    let (v, a) = (sink("v"), sink("a"));
    pipeline.set_state(gst::State::Playing).expect("play");
    let first_v = v.pull_sample().expect("video sample");
    let first_a = a.pull_sample().expect("audio sample");
    let publisher = Arc::new(
        stream
            .begin_publish("test", "127.0.0.1:1")
            .expect("publish"),
    );
    let mut video = Track::video(Codec::H264 {
        config: codec_data(&first_v),
    });
    video.framerate = Some((30, 1));
    publisher.set_tracks(vec![
        video,
        Track::audio(Codec::Aac {
            config: codec_data(&first_a),
        }),
    ]);
    let feed = |sink: gst_app::AppSink, first: gst::Sample, kind: TrackKind, p: Arc<Publisher>| {
        std::thread::spawn(move || {
            let mut next = Some(first);
            while let Some(s) = next.take().or_else(|| sink.pull_sample().ok()) {
                if let Some(u) = unit(kind, &s) {
                    let _ = p.write(u);
                }
            }
        })
    };
    let threads = vec![
        feed(v, first_v, TrackKind::Video, Arc::clone(&publisher)),
        feed(a, first_a, TrackKind::Audio, publisher),
    ];
    Encoder { pipeline, threads }
}

async fn playlist(origin: &Origin, r: &str, q: &str) -> Result<String, OriginError> {
    let q = PlaylistQuery::parse(Some(q))?;
    let body = origin.media_playlist(r, &q).await?;
    Ok(String::from_utf8(body.bytes.to_vec()).expect("utf8"))
}

async fn wait_live(origin: &Origin) -> String {
    let start = Instant::now();
    loop {
        match origin.multivariant() {
            Ok(b) => return String::from_utf8(b.bytes.to_vec()).expect("utf8"),
            Err(OriginError::NotLive) if start.elapsed() < Duration::from_secs(15) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("origin never went live: {e} {:?}", origin.stats()),
        }
    }
}

fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let i = line.find(&format!("{name}="))? + name.len() + 1;
    let rest = &line[i..];
    if let Some(q) = rest.strip_prefix('"') {
        q.split('"').next()
    } else {
        rest.split(',').next()
    }
}

fn num(text: &str, tag: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(tag))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {tag} in\n{text}"))
}

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

/// The next part a blocking request would wait for: (msn, part index).
fn next_part(text: &str) -> (u64, u64) {
    let mut msn = num(text, "#EXT-X-MEDIA-SEQUENCE:") as u64;
    let mut parts = 0;
    for l in text.lines() {
        if l.starts_with("#EXT-X-PART:") {
            parts += 1;
        } else if l.starts_with("#EXTINF:") {
            msn += 1;
            parts = 0;
        }
    }
    (msn, parts)
}

fn hint(text: &str) -> u64 {
    let l = text
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:"))
        .expect("hint");
    let uri = attr(l, "URI").expect("uri");
    uri.trim_start_matches("video.p")
        .trim_end_matches(".m4s")
        .parse()
        .expect("seq")
}

fn segment_uris(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.ends_with(".m4s") && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Writes init + segment to a temp file and asks ffprobe what it decodes.
fn ffprobe(init: &Bytes, segment: &Bytes, entries: &str, extra: &[&str]) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("llhls-{}-{n}.mp4", std::process::id()));
    std::fs::write(&path, [init.as_ref(), segment.as_ref()].concat()).expect("write temp file");
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(extra)
        .args(["-show_entries", entries, "-of", "csv=p=0"])
        .arg(&path)
        .output()
        .expect("ffprobe must be installed (apt-get install ffmpeg)");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
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
    let t0 = Instant::now();
    let held = playlist(
        &origin,
        "video",
        &format!("_HLS_msn={msn}&_HLS_part={part}"),
    )
    .await
    .expect("blocking");
    let waited = t0.elapsed();
    assert!(
        waited > Duration::from_millis(5) && waited < Duration::from_millis(700),
        "waited {waited:?}"
    );
    let (m2, p2) = next_part(&held);
    assert!(
        (m2, p2) > (msn, part),
        "held answer lacks {msn}.{part}:\n{held}"
    );
    assert_eq!(origin.stats().held_now, 0);

    // An existing part is answered at once; the preload hint is held then sent whole.
    let t0 = Instant::now();
    playlist(
        &origin,
        "video",
        &format!("_HLS_msn={msn}&_HLS_part={part}"),
    )
    .await
    .expect("existing");
    assert!(t0.elapsed() < Duration::from_millis(50));
    let seq = hint(&held);
    let t0 = Instant::now();
    let body = origin.part("video", seq).await.expect("hinted part");
    assert!(t0.elapsed() < Duration::from_millis(700));
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
        let t0 = Instant::now();
        let r = playlist(&origin, "video", &q).await;
        assert!(matches!(r, Err(OriginError::BadRequest(_))), "{q}: {r:?}");
        assert!(t0.elapsed() < Duration::from_millis(50));
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
