//! Shared by the LL-HLS tests: a live x264/AAC encoder publishing on the bus, playlist helpers,
//! ffprobe.
#![allow(dead_code)]

use std::process::Command;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gst::prelude::*;
use showroom_pipelines::llhls::{Origin, OriginError, PlaylistQuery};
use showroom_pipelines::stream::{Publisher, Stream, Track};
use showroom_pipelines::unit::{Codec, TrackKind, Unit};

/// A live test source encoding into the bus until dropped.
pub struct Encoder {
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

pub fn codec_data(sample: &gst::Sample) -> Bytes {
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
pub const X264_OFFSET: Duration = Duration::from_secs(1000 * 3600);
pub const LEAD: Duration = Duration::from_secs(10);

pub fn unit(track: TrackKind, sample: &gst::Sample) -> Option<Unit> {
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
pub fn publish(stream: &Arc<Stream>, bframes: bool) -> Encoder {
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

pub async fn playlist(origin: &Origin, r: &str, q: &str) -> Result<String, OriginError> {
    let q = PlaylistQuery::parse(Some(q))?;
    let body = origin.media_playlist(r, &q).await?;
    Ok(String::from_utf8(body.bytes.to_vec()).expect("utf8"))
}

pub async fn wait_live(origin: &Origin) -> String {
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

pub fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let i = line.find(&format!("{name}="))? + name.len() + 1;
    let rest = &line[i..];
    if let Some(q) = rest.strip_prefix('"') {
        q.split('"').next()
    } else {
        rest.split(',').next()
    }
}

pub fn num(text: &str, tag: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(tag))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {tag} in\n{text}"))
}

/// The next part a blocking request would wait for: (msn, part index).
pub fn next_part(text: &str) -> (u64, u64) {
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

pub fn hint(text: &str) -> u64 {
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

pub fn segment_uris(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.ends_with(".m4s") && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Writes init + segment to a temp file and asks ffprobe what it decodes.
pub fn ffprobe(init: &Bytes, segment: &Bytes, entries: &str, extra: &[&str]) -> String {
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
