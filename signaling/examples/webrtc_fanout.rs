//! Fan-out load tool: `server` runs RTMP ingest + the SFU on 127.0.0.1 and publishes a ~600 kbit/s
//! ffmpeg stream; `load` (a separate process) opens N webrtc-rs viewers, counts packets and
//! loss, and reads the server's CPU and RSS from /proc.
//!
//! ```text
//! cargo run --release -p showroom-signaling --example webrtc_fanout -- server 19350 18080 [v=ADDR a=ADDR ...]
//! cargo run --release -p showroom-signaling --example webrtc_fanout -- load http://127.0.0.1:18080/whep/bench <server-pid> 200 30
//! cargo run --release -p showroom-signaling --example webrtc_fanout -- load janus:http://127.0.0.1:8088/janus <janus-pid> 200 30
//! ```
//!
//! Peers in the same run (`benches/scripts/webrtc_fanout.sh`): `v=ADDR` / `a=ADDR` send a copy of
//! every H.264 / Opus packet the engine forwards (a tap on the stream's `Fanout`, PT rewritten to
//! 96 / 111) to ADDR, where `str0m_fanout` (benches) or Janus's streaming plugin forwards it, so
//! all three serve the same packets. A URL `janus:<base>` makes the load speak Janus's HTTP API
//! (create, attach `janus.plugin.streaming`, `watch` id 1 → offer, answer with `start`) instead
//! of WHEP. `WEBRTC_FANOUT_SOURCE=none` starts the server without its ffmpeg (it then waits for
//! an RTMP or WHIP publisher on key `k-bench`; WHIP gathers on 127.0.0.1 only).
//!
//! Load options (environment): `WEBRTC_FANOUT_SRTP=aes128gcm|aes256gcm|aes128cm80` offers only
//! that SRTP profile in the viewers' DTLS handshakes (default: webrtc-rs's list, AEAD-AES-128-GCM
//! first), so the server's cipher is known; `WEBRTC_FANOUT_PERF=FILE` runs
//! `perf record -g -p <server-pid> -o FILE` over exactly the measured window.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use showroom_pipelines::ingest::PublishTarget;
use showroom_pipelines::rtmp::{RtmpConfig, RtmpServer};
use showroom_pipelines::stream::Stream;
use showroom_signaling::{router, RtpConfig, Sfu, StreamLookup, WebRtcConfig, Whip, WhipConfig};
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::MediaEngine;
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::{APIBuilder, API};
use webrtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::interceptor::registry::Registry;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::rtp_transceiver::rtp_codec::RTPCodecType;
use webrtc::rtp_transceiver::rtp_transceiver_direction::RTCRtpTransceiverDirection;
use webrtc::rtp_transceiver::RTCRtpTransceiverInit;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct One(Arc<Stream>);

impl PublishTarget for One {
    fn find_by_key(&self, key: &str) -> Option<Arc<Stream>> {
        (key == "k-bench").then(|| Arc::clone(&self.0))
    }
}

impl StreamLookup for One {
    fn stream(&self, id: &str) -> Option<Arc<Stream>> {
        (id == "bench").then(|| Arc::clone(&self.0))
    }
}

/// Sends a copy of every packet the engine forwards to the peers' RTP ports.
async fn tap(
    fanout: Arc<showroom_signaling::fanout::Fanout>,
    video: Vec<String>,
    audio: Vec<String>,
) -> Res<()> {
    use showroom_pipelines::rtp::RtpKind;
    use webrtc::util::Marshal;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    let gop = fanout.attach(u64::MAX, tx);
    let mut queued: std::collections::VecDeque<_> = gop.into();
    loop {
        let out = match queued.pop_front() {
            Some(o) => o,
            None => match rx.recv().await {
                Some(o) => o,
                None => return Ok(()),
            },
        };
        let mut bytes = out.packet.marshal()?.to_vec();
        let (pt, dests) = match out.kind {
            RtpKind::H264 => (96, &video),
            RtpKind::Opus => (111, &audio),
        };
        if let Some(b) = bytes.get_mut(1) {
            *b = (*b & 0x80) | pt;
        }
        for d in dests {
            let _ = sock.send_to(&bytes, d.as_str()).await;
        }
    }
}

async fn server(rtmp_port: u16, http_port: u16, taps: &[String]) -> Res<()> {
    let one = Arc::new(One(Stream::new("bench")));
    let rtmp = tokio::net::TcpListener::bind(("127.0.0.1", rtmp_port)).await?;
    tokio::spawn(
        RtmpServer::new(
            Arc::clone(&one) as Arc<dyn PublishTarget>,
            RtmpConfig::default(),
        )
        .serve(rtmp),
    );
    let cfg = WebRtcConfig {
        include_loopback: true,
        ice_interfaces: vec!["lo".into()],
        viewer_queue: 256,
        max_viewers: 100_000,
        // The egress must keep running between loads: the str0m and Janus peers are fed by the
        // tap below, which is no WHEP session, so the idle reaper would stop their packets.
        egress_idle_stop_ms: 0,
        ..WebRtcConfig::default()
    };
    let sfu = Sfu::new(
        cfg,
        RtpConfig::default(),
        Arc::clone(&one) as Arc<dyn StreamLookup>,
    )
    .await?;
    let whip = Whip::new(
        WhipConfig {
            ice_addresses: vec!["127.0.0.1".into()],
            ..WhipConfig::default()
        },
        Arc::clone(&one) as Arc<dyn PublishTarget>,
    );
    let http = tokio::net::TcpListener::bind(("127.0.0.1", http_port)).await?;
    // A blank page at `/` so a browser viewer (tests/browser/whep_view.mjs) is same-origin.
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| async {
                axum::response::Html("<!doctype html><title>bench</title>")
            }),
        )
        .merge(router(sfu.clone(), whip));
    tokio::spawn(async move { axum::serve(http, app).await });
    let mut source = tokio::process::Command::new("ffmpeg");
    source
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "60",
        ])
        .args(["-b:v", "530k", "-maxrate", "530k", "-bufsize", "530k"])
        .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv"])
        .arg(format!("rtmp://127.0.0.1:{rtmp_port}/live/k-bench"));
    // WEBRTC_FANOUT_SOURCE=none: no ffmpeg, wait for a publisher (RTMP or WHIP, key k-bench).
    let mut ffmpeg = match std::env::var("WEBRTC_FANOUT_SOURCE").as_deref() {
        Ok("none") => tokio::process::Command::new("sleep")
            .arg("infinity")
            .kill_on_drop(true)
            .spawn()?,
        _ => source.kill_on_drop(true).spawn()?,
    };
    while one.0.live().is_none() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fanout = sfu.warm("bench")?;
    let pick = |p: &str| -> Vec<String> {
        taps.iter()
            .filter_map(|t| t.strip_prefix(p).map(str::to_string))
            .collect()
    };
    let (video_taps, audio_taps) = (pick("v="), pick("a="));
    if !video_taps.is_empty() || !audio_taps.is_empty() {
        tokio::spawn(async move {
            if let Err(e) = tap(fanout, video_taps, audio_taps).await {
                eprintln!("tap ended: {e}");
            }
        });
    }
    eprintln!("server ready: pid {}", std::process::id());
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Some(f) = sfu.fanout("bench") {
                    eprintln!(
                        "viewers {} in {} forwarded {} dropped {}",
                        f.viewer_count(),
                        f.stats.packets_in.load(Ordering::Relaxed),
                        f.stats.packets_forwarded.load(Ordering::Relaxed),
                        f.stats.packets_dropped.load(Ordering::Relaxed)
                    );
                }
            }
            status = ffmpeg.wait() => {
                eprintln!("ffmpeg ended: {status:?}");
                return Ok(());
            }
        }
    }
}

fn client_api() -> Res<API> {
    let mut media = MediaEngine::default();
    media.register_default_codecs()?;
    let registry = register_default_interceptors(Registry::new(), &mut media)?;
    let mut s = SettingEngine::default();
    s.set_include_loopback_candidate(true);
    s.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
    // Gather on lo, or on the interfaces named in WEBRTC_FANOUT_IFACES (comma-separated; the
    // Janus peer needs its veth, as libnice never gathers loopback).
    let ifaces: Vec<String> = std::env::var("WEBRTC_FANOUT_IFACES")
        .unwrap_or_else(|_| "lo".into())
        .split(',')
        .map(str::to_string)
        .collect();
    s.set_interface_filter(Box::new(move |name: &str| ifaces.iter().any(|i| i == name)));
    if let Some(name) = std::env::var("WEBRTC_FANOUT_SRTP")
        .ok()
        .filter(|v| !v.is_empty())
    {
        s.set_srtp_protection_profiles(vec![srtp_profile(&name)?]);
    }
    Ok(APIBuilder::new()
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(s)
        .build())
}

/// The one SRTP profile `WEBRTC_FANOUT_SRTP` names.
fn srtp_profile(name: &str) -> Res<SrtpProtectionProfile> {
    Ok(match name {
        "aes128gcm" => SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
        "aes256gcm" => SrtpProtectionProfile::Srtp_Aead_Aes_256_Gcm,
        "aes128cm80" => SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
        other => {
            return Err(format!(
                "WEBRTC_FANOUT_SRTP={other}: expected aes128gcm, aes256gcm or aes128cm80"
            )
            .into())
        }
    })
}

#[derive(Default)]
struct Counters {
    packets: AtomicU64,
    lost: AtomicU64,
    first_packet_ms: parking_lot::Mutex<Vec<f64>>,
    /// Every peer, closed (DTLS close_notify) when the load ends so the server drops it at once.
    pcs: parking_lot::Mutex<Vec<Arc<webrtc::peer_connection::RTCPeerConnection>>>,
}

/// A receive-only peer connection that counts what it receives.
async fn counting_pc(
    api: &API,
    counters: Arc<Counters>,
) -> Res<Arc<webrtc::peer_connection::RTCPeerConnection>> {
    let pc = Arc::new(api.new_peer_connection(RTCConfiguration::default()).await?);
    let started = Instant::now();
    pc.on_track(Box::new(move |track, _, _| {
        let c = Arc::clone(&counters);
        tokio::spawn(async move {
            let video = track.kind() == RTPCodecType::Video;
            let mut last: Option<u16> = None;
            while let Ok((p, _)) = track.read_rtp().await {
                c.packets.fetch_add(1, Ordering::Relaxed);
                let seq = p.header.sequence_number;
                match last {
                    None if video => c
                        .first_packet_ms
                        .lock()
                        .push(started.elapsed().as_secs_f64() * 1e3),
                    Some(l) => {
                        let gap = seq.wrapping_sub(l);
                        if gap > 1 && gap < 1000 {
                            c.lost.fetch_add(u64::from(gap - 1), Ordering::Relaxed);
                        }
                    }
                    None => {}
                }
                last = Some(seq);
            }
        });
        Box::pin(async {})
    }));
    Ok(pc)
}

/// Sets `desc` as local description and returns it with every candidate (no trickle).
async fn local_sdp(
    pc: &webrtc::peer_connection::RTCPeerConnection,
    desc: RTCSessionDescription,
) -> Res<String> {
    let mut gathered = pc.gathering_complete_promise().await;
    pc.set_local_description(desc).await?;
    let _ = gathered.recv().await;
    Ok(pc
        .local_description()
        .await
        .ok_or("no local description")?
        .sdp)
}

async fn viewer(api: Arc<API>, url: String, counters: Arc<Counters>) -> Res<()> {
    if let Some(base) = url.strip_prefix("janus:") {
        return janus_viewer(api, base, counters).await;
    }
    let pc = counting_pc(&api, Arc::clone(&counters)).await?;
    for kind in [RTPCodecType::Video, RTPCodecType::Audio] {
        pc.add_transceiver_from_kind(
            kind,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                send_encodings: vec![],
            }),
        )
        .await?;
    }
    let offer = pc.create_offer(None).await?;
    let sdp = local_sdp(&pc, offer).await?;
    let resp = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/sdp")
        .body(sdp)
        .send()
        .await?;
    if resp.status().as_u16() != 201 {
        return Err(format!("POST {}: {}", resp.status(), resp.text().await?).into());
    }
    pc.set_remote_description(RTCSessionDescription::answer(resp.text().await?)?)
        .await?;
    counters.pcs.lock().push(pc);
    Ok(())
}

/// One Janus request; `janus: "error"` and HTTP errors become `Err`.
async fn janus_post(
    http: &reqwest::Client,
    url: &str,
    mut body: serde_json::Value,
) -> Res<serde_json::Value> {
    body["transaction"] = serde_json::Value::from(uuid::Uuid::new_v4().to_string());
    let v: serde_json::Value = http.post(url).json(&body).send().await?.json().await?;
    if v["janus"] == "error" {
        return Err(format!("janus {url}: {}", v["error"]).into());
    }
    Ok(v)
}

/// A viewer of Janus's streaming plugin, mountpoint 1: create, attach, watch → offer, answer.
async fn janus_viewer(api: Arc<API>, base: &str, counters: Arc<Counters>) -> Res<()> {
    use serde_json::json;
    let http = reqwest::Client::new();
    let session = janus_post(&http, base, json!({"janus": "create"})).await?["data"]["id"]
        .as_u64()
        .ok_or("janus create: no session id")?;
    let s_url = format!("{base}/{session}");
    let handle = janus_post(
        &http,
        &s_url,
        json!({"janus": "attach", "plugin": "janus.plugin.streaming"}),
    )
    .await?["data"]["id"]
        .as_u64()
        .ok_or("janus attach: no handle id")?;
    let h_url = format!("{s_url}/{handle}");
    let pc = counting_pc(&api, Arc::clone(&counters)).await?;
    let mut ev = janus_post(
        &http,
        &h_url,
        json!({"janus": "message", "body": {"request": "watch", "id": 1}}),
    )
    .await?;
    // The offer comes as an asynchronous event: long-poll the session until it does.
    let deadline = Instant::now() + Duration::from_secs(20);
    while ev["jsep"]["sdp"].as_str().is_none() {
        if Instant::now() > deadline {
            return Err("janus: no offer within 20 s".into());
        }
        let evs: serde_json::Value = http
            .get(format!("{s_url}?maxev=1"))
            .send()
            .await?
            .json()
            .await?;
        ev = match evs {
            serde_json::Value::Array(mut a) if !a.is_empty() => a.swap_remove(0),
            other => other,
        };
        if ev["janus"] == "event" && ev["plugindata"]["data"]["error"].is_string() {
            return Err(format!("janus watch: {}", ev["plugindata"]["data"]["error"]).into());
        }
    }
    let offer = ev["jsep"]["sdp"].as_str().unwrap_or_default().to_string();
    pc.set_remote_description(RTCSessionDescription::offer(offer)?)
        .await?;
    let answer = pc.create_answer(None).await?;
    let sdp = local_sdp(&pc, answer).await?;
    janus_post(
        &http,
        &h_url,
        json!({"janus": "message", "body": {"request": "start"},
               "jsep": {"type": "answer", "sdp": sdp}}),
    )
    .await?;
    counters.pcs.lock().push(pc);
    Ok(())
}

fn proc_cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

fn proc_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn load(url: String, pid: u32, n: usize, secs: u64) -> Res<()> {
    let api = Arc::new(client_api()?);
    let counters = Arc::new(Counters::default());
    let rss0 = proc_rss_kib(pid);
    let join_start = Instant::now();
    let mut failed = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(20) {
        let joins: Vec<_> = chunk
            .iter()
            .map(|_| tokio::spawn(viewer(Arc::clone(&api), url.clone(), Arc::clone(&counters))))
            .collect();
        for j in joins {
            match j.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    if failed < 3 {
                        eprintln!("viewer failed: {e}");
                    }
                    failed += 1;
                }
                Err(_) => failed += 1,
            }
        }
    }
    eprintln!(
        "{} viewers joined in {:?} ({failed} failed)",
        n - failed,
        join_start.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    // A profile of the server over the measured window only (joins and DTLS handshakes excluded).
    let perf = match std::env::var("WEBRTC_FANOUT_PERF") {
        Ok(out) if !out.is_empty() => Some(
            tokio::process::Command::new("perf")
                .args(["record", "-q", "-g", "-p", &pid.to_string(), "-o", &out])
                .args(["--", "sleep", &secs.to_string()])
                .stdout(std::process::Stdio::null())
                .spawn()?,
        ),
        _ => None,
    };
    let (p0, l0, c0, t0) = (
        counters.packets.load(Ordering::Relaxed),
        counters.lost.load(Ordering::Relaxed),
        proc_cpu_secs(pid),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let wall = t0.elapsed().as_secs_f64();
    let packets = counters.packets.load(Ordering::Relaxed) - p0;
    let lost = counters.lost.load(Ordering::Relaxed) - l0;
    let cpu = proc_cpu_secs(pid) - c0;
    let rss1 = proc_rss_kib(pid);
    if let Some(mut p) = perf {
        p.wait().await?;
    }
    let mut firsts = counters.first_packet_ms.lock().clone();
    firsts.sort_by(|a, b| a.total_cmp(b));
    let pct = |q: f64| {
        firsts
            .get(((firsts.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let viewers = (n - failed) as f64;
    println!(
        "viewers={} window_s={wall:.1} packets_received={packets} pps={:.0} loss={:.3}% \
         server_cpu_s={cpu:.2} server_cpu_pct={:.1} packets_per_cpu_s={:.0} viewers_per_core={:.0} \
         rss_kib_before={rss0} rss_kib_after={rss1} rss_per_viewer_kib={:.1} \
         first_video_packet_ms_p50={:.0} p95={:.0}",
        n - failed,
        packets as f64 / wall,
        100.0 * lost as f64 / (packets + lost).max(1) as f64,
        100.0 * cpu / wall,
        packets as f64 / cpu.max(1e-9),
        viewers / (cpu / wall).max(1e-9),
        (rss1.saturating_sub(rss0)) as f64 / viewers.max(1.0),
        pct(0.5),
        pct(0.95),
    );
    let pcs = std::mem::take(&mut *counters.pcs.lock());
    futures::future::join_all(pcs.iter().map(|pc| pc.close())).await;
    Ok(())
}

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("server") => {
            let rtmp = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(19350);
            let http = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(18080);
            server(rtmp, http, args.get(4..).unwrap_or(&[])).await
        }
        Some("load") => {
            let url = args.get(2).cloned().ok_or("load <whep-url> <server-pid> <viewers> <secs>")?;
            let pid = args.get(3).and_then(|v| v.parse().ok()).ok_or("server pid")?;
            let n = args.get(4).and_then(|v| v.parse().ok()).unwrap_or(100);
            let secs = args.get(5).and_then(|v| v.parse().ok()).unwrap_or(20);
            load(url, pid, n, secs).await
        }
        _ => Err("usage: webrtc_fanout server [rtmp-port http-port] | load <whep-url> <server-pid> <viewers> <secs>".into()),
    }
}
