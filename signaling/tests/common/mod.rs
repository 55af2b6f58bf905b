//! Shared pieces of the signaling tests: a stream registry (keys for RTMP, ids for WHEP), an
//! RTMP server and an HTTP server with the signaling router, both on 127.0.0.1:0, and ffmpeg.
#![allow(dead_code)]

pub mod browser;
pub mod relay;
pub mod webrtcbin;
pub mod whip_client;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use showroom_pipelines::ingest::PublishTarget;
use showroom_pipelines::rtmp::{RtmpConfig, RtmpServer};
use showroom_pipelines::stream::Stream;
use showroom_pipelines::transcode::{self, AbrConfig, Ladder, RenditionSpec};
use showroom_signaling::{
    router, Layer, RtpConfig, Sfu, StreamLookup, WebRtcConfig, Whip, WhipConfig,
};
use tokio::process::{Child, Command};

/// Streams by key (`k-<name>`) and by id (`<name>`), like the engine's registry, with an
/// ABR ladder each when built [`Registry::with_ladder`].
pub struct Registry {
    by_key: HashMap<String, Arc<Stream>>,
    ladders: HashMap<String, Ladder>,
}

impl Registry {
    pub fn new(names: &[&str]) -> Self {
        Self {
            by_key: names
                .iter()
                .map(|n| (format!("k-{n}"), Stream::new(*n)))
                .collect(),
            ladders: HashMap::new(),
        }
    }

    /// Every stream transcoded to `ladder` (needs the tokio runtime).
    pub fn with_ladder(names: &[&str], ladder: &[RenditionSpec]) -> Self {
        let mut r = Self::new(names);
        let cfg = AbrConfig {
            ladder: ladder.to_vec(),
            ..AbrConfig::default()
        };
        for s in r.by_key.values() {
            if let Some(l) = transcode::spawn(s, ladder, &cfg) {
                r.ladders.insert(s.id().to_owned(), l);
            }
        }
        r
    }
}

impl PublishTarget for Registry {
    fn find_by_key(&self, key: &str) -> Option<Arc<Stream>> {
        self.by_key.get(key).cloned()
    }
}

impl StreamLookup for Registry {
    fn stream(&self, id: &str) -> Option<Arc<Stream>> {
        self.by_key.values().find(|s| s.id() == id).cloned()
    }

    fn layers(&self, id: &str) -> Vec<Layer> {
        self.ladders
            .get(id)
            .map(|l| {
                l.renditions
                    .iter()
                    .map(|(spec, bus)| Layer {
                        name: spec.name.clone(),
                        height: spec.height,
                        bitrate_bps: u64::from(spec.bitrate_kbps) * 1000,
                        stream: Arc::clone(bus),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub struct Env {
    pub rtmp: SocketAddr,
    pub http: SocketAddr,
    pub sfu: Sfu,
    pub whip: Whip,
    pub registry: Arc<Registry>,
}

impl Env {
    pub fn rtmp_url(&self, name: &str) -> String {
        format!("rtmp://{}/live/k-{name}", self.rtmp)
    }

    pub fn whep_url(&self, name: &str) -> String {
        format!("http://{}/whep/{name}", self.http)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws/signal", self.http)
    }

    pub fn whip_url(&self, name: &str) -> String {
        format!("http://{}/whip/{name}", self.http)
    }

    pub fn page_url(&self) -> String {
        format!("http://{}/", self.http)
    }

    pub fn stream(&self, name: &str) -> Arc<Stream> {
        match self.registry.stream(name) {
            Some(s) => s,
            None => panic!("test set-up: no stream {name}"),
        }
    }

    /// `DELETE` on a session `location` (a path); the status (0 when the request failed).
    pub async fn delete(&self, location: &str) -> u16 {
        reqwest::Client::new()
            .delete(format!("http://{}{location}", self.http))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// Waits until the bus has a running session for `name`.
    pub async fn wait_live(&self, name: &str) {
        let stream = self.stream(name);
        for _ in 0..300 {
            if stream.live().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("stream {name} never went live (is ffmpeg publishing?)");
    }
}

/// Waits up to `timeout` for `counter` to reach `at_least`; returns its last value.
pub async fn wait_count(counter: &AtomicU64, at_least: u64, timeout: Duration) -> u64 {
    let end = tokio::time::Instant::now() + timeout;
    loop {
        let n = counter.load(Ordering::Relaxed);
        if n >= at_least || tokio::time::Instant::now() >= end {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A response header as a string.
pub fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub fn test_webrtc_config() -> WebRtcConfig {
    WebRtcConfig {
        include_loopback: true,
        ice_interfaces: vec!["lo".into()],
        ..WebRtcConfig::default()
    }
}

/// The WHIP settings of the tests: loopback ICE only.
pub fn test_whip_config() -> WhipConfig {
    WhipConfig {
        ice_addresses: vec!["127.0.0.1".into()],
        ..WhipConfig::default()
    }
}

/// Starts the RTMP server and an HTTP server with `router(sfu, whip)` and a blank page at `/`.
pub async fn start(names: &[&str], cfg: WebRtcConfig) -> Env {
    start_with(names, cfg, test_whip_config()).await
}

/// [`start`] with WHIP settings.
pub async fn start_with(names: &[&str], cfg: WebRtcConfig, whip_cfg: WhipConfig) -> Env {
    start_registry(Registry::new(names), cfg, whip_cfg).await
}

/// [`start`] with a registry of one's own (e.g. [`Registry::with_ladder`]).
pub async fn start_registry(registry: Registry, cfg: WebRtcConfig, whip_cfg: WhipConfig) -> Env {
    init_tracing();
    let registry = Arc::new(registry);
    let rtmp_listener = bind().await;
    let rtmp = local(&rtmp_listener);
    let server = RtmpServer::new(
        Arc::clone(&registry) as Arc<dyn PublishTarget>,
        RtmpConfig::default(),
    );
    tokio::spawn(server.serve(rtmp_listener));
    let sfu = match Sfu::new(
        cfg,
        RtpConfig::default(),
        Arc::clone(&registry) as Arc<dyn StreamLookup>,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => panic!("Sfu::new: {e}"),
    };
    let whip = Whip::new(whip_cfg, Arc::clone(&registry) as Arc<dyn PublishTarget>);
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| async {
                axum::response::Html("<!doctype html><title>whep test</title>")
            }),
        )
        .merge(router(sfu.clone(), whip.clone()));
    let http_listener = bind().await;
    let http = local(&http_listener);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(http_listener, app).await {
            tracing::error!(error = %e, "test http server ended");
        }
    });
    Env {
        rtmp,
        http,
        sfu,
        whip,
        registry,
    }
}

/// [`start`] with one stream `name` that ffmpeg publishes over RTMP (`bframes`, `secs`);
/// returns once it is live. Keep the child: dropping it stops ffmpeg.
pub async fn start_live(name: &str, bframes: u32, secs: u32, cfg: WebRtcConfig) -> (Env, Child) {
    let env = start(&[name], cfg).await;
    let ffmpeg = ffmpeg_publish(&env.rtmp_url(name), bframes, secs);
    env.wait_live(name).await;
    (env, ffmpeg)
}

async fn bind() -> tokio::net::TcpListener {
    match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind 127.0.0.1:0: {e}"),
    }
}

fn local(l: &tokio::net::TcpListener) -> SocketAddr {
    l.local_addr().unwrap_or_else(|e| panic!("local_addr: {e}"))
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "showroom_signaling=info,showroom_pipelines=info".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Panics with a clear message when a tool the test needs is missing.
pub fn require(tool: &str, arg: &str) {
    let ok = std::process::Command::new(tool)
        .arg(arg)
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

/// ffmpeg publishing testsrc2 + sine as H.264 (`bframes` B-frames) + AAC for `secs` seconds.
pub fn ffmpeg_publish(url: &str, bframes: u32, secs: u32) -> Child {
    ffmpeg_publish_with(url, bframes, secs, &[])
}

/// [`ffmpeg_publish`] with more video output options (e.g. `-b:v 1200k`).
pub fn ffmpeg_publish_with(url: &str, bframes: u32, secs: u32, video: &[&str]) -> Child {
    require("ffmpeg", "-version");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "30"])
        .args(["-bf", &bframes.to_string()]);
    if bframes == 0 {
        cmd.args(["-tune", "zerolatency"]);
    }
    cmd.args(video);
    cmd.args(["-c:a", "aac", "-b:a", "64k"])
        .args(["-t", &secs.to_string(), "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    match cmd.spawn() {
        Ok(c) => c,
        Err(e) => panic!("spawn ffmpeg: {e}"),
    }
}

/// A WHEP-shaped offer with H.264 and Opus that needs no network (for refusal tests).
pub fn fake_offer(video_codec: &str) -> String {
    format!(
        "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
         a=group:BUNDLE 0 1\r\na=msid-semantic: WMS\r\n\
         m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
         a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\n\
         a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n\
         a=setup:actpass\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\n\
         a=rtpmap:102 {video_codec}/90000\r\n\
         a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
         m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
         a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\n\
         a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n\
         a=setup:actpass\r\na=mid:1\r\na=recvonly\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
    )
}
