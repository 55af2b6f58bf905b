//! A WHEP viewer built on GStreamer `webrtcbin` (gst-plugins-bad 1.22 has no `whepsrc`):
//! recvonly H.264 + Opus, 127.0.0.1 as its only ICE address, frames counted after `avdec_h264`.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gst::prelude::*;
use parking_lot::Mutex;

pub struct WebrtcbinViewer {
    pub pipeline: gst::Pipeline,
    pub frames: Arc<AtomicU64>,
    pub audio_buffers: Arc<AtomicU64>,
    pub location: Option<String>,
}

impl Drop for WebrtcbinViewer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn el(name: &str) -> gst::Element {
    gst::ElementFactory::make(name)
        .build()
        .unwrap_or_else(|e| panic!("GStreamer element {name}: {e}"))
}

fn counting_sink(counter: Arc<AtomicU64>) -> gst::Element {
    let sink = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .build()
        .unwrap_or_else(|e| panic!("fakesink: {e}"));
    if let Some(pad) = sink.static_pad("sink") {
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counter.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    }
    sink
}

/// Adds `candidates` (mline, line) to the SDP text when webrtcbin left them out.
fn with_candidates(sdp: &str, candidates: &[(u32, String)]) -> String {
    let mut out = String::new();
    let mut mline: i64 = -1;
    let flush = |out: &mut String, mline: i64| {
        for (m, c) in candidates {
            if i64::from(*m) == mline && c.contains(" 127.0.0.1 ") {
                out.push_str(&format!("a={c}\r\n"));
            }
        }
    };
    for line in sdp.lines() {
        if line.starts_with("m=") {
            if mline >= 0 {
                flush(&mut out, mline);
            }
            mline += 1;
        }
        if line.starts_with("a=candidate:") || line.starts_with("a=end-of-candidates") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    flush(&mut out, mline);
    out
}

/// Connects a webrtcbin viewer to `whep_url`; returns once the answer is applied.
pub async fn connect(whep_url: &str) -> WebrtcbinViewer {
    if let Err(e) = showroom_pipelines::gst_init::init() {
        panic!("GStreamer: {e}");
    }
    let pipeline = gst::Pipeline::new();
    let webrtc = gst::ElementFactory::make("webrtcbin")
        .property_from_str("bundle-policy", "max-bundle")
        .build()
        .unwrap_or_else(|e| panic!("webrtcbin (gst-plugins-bad) missing: {e}"));
    pipeline
        .add(&webrtc)
        .unwrap_or_else(|e| panic!("add webrtcbin: {e}"));
    let ice: gst::glib::Object = webrtc.property("ice-agent");
    let added: bool = ice.emit_by_name("add-local-ip-address", &[&"127.0.0.1"]);
    assert!(added, "webrtcbin refused 127.0.0.1 as its ICE address");

    for caps in [
        "application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000,packetization-mode=(string)1,profile-level-id=(string)42e01f",
        "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000",
    ] {
        let caps = gst::Caps::from_str(caps).unwrap_or_else(|e| panic!("caps: {e}"));
        let _: gst_webrtc::WebRTCRTPTransceiver = webrtc.emit_by_name(
            "add-transceiver",
            &[&gst_webrtc::WebRTCRTPTransceiverDirection::Recvonly, &caps],
        );
    }

    let frames = Arc::new(AtomicU64::new(0));
    let audio_buffers = Arc::new(AtomicU64::new(0));
    let (f, a) = (Arc::clone(&frames), Arc::clone(&audio_buffers));
    let weak = pipeline.downgrade();
    webrtc.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        let media = pad
            .current_caps()
            .and_then(|c| c.structure(0).and_then(|s| s.get::<String>("media").ok()))
            .unwrap_or_default();
        let chain: Vec<gst::Element> = if media == "video" {
            vec![
                el("rtph264depay"),
                el("h264parse"),
                el("avdec_h264"),
                counting_sink(Arc::clone(&f)),
            ]
        } else {
            vec![el("rtpopusdepay"), counting_sink(Arc::clone(&a))]
        };
        if pipeline.add_many(&chain).is_err() || gst::Element::link_many(&chain).is_err() {
            panic!("webrtcbin viewer: cannot build the {media} chain");
        }
        for e in &chain {
            let _ = e.sync_state_with_parent();
        }
        if let Some(sink) = chain[0].static_pad("sink") {
            if let Err(e) = pad.link(&sink) {
                panic!("webrtcbin viewer: link {media}: {e:?}");
            }
        }
    });
    let candidates: Arc<Mutex<Vec<(u32, String)>>> = Arc::default();
    let c = Arc::clone(&candidates);
    webrtc.connect("on-ice-candidate", false, move |args| {
        let mline = args.get(1).and_then(|v| v.get::<u32>().ok()).unwrap_or(0);
        if let Some(line) = args.get(2).and_then(|v| v.get::<String>().ok()) {
            c.lock().push((mline, line));
        }
        None
    });
    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        panic!("webrtcbin viewer: PLAYING: {e}");
    }

    let offer_sdp = offer(&webrtc, &candidates).await;
    let resp = reqwest::Client::new()
        .post(whep_url)
        .header("content-type", "application/sdp")
        .body(offer_sdp)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {whep_url}: {e}"));
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let answer = resp.text().await.unwrap_or_default();
    assert_eq!(status, 201, "WHEP answer: {answer}");
    apply_answer(&webrtc, &answer);
    WebrtcbinViewer {
        pipeline,
        frames,
        audio_buffers,
        location,
    }
}

/// create-offer, set-local-description, waits for gathering; the offer text with the
/// 127.0.0.1 candidates gathered.
pub async fn offer(webrtc: &gst::Element, candidates: &Mutex<Vec<(u32, String)>>) -> String {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let promise = gst::Promise::with_change_func(move |reply| {
        let offer = reply
            .ok()
            .flatten()
            .and_then(|s| s.get::<gst_webrtc::WebRTCSessionDescription>("offer").ok());
        let _ = tx.send(offer);
    });
    webrtc.emit_by_name::<()>("create-offer", &[&None::<gst::Structure>, &promise]);
    let offer = match tokio::time::timeout(Duration::from_secs(5), rx).await {
        Ok(Ok(Some(o))) => o,
        other => panic!("webrtcbin create-offer failed: {other:?}"),
    };
    webrtc.emit_by_name::<()>("set-local-description", &[&offer, &None::<gst::Promise>]);
    for _ in 0..100 {
        let state: gst_webrtc::WebRTCICEGatheringState = webrtc.property("ice-gathering-state");
        if state == gst_webrtc::WebRTCICEGatheringState::Complete {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let local: gst_webrtc::WebRTCSessionDescription = webrtc.property("local-description");
    let text = local
        .sdp()
        .as_text()
        .unwrap_or_else(|e| panic!("offer as text: {e}"));
    let offer_sdp = with_candidates(&text, &candidates.lock());
    assert!(
        offer_sdp.contains("127.0.0.1"),
        "webrtcbin gathered no 127.0.0.1 candidate: {offer_sdp}"
    );
    offer_sdp
}

/// set-remote-description with the server's answer.
pub fn apply_answer(webrtc: &gst::Element, answer: &str) {
    let sdp = gst_sdp::SDPMessage::parse_buffer(answer.as_bytes())
        .unwrap_or_else(|e| panic!("answer SDP unparseable by GStreamer: {e}"));
    let answer = gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Answer, sdp);
    webrtc.emit_by_name::<()>("set-remote-description", &[&answer, &None::<gst::Promise>]);
}
