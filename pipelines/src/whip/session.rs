//! One WHIP publisher: a `webrtcbin` that answers the offer and feeds the bus.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::gst_bus::GraphEnd;
use gst::prelude::*;
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::depay::{force_key_unit, install_pads, keyframes};
use super::sdp::with_candidates;
use super::to_stream::Writer;
use super::{WhipConfig, WhipError};
use crate::stream::Publisher;

/// A running WHIP ingest. Dropping it (or [`WhipSession::stop`]) ends the publish session.
pub struct WhipSession {
    pipeline: gst::Pipeline,
    webrtc: gst::Element,
    writer: Arc<Writer>,
    closed: Arc<Closed>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Default)]
struct Closed {
    flag: AtomicBool,
    notify: Notify,
}

impl Closed {
    fn close(&self, why: &str, stream: &str) {
        if !self.flag.swap(true, Ordering::SeqCst) {
            tracing::info!(stream, why, "whip: session closing");
            self.notify.notify_waiters();
        }
    }
}

impl WhipSession {
    /// Answers `offer` for `publisher`'s stream. Returns the session and the answer SDP, which
    /// carries every gathered candidate (no trickle).
    pub async fn start(
        publisher: Publisher,
        offer: &str,
        cfg: &WhipConfig,
    ) -> Result<(Self, String), WhipError> {
        crate::gst_init::init().map_err(|e| WhipError::Gst(e.to_string()))?;
        let stream = publisher.stream().id().to_owned();
        let sdp = gst_sdp::SDPMessage::parse_buffer(offer.as_bytes())
            .map_err(|e| WhipError::BadSdp(e.to_string()))?;
        let medias: Vec<String> = sdp
            .medias()
            .filter_map(|m| m.media().map(str::to_owned))
            .collect();
        let expect_video = medias.iter().any(|m| m == "video");
        let expect_audio = medias.iter().any(|m| m == "audio");
        let video_sink: Arc<Mutex<Option<gst_app::AppSink>>> = Arc::default();
        let weak_sink = Arc::downgrade(&video_sink);
        let name = stream.clone();
        publisher.on_keyframe_request(Arc::new(move || {
            if let Some(sink) = weak_sink.upgrade() {
                let sent = force_key_unit(&sink);
                tracing::debug!(stream = %name, sent, "whip: keyframe requested from the publisher (PLI)");
            }
        }));
        let writer = Arc::new(Writer::new(publisher, expect_video, expect_audio));
        let closed = Arc::new(Closed::default());

        let pipeline = gst::Pipeline::with_name(&format!("whip-{stream}"));
        let webrtc = gst::ElementFactory::make("webrtcbin")
            .property_from_str("bundle-policy", "max-bundle")
            .build()
            .map_err(|e| WhipError::Gst(format!("webrtcbin: {e}")))?;
        if let Some(stun) = &cfg.stun_server {
            webrtc.set_property("stun-server", stun);
        }
        pipeline.add(&webrtc)?;
        {
            let ice: gst::glib::Object = webrtc.property("ice-agent");
            for addr in &cfg.ice_addresses {
                let ok: bool = ice.emit_by_name("add-local-ip-address", &[addr]);
                if !ok {
                    tracing::warn!(stream, addr, "whip: ICE refused a local address");
                }
            }
        }
        for caps in [
            "application/x-rtp,media=video,encoding-name=H264,clock-rate=90000",
            "application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000",
        ] {
            let caps =
                gst::Caps::from_str(caps).map_err(|e| WhipError::Gst(format!("caps: {e}")))?;
            let _: gst_webrtc::WebRTCRTPTransceiver = webrtc.emit_by_name(
                "add-transceiver",
                &[&gst_webrtc::WebRTCRTPTransceiverDirection::Recvonly, &caps],
            );
        }
        install_pads(
            &pipeline,
            &webrtc,
            &writer,
            &video_sink,
            cfg.aac_bps,
            &stream,
        );
        let candidates: Arc<Mutex<Vec<(u32, String)>>> = Arc::default();
        let c = Arc::clone(&candidates);
        webrtc.connect("on-ice-candidate", false, move |args| {
            let mline = args.get(1).and_then(|v| v.get::<u32>().ok()).unwrap_or(0);
            if let Some(line) = args.get(2).and_then(|v| v.get::<String>().ok()) {
                c.lock().push((mline, line));
            }
            None
        });
        let cl = Arc::clone(&closed);
        let name = stream.clone();
        webrtc.connect_notify(Some("connection-state"), move |w, _| {
            let state: gst_webrtc::WebRTCPeerConnectionState = w.property("connection-state");
            tracing::debug!(stream = %name, ?state, "whip: connection state");
            if matches!(
                state,
                gst_webrtc::WebRTCPeerConnectionState::Failed
                    | gst_webrtc::WebRTCPeerConnectionState::Closed
            ) {
                cl.close("connection failed or closed", &name);
            }
        });
        watch_bus(&pipeline, Arc::clone(&closed), stream.clone())?;
        pipeline.set_state(gst::State::Playing)?;

        let ticker = (!cfg.keyframe_interval.is_zero())
            .then(|| tokio::spawn(keyframes(Arc::clone(&video_sink), cfg.keyframe_interval)));
        let session = Self {
            pipeline,
            webrtc: webrtc.clone(),
            writer,
            closed,
            ticker,
        };
        let offer =
            gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Offer, sdp);
        promise(&webrtc, "set-remote-description", &offer)
            .await
            .map_err(|e| WhipError::Negotiation(format!("set-remote-description: {e}")))?;
        let reply = promise_reply(&webrtc, "create-answer").await?;
        let answer = reply
            .get::<gst_webrtc::WebRTCSessionDescription>("answer")
            .map_err(|_| WhipError::Negotiation(format!("no answer: {}", reply)))?;
        promise(&webrtc, "set-local-description", &answer)
            .await
            .map_err(|e| WhipError::Negotiation(format!("set-local-description: {e}")))?;
        let deadline = tokio::time::Instant::now() + cfg.gather_timeout;
        while tokio::time::Instant::now() < deadline {
            let state: gst_webrtc::WebRTCICEGatheringState = webrtc.property("ice-gathering-state");
            if state == gst_webrtc::WebRTCICEGatheringState::Complete {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let local: gst_webrtc::WebRTCSessionDescription = webrtc.property("local-description");
        let text = local
            .sdp()
            .as_text()
            .map_err(|e| WhipError::Negotiation(format!("answer as text: {e}")))?;
        if !text.contains("H264") {
            return Err(WhipError::Negotiation("the answer has no H.264".into()));
        }
        let sdp = with_candidates(&text, &candidates.lock());
        Ok((session, sdp))
    }

    /// A handle that resolves when the connection failed or closed, the graph stopped, or the
    /// session was dropped. It does not keep the session alive.
    pub fn closed(&self) -> ClosedWatch {
        ClosedWatch(Arc::clone(&self.closed))
    }

    /// Trickle ICE: adds a publisher candidate (`candidate:…`) to m-line `mline`.
    pub fn add_candidate(&self, mline: u32, candidate: &str) {
        let candidate = candidate.strip_prefix("a=").unwrap_or(candidate);
        self.webrtc
            .emit_by_name::<()>("add-ice-candidate", &[&mline, &candidate]);
    }

    /// Ends the publish session now.
    pub fn stop(self) {}
}

/// See [`WhipSession::closed`].
pub struct ClosedWatch(Arc<Closed>);

impl ClosedWatch {
    pub async fn wait(self) {
        loop {
            let notified = self.0.notify.notified();
            if self.0.flag.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for WhipSession {
    fn drop(&mut self) {
        let stream = self.pipeline.name();
        self.closed.close("stopped", stream.as_str());
        if let Some(t) = &self.ticker {
            t.abort();
        }
        self.writer.close();
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// How long one webrtcbin negotiation step may take. Generous: under CPU load webrtcbin's
/// signalling thread can answer late, and a late answer is better than a refused publish.
const NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(15);

async fn promise_reply(webrtc: &gst::Element, signal: &str) -> Result<gst::Structure, WhipError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let p = gst::Promise::with_change_func(move |reply| {
        let _ = tx.send(reply.map(|r| r.map(|s| s.to_owned())));
    });
    webrtc.emit_by_name::<()>(signal, &[&None::<gst::Structure>, &p]);
    match tokio::time::timeout(NEGOTIATION_TIMEOUT, rx).await {
        Ok(Ok(Ok(Some(s)))) => {
            if let Ok(err) = s.get::<gst::glib::Error>("error") {
                return Err(WhipError::Negotiation(format!("{signal}: {err}")));
            }
            Ok(s)
        }
        other => Err(WhipError::Negotiation(format!("{signal}: {other:?}"))),
    }
}

async fn promise(
    webrtc: &gst::Element,
    signal: &str,
    desc: &gst_webrtc::WebRTCSessionDescription,
) -> Result<(), String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let p = gst::Promise::with_change_func(move |reply| {
        let err = match reply {
            Ok(Some(s)) => s
                .get::<gst::glib::Error>("error")
                .ok()
                .map(|e| e.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("{e:?}")),
        };
        let _ = tx.send(err);
    });
    webrtc.emit_by_name::<()>(signal, &[desc, &p]);
    match tokio::time::timeout(NEGOTIATION_TIMEOUT, rx).await {
        Ok(Ok(None)) => Ok(()),
        Ok(Ok(Some(e))) => Err(e),
        _ => Err("no reply".into()),
    }
}

fn watch_bus(
    pipeline: &gst::Pipeline,
    closed: Arc<Closed>,
    stream: String,
) -> Result<(), WhipError> {
    let bus = pipeline
        .bus()
        .ok_or_else(|| WhipError::Gst("pipeline without bus".into()))?;
    tokio::spawn(async move {
        match crate::gst_bus::wait_end(bus, "whip ingest", &stream).await {
            GraphEnd::Eos => closed.close("end of stream", &stream),
            GraphEnd::Error => closed.close("graph error", &stream),
            GraphEnd::Closed => {}
        }
    });
    Ok(())
}
