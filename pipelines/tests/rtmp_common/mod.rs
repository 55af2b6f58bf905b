//! Shared pieces of the RTMP integration tests: a key → stream table (the engine's side of
//! ingest), a server on 127.0.0.1:0, real publishers (ffmpeg, gst-launch) and a raw client.
#![allow(dead_code, unused_imports)]

pub mod raw;
mod witness;

pub use witness::{assert_good_publish, witness, Witness};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use showroom_pipelines::ingest::PublishTarget;
use showroom_pipelines::rtmp::{RefusalKind, RtmpConfig, RtmpServer, RtmpStats};
use showroom_pipelines::stream::{Event, Reader, Stream};
use showroom_pipelines::unit::{TrackKind, Unit};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// Stream keys to streams, like the engine's registry.
pub struct Keys(HashMap<String, Arc<Stream>>);

impl PublishTarget for Keys {
    fn find_by_key(&self, key: &str) -> Option<Arc<Stream>> {
        self.0.get(key).cloned()
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub stats: Arc<RtmpStats>,
    pub keys: Arc<Keys>,
}

impl Server {
    pub fn stream(&self, key: &str) -> Arc<Stream> {
        match self.keys.0.get(key) {
            Some(s) => Arc::clone(s),
            None => panic!("test set-up: no stream for key {key}"),
        }
    }

    pub fn url(&self, key: &str) -> String {
        format!("rtmp://{}/live/{key}", self.addr)
    }

    /// Waits until the refusal counter for `kind` reaches `n`.
    pub async fn wait_refused(&self, kind: RefusalKind, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.stats.refused(kind) < n {
            if Instant::now() > deadline {
                panic!(
                    "refusal {kind:?} not counted (have {}); all: {:?}",
                    self.stats.refused(kind),
                    self.stats.refusals().collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub fn test_config() -> RtmpConfig {
    RtmpConfig {
        handshake_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(3),
        ..RtmpConfig::default()
    }
}

/// A server with one stream per key (stream id = `show-<key>`).
pub async fn server(keys: &[&str], config: RtmpConfig) -> Server {
    init_tracing();
    let map = keys
        .iter()
        .map(|k| (k.to_string(), Stream::new(format!("show-{k}"))))
        .collect();
    let keys = Arc::new(Keys(map));
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind 127.0.0.1:0: {e}"),
    };
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"));
    let server = RtmpServer::new(Arc::clone(&keys) as Arc<dyn PublishTarget>, config);
    let stats = server.stats();
    tokio::spawn(server.serve(listener));
    Server { addr, stats, keys }
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "showroom_pipelines=info".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Panics with a clear message when a tool the test needs is not installed.
pub fn require(tool: &str) {
    let ok = std::process::Command::new(tool)
        .arg(if tool == "gst-launch-1.0" {
            "--version"
        } else {
            "-version"
        })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "this test needs `{tool}` on PATH (not found or not runnable)"
    );
}

/// ffmpeg publishing testsrc2 + sine with `video` encoder options for `secs` seconds.
pub fn ffmpeg_publish(url: &str, size: &str, video: &[&str], audio: &[&str], secs: u32) -> Child {
    require("ffmpeg");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=30"),
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(video)
        .args(audio)
        .args(["-t", &secs.to_string(), "-f", "flv", url]);
    spawn(cmd)
}

/// The brief's x264 zerolatency + AAC publish.
pub fn ffmpeg_h264_aac(url: &str, secs: u32) -> Child {
    ffmpeg_publish(
        url,
        "640x360",
        &[
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-g",
            "60",
        ],
        &["-c:a", "aac", "-b:a", "128k"],
        secs,
    )
}

/// A light publisher for streams that only need to keep flowing.
pub fn ffmpeg_light(url: &str, secs: u32) -> Child {
    ffmpeg_publish(
        url,
        "320x180",
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "30",
        ],
        &["-c:a", "aac", "-b:a", "64k"],
        secs,
    )
}

pub fn spawn(mut cmd: Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    match cmd.spawn() {
        Ok(c) => c,
        Err(e) => panic!("spawn {:?}: {e}", cmd.as_std().get_program()),
    }
}

/// Waits for a child; returns (success, stderr).
pub async fn finish(child: Child, limit: Duration) -> (bool, String) {
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(out)) => (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        Ok(Err(e)) => panic!("waiting for child: {e}"),
        Err(_) => panic!("child still running after {limit:?}"),
    }
}

/// The next event within `limit`, or `None`.
pub async fn next(reader: &mut Reader, limit: Duration) -> Option<Event> {
    tokio::time::timeout(limit, reader.recv())
        .await
        .ok()
        .flatten()
}

/// Everything a reader saw of one session.
#[derive(Default)]
pub struct Seen {
    pub start: Option<Arc<showroom_pipelines::stream::Session>>,
    pub units: Vec<(Instant, Unit)>,
    pub end: Option<u64>,
}

impl Seen {
    pub fn video(&self) -> impl Iterator<Item = &Unit> {
        self.units
            .iter()
            .map(|(_, u)| u)
            .filter(|u| u.track == TrackKind::Video)
    }

    pub fn audio(&self) -> impl Iterator<Item = &Unit> {
        self.units
            .iter()
            .map(|(_, u)| u)
            .filter(|u| u.track == TrackKind::Audio)
    }
}

/// Reads one session (Start .. End) within `limit`.
pub async fn collect_session(reader: &mut Reader, limit: Duration) -> Seen {
    collect_into(reader, Seen::default(), limit).await
}

/// Goes on reading a session whose first events are already in `seen`.
pub async fn collect_into(reader: &mut Reader, mut seen: Seen, limit: Duration) -> Seen {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match next(reader, left).await {
            Some(Event::Start(s)) => {
                assert!(seen.start.is_none(), "a second Start before End");
                seen.start = Some(s);
            }
            Some(Event::Unit(u)) => {
                assert!(seen.start.is_some(), "a unit before Start");
                seen.units.push((Instant::now(), u));
            }
            Some(Event::End { epoch }) => {
                seen.end = Some(epoch);
                return seen;
            }
            None => return seen,
        }
    }
}

/// Waits for `Start` and returns it.
pub async fn wait_start(
    reader: &mut Reader,
    limit: Duration,
) -> Arc<showroom_pipelines::stream::Session> {
    match next(reader, limit).await {
        Some(Event::Start(s)) => s,
        other => panic!("expected Start within {limit:?}, got {other:?}"),
    }
}

/// ffmpeg's 640x360 H.264 AVCDecoderConfigurationRecord, for raw clients.
pub const AVC_RECORD: [u8; 41] = [
    1, 0x64, 0, 0x1e, 0xff, 0xe1, 0, 26, 0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f,
    0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2d,
    0x96, 1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb,
];

/// FLV AVC sequence header tag.
pub fn avc_header_tag() -> bytes::Bytes {
    let mut v = vec![0x17, 0, 0, 0, 0];
    v.extend_from_slice(&AVC_RECORD);
    v.into()
}

/// FLV AVC NALU tag holding one fake 4-byte-length-prefixed slice.
pub fn avc_frame_tag(keyframe: bool) -> bytes::Bytes {
    let first = if keyframe { 0x17 } else { 0x27 };
    vec![
        first,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
        2,
        if keyframe { 0x65 } else { 0x41 },
        0x88,
    ]
    .into()
}
