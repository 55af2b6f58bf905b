//! One viewer: a webrtc-rs peer connection with an H.264 (and Opus) track, a bounded queue fed
//! by the stream's [`Fanout`], and a task writing the queue out.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use parking_lot::Mutex;
use tokio::sync::mpsc;
use webrtc::api::API;
use webrtc::ice_transport::ice_server::RTCIceServer;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use webrtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use webrtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use webrtc::rtp_transceiver::rtp_sender::RTCRtpSender;
use webrtc::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;
use webrtc::track::track_local::{TrackLocal, TrackLocalWriter};

use crate::api::{h264_capability, opus_capability};
use crate::config::WebRtcConfig;
use crate::error::SignalingError;
use crate::fanout::Outgoing;
use crate::layer::LayerController;
use crate::offer::OfferInfo;
use crate::simulcast::{LayerSet, VideoPath, ViewerLayer, WAKE};
use showroom_pipelines::rtp::RtpKind;
use webrtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use webrtc::rtcp::receiver_report::ReceiverReport;
use webrtc::rtp::extension::abs_send_time_extension::AbsSendTimeExtension;
use webrtc::rtp::extension::HeaderExtension;

/// Longest wait for server candidates before the answer goes out.
const GATHER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Called once when a viewer's connection failed or closed (with the viewer id).
pub(crate) type OnGone = Arc<dyn Fn(u64) + Send + Sync>;

/// What a viewer is attached to: its stream's layers and its own layer state.
pub(crate) struct Attach {
    pub id: u64,
    pub layers: Arc<LayerSet>,
    pub shared: Arc<ViewerLayer>,
}

/// Creates the peer connection, answers `offer` (all candidates in the answer) and arranges
/// for the viewer to be attached to its start layer once connected.
pub(crate) async fn open(
    api: &API,
    cfg: &WebRtcConfig,
    at: Attach,
    offer: String,
    info: OfferInfo,
    on_gone: OnGone,
) -> Result<(Arc<RTCPeerConnection>, String), SignalingError> {
    let pc = Arc::new(
        api.new_peer_connection(RTCConfiguration {
            ice_servers: cfg
                .ice_servers
                .iter()
                .map(|s| RTCIceServer {
                    urls: s.urls.clone(),
                    username: s.username.clone().unwrap_or_default(),
                    credential: s.credential.clone().unwrap_or_default(),
                })
                .collect(),
            ..Default::default()
        })
        .await?,
    );
    match answer(&pc, cfg, at, offer, info, on_gone).await {
        Ok(sdp) => Ok((pc, sdp)),
        Err(e) => {
            let _ = pc.close().await;
            Err(e)
        }
    }
}

async fn answer(
    pc: &Arc<RTCPeerConnection>,
    cfg: &WebRtcConfig,
    at: Attach,
    offer: String,
    info: OfferInfo,
    on_gone: OnGone,
) -> Result<String, SignalingError> {
    let video = Arc::new(TrackLocalStaticRTP::new(
        h264_capability(),
        "video".into(),
        "showroom".into(),
    ));
    let sender = pc
        .add_track(Arc::clone(&video) as Arc<dyn TrackLocal + Send + Sync>)
        .await?;
    let Attach { id, layers, shared } = at;
    let start = shared.current.load(std::sync::atomic::Ordering::Relaxed);
    let controller = LayerController::new(cfg.layers.clone(), start, Instant::now());
    let (tx, rx) = mpsc::channel::<Arc<Outgoing>>(cfg.viewer_queue.max(16));
    spawn_rtcp(
        sender,
        Rtcp {
            id,
            layers: Arc::downgrade(&layers),
            shared: Arc::clone(&shared),
            controller: cfg.simulcast.then_some(controller),
            wake: tx.clone(),
            marker: crate::simulcast::wake_marker(),
        },
        Arc::clone(&video),
    );
    let audio = if info.opus {
        let track = Arc::new(TrackLocalStaticRTP::new(
            opus_capability(),
            "audio".into(),
            "showroom".into(),
        ));
        let sender = pc
            .add_track(Arc::clone(&track) as Arc<dyn TrackLocal + Send + Sync>)
            .await?;
        // RTCP must be read for the interceptors to run; audio feedback needs nothing else.
        tokio::spawn(async move { while sender.read_rtcp().await.is_ok() {} });
        Some(track)
    } else {
        None
    };

    let pending = Mutex::new(Some((tx, rx, video, audio)));
    let weak_layers = Arc::downgrade(&layers);
    let gone_once = Mutex::new(Some(on_gone));
    pc.on_peer_connection_state_change(Box::new(move |state| {
        tracing::debug!(viewer = id, %state, "sfu: viewer connection state");
        match state {
            RTCPeerConnectionState::Connected => {
                if let (Some((tx, rx, video, audio)), Some(layers)) =
                    (pending.lock().take(), weak_layers.upgrade())
                {
                    let (path, gop) =
                        VideoPath::attach(id, Arc::clone(&layers), start, tx, Arc::clone(&shared));
                    if gop.is_empty() {
                        // Nothing cached to start on: ask upstream (WHIP publisher's PLI, or
                        // the transcode) instead of waiting for the next periodic keyframe.
                        layers.source().keyframe_wanted(Instant::now());
                    }
                    tracing::info!(
                        viewer = id,
                        gop_packets = gop.len(),
                        layer = %layers.names[start],
                        "sfu: viewer connected"
                    );
                    tokio::spawn(write(gop, rx, path, video, audio));
                }
            }
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                pending.lock().take();
                if let Some(l) = weak_layers.upgrade() {
                    l.detach_all(id);
                }
                if let Some(gone) = gone_once.lock().take() {
                    gone(id);
                }
            }
            _ => {}
        }
        Box::pin(async {})
    }));

    renegotiate(pc, offer).await
}

/// Applies a (new) remote offer and returns the full answer once gathering completed. The
/// first offer of a session, or an ICE restart (new `ice-ufrag`/`ice-pwd`: webrtc-rs restarts
/// its agent and gathers again in `set_remote_description`).
pub(crate) async fn renegotiate(
    pc: &RTCPeerConnection,
    offer: String,
) -> Result<String, SignalingError> {
    let offer =
        RTCSessionDescription::offer(offer).map_err(|e| SignalingError::BadSdp(e.to_string()))?;
    pc.set_remote_description(offer)
        .await
        .map_err(|e| SignalingError::BadSdp(e.to_string()))?;
    let answer = pc
        .create_answer(None)
        .await
        .map_err(|e| SignalingError::NoCodec(e.to_string()))?;
    let mut gathered = pc.gathering_complete_promise().await;
    pc.set_local_description(answer).await?;
    if tokio::time::timeout(GATHER_TIMEOUT, gathered.recv())
        .await
        .is_err()
    {
        tracing::warn!("sfu: ICE gathering not complete after {GATHER_TIMEOUT:?}, answering with what was found");
    }
    let local = pc
        .local_description()
        .await
        .ok_or(SignalingError::Unsupported(
            "no local description after gathering",
        ))?;
    Ok(local.sdp)
}

/// The state of a viewer's video RTCP reader.
struct Rtcp {
    id: u64,
    layers: std::sync::Weak<LayerSet>,
    shared: Arc<ViewerLayer>,
    /// `None` when simulcast is off: the viewer stays on the source.
    controller: Option<LayerController>,
    /// The viewer's queue, to wake its writer after a decision.
    wake: mpsc::Sender<Arc<Outgoing>>,
    marker: Arc<Outgoing>,
}

/// Reads the viewer's video RTCP: PLI/FIR → a (coalesced) keyframe request; NACK → the lost
/// packets re-sent from the layer's retransmission cache; receiver reports and REMB → the
/// layer controller, whose decisions the writer carries out at the target's next keyframe.
fn spawn_rtcp(sender: Arc<RTCRtpSender>, mut st: Rtcp, video: Arc<TrackLocalStaticRTP>) {
    tokio::spawn(async move {
        let ssrc = sender
            .get_parameters()
            .await
            .encodings
            .first()
            .map(|e| e.ssrc);
        while let Ok((packets, _)) = sender.read_rtcp().await {
            let Some(layers) = st.layers.upgrade() else {
                break;
            };
            let now = Instant::now();
            let mut wants_key = false;
            for p in &packets {
                let any = p.as_any();
                if any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() {
                    wants_key = true;
                } else if let Some(nack) = any.downcast_ref::<TransportLayerNack>() {
                    for pair in &nack.nacks {
                        for seq in pair.packet_list() {
                            if let Some(out) =
                                crate::simulcast::retransmit(&layers, &st.shared, seq)
                            {
                                let _ = send_video(&video, &out).await;
                            }
                        }
                    }
                } else if let Some(c) = st.controller.as_mut() {
                    if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                        for r in &rr.reports {
                            if ssrc.is_none_or(|s| s == r.ssrc) {
                                tracing::debug!(
                                    viewer = st.id,
                                    fraction_lost = r.fraction_lost,
                                    "sfu: receiver report"
                                );
                                c.on_loss(now, r.fraction_lost);
                            }
                        }
                    } else if let Some(remb) = any.downcast_ref::<ReceiverEstimatedMaximumBitrate>()
                    {
                        tracing::debug!(viewer = st.id, bps = remb.bitrate, "sfu: REMB");
                        c.on_remb(now, remb.bitrate.max(0.0) as u64);
                    }
                }
            }
            if wants_key {
                // Renditions put keyframes where the source has them: ask the source.
                layers.source().keyframe_wanted(now);
            }
            if let Some(c) = st.controller.as_mut() {
                if let Some(d) = c.poll(now, &layers.status()) {
                    st.shared.want(d.to, &st.wake, &st.marker);
                    tracing::info!(
                        viewer = st.id,
                        from = %layers.names[d.from],
                        to = %layers.names[d.to],
                        reason = %d.reason,
                        "sfu: viewer layer switch (at the next keyframe)"
                    );
                    // A WHIP publisher answers with a keyframe (and the renditions with it).
                    layers.source().keyframe_wanted(now);
                }
            }
        }
    });
}

/// Writes one video packet stamped with its send time (`abs-send-time`, when negotiated).
async fn send_video(
    video: &TrackLocalStaticRTP,
    packet: &webrtc::rtp::packet::Packet,
) -> webrtc::error::Result<usize> {
    let sent = HeaderExtension::AbsSendTime(AbsSendTimeExtension::new(SystemTime::now()));
    video.write_rtp_with_extensions(packet, &[sent]).await
}

async fn write(
    gop: Vec<Arc<Outgoing>>,
    mut rx: mpsc::Receiver<Arc<Outgoing>>,
    mut path: VideoPath,
    video: Arc<TrackLocalStaticRTP>,
    audio: Option<Arc<TrackLocalStaticRTP>>,
) {
    let now = Instant::now();
    for p in gop {
        if let Some(out) = path.video(now, &p) {
            let _ = send_video(&video, &out).await;
        }
    }
    while let Some(p) = rx.recv().await {
        if p.layer == WAKE {
            path.retarget();
            continue;
        }
        let result = match p.kind {
            RtpKind::H264 => match path.video(Instant::now(), &p) {
                Some(out) => send_video(&video, &out).await,
                None => continue,
            },
            RtpKind::Opus => match &audio {
                Some(a) => a.write_rtp(&p.packet).await,
                None => continue,
            },
        };
        if let Err(e) = result {
            tracing::trace!(error = %e, "sfu: write to viewer failed");
        }
    }
}
