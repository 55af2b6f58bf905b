//! Glass-to-glass latency over WebRTC, one machine so one clock.
//!
//! The publisher (GStreamer) stamps the wall clock into every raw frame before the encoder: 32
//! bits of Unix milliseconds as 16×16 black/white blocks in the top-left corner, and the same bits
//! inverted in the row below (a frame whose two rows disagree is not counted). It publishes over
//! WHIP (`webrtcbin`) or RTMP (`rtmp2sink`, x264 without B-frames). The viewer is a `webrtcbin`
//! WHEP client (jitterbuffer `latency` = LATENCY_MS, default 50) → `avdec_h264` → a clock-synced
//! sink; at each frame's render time it reads the stamp back: glass-to-glass = render wall clock −
//! stamp. Samples of the first WARMUP_S (3) seconds are left out.
//!
//! ```text
//! webrtc_glass whip http://127.0.0.1:PORT/whip/bench  k-bench http://127.0.0.1:PORT/whep/bench 30
//! webrtc_glass rtmp rtmp://127.0.0.1:PORT/live/k-bench -      http://127.0.0.1:PORT/whep/bench 30
//! webrtc_glass view - - http://127.0.0.1:PORT/whep/bench 30   (publisher elsewhere, stamped the same way)
//! ```
//! Prints one line: `mode=… frames=… stamped=… glass_ms_p50=… p95=… min=… max=…`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use gst::prelude::*;
use parking_lot::Mutex;

const WIDTH: usize = 640;
const HEIGHT: usize = 360;
const BLOCK: usize = 16;
const BITS: usize = 32;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Paints `value` into the luma plane: row 0 the bits, row 1 the bits inverted.
fn paint(luma: &mut [u8], stride: usize, value: u32) {
    for bit in 0..BITS {
        let on = (value >> (BITS - 1 - bit)) & 1 == 1;
        for (row, level) in [(0, on), (1, !on)] {
            let y_px = if level { 235 } else { 16 };
            for y in row * BLOCK..(row + 1) * BLOCK {
                let start = y * stride + bit * BLOCK;
                if let Some(px) = luma.get_mut(start..start + BLOCK) {
                    px.fill(y_px);
                }
            }
        }
    }
}

/// Reads the stamp back (centre 8×8 of each block); None when the two rows disagree.
fn read(luma: &[u8], stride: usize) -> Option<u32> {
    let mean = |row: usize, bit: usize| -> Option<u32> {
        let mut sum = 0u32;
        for y in row * BLOCK + 4..row * BLOCK + 12 {
            let start = y * stride + bit * BLOCK + 4;
            sum += luma
                .get(start..start + 8)?
                .iter()
                .map(|v| u32::from(*v))
                .sum::<u32>();
        }
        Some(sum / 64)
    };
    let mut value = 0u32;
    for bit in 0..BITS {
        let (a, b) = (mean(0, bit)? > 128, mean(1, bit)? > 128);
        if a == b {
            return None;
        }
        value = (value << 1) | u32::from(a);
    }
    Some(value)
}

/// Stamps every frame passing `identity name=stamp`'s src pad.
fn add_stamper(pipeline: &gst::Pipeline) -> Result<()> {
    let stamp = pipeline
        .by_name("stamp")
        .ok_or_else(|| anyhow!("no stamp element"))?;
    let pad = stamp
        .static_pad("src")
        .ok_or_else(|| anyhow!("stamp has no src pad"))?;
    pad.add_probe(gst::PadProbeType::BUFFER, |_, info| {
        if let Some(buffer) = info.buffer_mut() {
            let buffer = buffer.make_mut();
            if let Ok(mut map) = buffer.map_writable() {
                paint(map.as_mut_slice(), WIDTH, now_ms() as u32);
            }
        }
        gst::PadProbeReturn::Ok
    });
    Ok(())
}

const RAW: &str = "videotestsrc is-live=true pattern=ball \
    ! video/x-raw,format=I420,width=640,height=360,framerate=30/1 ! identity name=stamp";
const X264: &str =
    "x264enc tune=zerolatency speed-preset=ultrafast bframes=0 key-int-max=30 bitrate=530 \
    ! video/x-h264,profile=constrained-baseline";

/// A `webrtcbin` that gathers on 127.0.0.1 only and keeps its candidates for a non-trickle offer.
struct Peer {
    webrtc: gst::Element,
    candidates: Arc<Mutex<Vec<(u32, String)>>>,
}

impl Peer {
    fn new(webrtc: gst::Element) -> Result<Self> {
        let ice: gst::glib::Object = webrtc.property("ice-agent");
        if !ice.emit_by_name::<bool>("add-local-ip-address", &[&"127.0.0.1"]) {
            bail!("webrtcbin refused 127.0.0.1 as its ICE address");
        }
        let candidates: Arc<Mutex<Vec<(u32, String)>>> = Arc::default();
        let sink = Arc::clone(&candidates);
        webrtc.connect("on-ice-candidate", false, move |a| {
            let mline = a.get(1).and_then(|v| v.get::<u32>().ok());
            let line = a.get(2).and_then(|v| v.get::<String>().ok());
            sink.lock().extend(mline.zip(line));
            None
        });
        Ok(Self { webrtc, candidates })
    }

    /// create-offer, set-local-description, wait for gathering; the offer with its candidates
    /// added to each media section.
    async fn offer(&self) -> Result<String> {
        let (promise, reply) = gst::Promise::new_future();
        self.webrtc
            .emit_by_name::<()>("create-offer", &[&None::<gst::Structure>, &promise]);
        let reply = tokio::time::timeout(Duration::from_secs(5), reply)
            .await
            .context("create-offer timed out")?
            .map_err(|e| anyhow!("create-offer: {e:?}"))?;
        let offer = reply
            .and_then(|r| r.get::<gst_webrtc::WebRTCSessionDescription>("offer").ok())
            .ok_or_else(|| anyhow!("create-offer gave no offer"))?;
        self.webrtc
            .emit_by_name::<()>("set-local-description", &[&offer, &None::<gst::Promise>]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self
            .webrtc
            .property::<gst_webrtc::WebRTCICEGatheringState>("ice-gathering-state")
            != gst_webrtc::WebRTCICEGatheringState::Complete
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut sdp = offer.sdp().to_owned();
        for (mline, line) in self.candidates.lock().iter() {
            if let Some(media) = sdp.media_mut(*mline) {
                media.add_attribute("candidate", line.strip_prefix("candidate:"));
            }
        }
        sdp.as_text().context("offer as text")
    }

    fn apply_answer(&self, answer: &str) -> Result<()> {
        let sdp = gst_sdp::SDPMessage::parse_buffer(answer.as_bytes())
            .map_err(|e| anyhow!("answer SDP unparseable: {e}"))?;
        let answer =
            gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Answer, sdp);
        self.webrtc
            .emit_by_name::<()>("set-remote-description", &[&answer, &None::<gst::Promise>]);
        Ok(())
    }
}

async fn post_sdp(url: &str, key: Option<&str>, sdp: String) -> Result<(u16, String)> {
    let post = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/sdp")
        .body(sdp);
    let post = key.into_iter().fold(post, |p, k| p.bearer_auth(k));
    let resp = post.send().await.with_context(|| format!("POST {url}"))?;
    Ok((resp.status().as_u16(), resp.text().await?))
}

async fn publish(mode: &str, url: &str, key: &str) -> Result<gst::Pipeline> {
    let launch = match mode {
        "whip" => format!(
            "webrtcbin name=w bundle-policy=max-bundle {RAW} ! {X264} \
             ! rtph264pay config-interval=-1 pt=102 \
             ! application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000 ! w. \
             audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc \
             ! rtpopuspay pt=111 ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000 ! w."
        ),
        "rtmp" => format!(
            "{RAW} ! {X264} ! h264parse ! flvmux name=m streamable=true ! rtmp2sink location={url} \
             audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! avenc_aac ! aacparse ! m."
        ),
        other => bail!("unknown mode {other} (whip, rtmp, view)"),
    };
    let pipeline = gst::parse::launch(&launch)
        .context("publisher pipeline")?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("not a pipeline"))?;
    add_stamper(&pipeline)?;
    if mode == "rtmp" {
        pipeline.set_state(gst::State::Playing)?;
        return Ok(pipeline);
    }
    let peer = Peer::new(
        pipeline
            .by_name("w")
            .ok_or_else(|| anyhow!("no webrtcbin"))?,
    )?;
    pipeline.set_state(gst::State::Playing)?;
    let (status, body) = post_sdp(url, Some(key), peer.offer().await?).await?;
    if status != 201 {
        bail!("WHIP POST {url}: {status} {body}");
    }
    peer.apply_answer(&body)?;
    Ok(pipeline)
}

#[derive(Default)]
struct Samples {
    frames: u64,
    stamped: Vec<(Instant, f64)>,
}

async fn view(whep: &str, latency_ms: u32, samples: Arc<Mutex<Samples>>) -> Result<gst::Pipeline> {
    let pipeline = gst::Pipeline::new();
    let webrtc = gst::ElementFactory::make("webrtcbin")
        .property_from_str("bundle-policy", "max-bundle")
        .property("latency", latency_ms)
        .build()
        .context("webrtcbin (gst-plugins-bad)")?;
    pipeline.add(&webrtc)?;
    for caps in [RECV_H264, RECV_OPUS] {
        webrtc.emit_by_name::<gst_webrtc::WebRTCRTPTransceiver>(
            "add-transceiver",
            &[
                &gst_webrtc::WebRTCRTPTransceiverDirection::Recvonly,
                &gst::Caps::from_str(caps)?,
            ],
        );
    }
    webrtc.connect_pad_added(move |w, pad| {
        let Some(bin) = w.parent().and_then(|p| p.downcast::<gst::Bin>().ok()) else {
            return;
        };
        let h264 = pad
            .current_caps()
            .is_some_and(|c| c.to_string().contains("H264"));
        let branch = if h264 { VIEW_H264 } else { "fakesink" };
        let samples = h264.then(|| Arc::clone(&samples));
        if let Err(e) = add_branch(&bin, pad, branch, samples) {
            eprintln!("webrtc_glass: viewer branch {branch}: {e:#}");
        }
    });
    let peer = Peer::new(webrtc)?;
    pipeline.set_state(gst::State::Playing)?;
    let sdp = peer.offer().await?;
    // The stream may not be live yet (publisher still connecting): retry 404/409 for 20 s.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = post_sdp(whep, None, sdp.clone()).await?;
        match status {
            201 => {
                peer.apply_answer(&body)?;
                return Ok(pipeline);
            }
            404 | 409 if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            _ => bail!("WHEP POST {whep}: {status} {body}"),
        }
    }
}

const RECV_H264: &str =
    "application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000,\
    packetization-mode=(string)1,profile-level-id=(string)42e01f";
const RECV_OPUS: &str =
    "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000";
/// Decoded frames reach `glass` at their render time (clock-synced).
const VIEW_H264: &str =
    "rtph264depay ! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=I420 \
    ! fakesink name=glass sync=true signal-handoffs=true";

/// Links webrtcbin's new src `pad` to a bin made from `description`; with `samples`, the bin's
/// `glass` sink reads each frame's stamp.
fn add_branch(
    pipeline: &gst::Bin,
    pad: &gst::Pad,
    description: &str,
    samples: Option<Arc<Mutex<Samples>>>,
) -> Result<()> {
    let bin = gst::parse::bin_from_description(description, true)?;
    if let Some(samples) = samples {
        let sink = bin
            .by_name("glass")
            .ok_or_else(|| anyhow!("no glass sink"))?;
        sink.connect("handoff", false, move |args| {
            let at = now_ms();
            let buffer = args.get(1).and_then(|v| v.get::<gst::Buffer>().ok());
            let stamp = buffer.as_ref().and_then(|b| {
                let map = b.map_readable().ok()?;
                (map.len() >= WIDTH * HEIGHT).then(|| read(map.as_slice(), WIDTH))?
            });
            let mut s = samples.lock();
            s.frames += 1;
            if let Some(stamp) = stamp {
                let glass = (at as u32).wrapping_sub(stamp) as i32;
                s.stamped.push((Instant::now(), f64::from(glass)));
            }
            None
        });
    }
    pipeline.add(&bin)?;
    bin.sync_state_with_parent()?;
    let sink = bin
        .static_pad("sink")
        .ok_or_else(|| anyhow!("branch has no sink pad"))?;
    pad.link(&sink)?;
    Ok(())
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = (sorted.len() - 1) as f64 * q;
    let (f, c) = (
        k.floor() as usize,
        (k.ceil() as usize).min(sorted.len() - 1),
    );
    sorted[f] + (sorted[c] - sorted[f]) * (k - f as f64)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: webrtc_glass whip|rtmp|view <publish-url|-> <key|-> <whep-url> <secs>";
    let (mode, publish_url, key, whep) = match args.get(1..5) {
        Some([m, p, k, w]) => (m.as_str(), p.as_str(), k.as_str(), w.as_str()),
        _ => bail!(usage),
    };
    let secs: u64 = args.get(5).and_then(|v| v.parse().ok()).unwrap_or(30);
    let env_num = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let latency_ms = env_num("LATENCY_MS", 50) as u32;
    let warmup = Duration::from_secs(env_num("WARMUP_S", 3));
    gst::init()?;

    let publisher = match mode {
        "view" => None,
        m => Some(publish(m, publish_url, key).await?),
    };
    let samples = Arc::new(Mutex::new(Samples::default()));
    let viewer = view(whep, latency_ms, Arc::clone(&samples)).await?;
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let _ = viewer.set_state(gst::State::Null);
    if let Some(p) = publisher {
        let _ = p.set_state(gst::State::Null);
    }
    let s = samples.lock();
    let mut glass: Vec<f64> = s
        .stamped
        .iter()
        .filter(|(t, _)| t.duration_since(start) >= warmup)
        .map(|(_, g)| *g)
        .collect();
    glass.sort_by(|a, b| a.total_cmp(b));
    println!(
        "mode={mode} latency_ms={latency_ms} frames={} stamped={} counted={} glass_ms_p50={:.0} p95={:.0} min={:.0} max={:.0}",
        s.frames,
        s.stamped.len(),
        glass.len(),
        pct(&glass, 0.5),
        pct(&glass, 0.95),
        glass.first().copied().unwrap_or(f64::NAN),
        glass.last().copied().unwrap_or(f64::NAN),
    );
    if glass.is_empty() {
        bail!("no stamped frame decoded");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips_and_rejects_garbage() {
        let mut luma = vec![128u8; WIDTH * HEIGHT];
        assert_eq!(read(&luma, WIDTH), None, "flat grey is no stamp");
        for v in [0u32, 1, 0xdead_beef, u32::MAX, now_ms() as u32] {
            paint(&mut luma, WIDTH, v);
            assert_eq!(read(&luma, WIDTH), Some(v));
        }
        // One bit's two rows made equal: the frame is rejected, not misread.
        let first_bit_row1 = BLOCK * WIDTH;
        for y in 0..BLOCK {
            let s = first_bit_row1 + y * WIDTH;
            let v = luma[y * WIDTH];
            luma[s..s + BLOCK].fill(v);
        }
        assert_eq!(read(&luma, WIDTH), None);
    }
}
