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
    pub etag: Option<String>,
    /// Status of each trickle PATCH (trickle mode).
    pub patches: Vec<u16>,
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
    connect_with(whep_url, false).await
}

/// Like [`connect`], but the offer goes out without candidates and they follow by `PATCH`
/// (`application/trickle-ice-sdpfrag`, `If-Match` = the `ETag` of the 201).
pub async fn connect_trickle(whep_url: &str) -> WebrtcbinViewer {
    connect_with(whep_url, true).await
}

async fn connect_with(whep_url: &str, trickle: bool) -> WebrtcbinViewer {
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

    let offer_sdp = if trickle {
        create_offer(&webrtc).await
    } else {
        offer(&webrtc, &candidates).await
    };
    let resp = reqwest::Client::new()
        .post(whep_url)
        .header("content-type", "application/sdp")
        .body(offer_sdp.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {whep_url}: {e}"));
    let status = resp.status().as_u16();
    let (location, etag) = (
        super::header(&resp, "location"),
        super::header(&resp, "etag"),
    );
    let answer = resp.text().await.unwrap_or_default();
    assert_eq!(status, 201, "WHEP answer: {answer}");
    let mut patches = Vec::new();
    if !trickle {
        apply_answer(&webrtc, &answer);
    } else {
        // The server's candidates are dropped: only the server's checks towards the trickled
        // candidates can connect, so the session connects only if trickle works.
        apply_answer(&webrtc, &without_candidates(&answer));
        let base = whep_url.split("/whep/").next().unwrap_or_default();
        let url = format!("{base}{}", location.clone().unwrap_or_default());
        patches = trickle_candidates(&webrtc, &candidates, &offer_sdp, &url, etag.as_deref()).await;
    }
    WebrtcbinViewer {
        pipeline,
        frames,
        audio_buffers,
        location,
        etag,
        patches,
    }
}

/// `sdp` without its candidate lines.
pub fn without_candidates(sdp: &str) -> String {
    with_candidates(sdp, &[])
}

/// `a=<name>:value` of an SDP.
pub fn sdp_attr(sdp: &str, name: &str) -> Option<String> {
    let prefix = format!("a={name}:");
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix(&prefix).map(str::to_owned))
}

/// A trickle fragment (RFC 8840) for the first section of `offer` with `candidates`.
pub fn fragment(offer: &str, candidates: &[String], end: bool) -> String {
    let mline = offer
        .lines()
        .find(|l| l.starts_with("m="))
        .unwrap_or_default()
        .trim_end();
    let mut f = format!(
        "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\n{mline}\r\na=mid:{}\r\n",
        sdp_attr(offer, "ice-ufrag").unwrap_or_default(),
        sdp_attr(offer, "ice-pwd").unwrap_or_default(),
        sdp_attr(offer, "mid").unwrap_or_else(|| "0".into()),
    );
    for c in candidates {
        f.push_str(&format!("a={c}\r\n"));
    }
    if end {
        f.push_str("a=end-of-candidates\r\n");
    }
    f
}

/// Waits for gathering, then PATCHes the 127.0.0.1 candidates to `url`: the first alone, the
/// rest with `a=end-of-candidates`. Returns each PATCH's status.
pub async fn trickle_candidates(
    webrtc: &gst::Element,
    candidates: &Mutex<Vec<(u32, String)>>,
    offer: &str,
    url: &str,
    etag: Option<&str>,
) -> Vec<u16> {
    wait_gathered(webrtc).await;
    let mine: Vec<String> = candidates
        .lock()
        .iter()
        .filter(|(m, c)| *m == 0 && c.contains(" 127.0.0.1 "))
        .map(|(_, c)| c.clone())
        .collect();
    assert!(
        !mine.is_empty(),
        "webrtcbin gathered no 127.0.0.1 candidate"
    );
    let mut statuses = Vec::new();
    for (batch, end) in [(&mine[..1], false), (&mine[1..], true)] {
        let mut req = reqwest::Client::new()
            .patch(url)
            .header("content-type", "application/trickle-ice-sdpfrag")
            .body(fragment(offer, batch, end));
        if let Some(e) = etag {
            req = req.header("if-match", e);
        }
        let status = req
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or_else(|e| panic!("PATCH {url}: {e}"));
        statuses.push(status);
    }
    statuses
}

async fn wait_gathered(webrtc: &gst::Element) {
    for _ in 0..100 {
        let state: gst_webrtc::WebRTCICEGatheringState = webrtc.property("ice-gathering-state");
        if state == gst_webrtc::WebRTCICEGatheringState::Complete {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// create-offer and set-local-description; the offer text at once (no candidates: webrtcbin
/// never writes them into the description).
pub async fn create_offer(webrtc: &gst::Element) -> String {
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
    let text = offer
        .sdp()
        .as_text()
        .unwrap_or_else(|e| panic!("offer as text: {e}"));
    assert!(!text.contains("a=candidate"), "offer carries candidates");
    text
}

/// create-offer, set-local-description, waits for gathering; the offer text with the
/// 127.0.0.1 candidates gathered.
pub async fn offer(webrtc: &gst::Element, candidates: &Mutex<Vec<(u32, String)>>) -> String {
    let text = create_offer(webrtc).await;
    wait_gathered(webrtc).await;
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
