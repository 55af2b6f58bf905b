//! A WHIP publisher built on GStreamer `webrtcbin` (1.22 has no `whipsink`): videotestsrc →
//! x264enc (no B-frames) and audiotestsrc → opusenc, 127.0.0.1 as its only ICE address.

use std::time::Duration;

use gst::prelude::*;
use parking_lot::Mutex;
use std::sync::Arc;

pub struct WhipPublisher {
    pub pipeline: gst::Pipeline,
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
}

impl Drop for WhipPublisher {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Publishes to `whip_url` with `key` (None: no Authorization header). Returns after the
/// POST; on 201 the answer is applied and media flows.
pub async fn publish(whip_url: &str, key: Option<&str>) -> WhipPublisher {
    if let Err(e) = showroom_pipelines::gst_init::init() {
        panic!("GStreamer: {e}");
    }
    let launch = "webrtcbin name=w bundle-policy=max-bundle \
        videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 \
        ! videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast bframes=0 key-int-max=30 \
        ! video/x-h264,profile=constrained-baseline ! rtph264pay config-interval=-1 pt=102 \
        ! application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000 ! w. \
        audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc \
        ! rtpopuspay pt=111 ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000 ! w.";
    let pipeline = gst::parse::launch(launch)
        .unwrap_or_else(|e| panic!("publisher pipeline: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap_or_else(|_| panic!("not a pipeline"));
    let webrtc = pipeline
        .by_name("w")
        .unwrap_or_else(|| panic!("no webrtcbin"));
    {
        let ice: gst::glib::Object = webrtc.property("ice-agent");
        let added: bool = ice.emit_by_name("add-local-ip-address", &[&"127.0.0.1"]);
        assert!(added, "webrtcbin refused 127.0.0.1");
    }
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
        panic!("publisher PLAYING: {e}");
    }
    let offer_sdp = super::webrtcbin::offer(&webrtc, &candidates).await;
    let mut req = reqwest::Client::new()
        .post(whip_url)
        .header("content-type", "application/sdp")
        .body(offer_sdp);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {whip_url}: {e}"));
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.text().await.unwrap_or_default();
    if status == 201 {
        super::webrtcbin::apply_answer(&webrtc, &body);
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    WhipPublisher {
        pipeline,
        status,
        body,
        location,
    }
}
