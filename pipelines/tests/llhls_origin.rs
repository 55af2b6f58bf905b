//! LL-HLS origin end to end: a real x264/AAC encoder publishes on the bus, the origin packages
//! with cmafmux, and we read playlists, parts and segments as a player would.

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
/// share one timeline, as they do from an RTMP publisher.
const X264_OFFSET: Duration = Duration::from_secs(1000 * 3600);

fn unit(track: TrackKind, sample: &gst::Sample) -> Option<Unit> {
    let b = sample.buffer()?;
    let shift = |d: Duration| d.checked_sub(X264_OFFSET).unwrap_or(d);
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
