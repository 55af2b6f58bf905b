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
    pub etag: Option<String>,
    /// The offer sent (without candidates when trickling).
    pub offer: String,
    /// Status of each trickle PATCH.
    pub patches: Vec<u16>,
}

/// How the publisher behaves.
#[derive(Debug, Clone, Copy)]
pub struct Opts {
    /// Offer without candidates, PATCH them after the 201.
    pub trickle: bool,
    /// x264 `key-int-max` (frames between keyframes when nobody asks for one).
    pub key_int: u32,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            trickle: false,
            key_int: 30,
        }
    }
}

impl Drop for WhipPublisher {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Publishes to `whip_url` with `key` (None: no Authorization header). Returns after the
/// POST; on 201 the answer is applied and media flows.
pub async fn publish(whip_url: &str, key: Option<&str>) -> WhipPublisher {
    publish_with(whip_url, key, Opts::default()).await
}

/// [`publish`] with options.
pub async fn publish_with(whip_url: &str, key: Option<&str>, opts: Opts) -> WhipPublisher {
    if let Err(e) = showroom_pipelines::gst_init::init() {
        panic!("GStreamer: {e}");
    }
    let launch = format!("webrtcbin name=w bundle-policy=max-bundle \
        videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 \
        ! videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast bframes=0 key-int-max={} \
        ! video/x-h264,profile=constrained-baseline ! rtph264pay config-interval=-1 pt=102 \
        ! application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000 ! w. \
        audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc \
        ! rtpopuspay pt=111 ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000 ! w.", opts.key_int);
    let pipeline = gst::parse::launch(&launch)
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
    let offer_sdp = if opts.trickle {
        super::webrtcbin::create_offer(&webrtc).await
    } else {
        super::webrtcbin::offer(&webrtc, &candidates).await
    };
    let mut req = reqwest::Client::new()
        .post(whip_url)
        .header("content-type", "application/sdp")
        .body(offer_sdp.clone());
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {whip_url}: {e}"));
    let status = resp.status().as_u16();
    let (location, etag) = (
        super::header(&resp, "location"),
        super::header(&resp, "etag"),
    );
    let body = resp.text().await.unwrap_or_default();
    let mut patches = Vec::new();
    if status == 201 && !opts.trickle {
        super::webrtcbin::apply_answer(&webrtc, &body);
    } else if status == 201 {
        // Without the server's candidates: only trickle can connect (see webrtcbin.rs).
        let answer = super::webrtcbin::without_candidates(&body);
        super::webrtcbin::apply_answer(&webrtc, &answer);
        let base = whip_url.split("/whip/").next().unwrap_or_default();
        let url = format!("{base}{}", location.clone().unwrap_or_default());
        patches = super::webrtcbin::trickle_candidates(
            &webrtc,
            &candidates,
            &offer_sdp,
            &url,
            etag.as_deref(),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    WhipPublisher {
        pipeline,
        status,
        body,
        location,
        etag,
        offer: offer_sdp,
        patches,
    }
}
