//! The SFU: streams' forwarders, viewer sessions, and the webrtc-rs API they share.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use showroom_pipelines::rtp::{self, RtpConfig, RtpSink};
use showroom_pipelines::stream::Stream;
use webrtc::api::API;
use webrtc::peer_connection::RTCPeerConnection;

use crate::config::{IceServer, WebRtcConfig};
use crate::error::SignalingError;
use crate::fanout::Fanout;
use crate::idle::IdleTimer;
use crate::offer::check_offer;
use crate::patch::IceTag;
use crate::simulcast::{Layer, LayerSet, StreamWebRtcInfo, ViewerLayer, ViewerLayerInfo, SOURCE};

#[path = "sfu_ice.rs"]
mod ice;

/// What the SFU needs from the engine's stream registry: a stream by its id, and the
/// renditions it can offer viewers as layers.
pub trait StreamLookup: Send + Sync + 'static {
    fn stream(&self, id: &str) -> Option<Arc<Stream>>;

    /// The stream's renditions, highest bitrate first (the source is layer 0 and is not
    /// listed). Empty: the source only (passthrough).
    fn layers(&self, _id: &str) -> Vec<Layer> {
        Vec::new()
    }
}

/// A WHEP answer: the session id (for the `Location`) and the SDP.
#[derive(Debug, Clone)]
pub struct ViewAnswer {
    pub session: String,
    pub sdp: String,
}

struct Entry {
    stream: Weak<Stream>,
    /// The source's forwarder (layer 0) and the renditions'.
    layers: Arc<LayerSet>,
    /// Viewers between `view()` and their session being registered.
    joining: Arc<AtomicUsize>,
    idle: IdleTimer,
}

/// Counts a join in progress on its stream's entry until dropped.
struct Joining(Arc<AtomicUsize>);

impl Drop for Joining {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct ViewerSession {
    stream_id: String,
    viewer: u64,
    pc: Arc<RTCPeerConnection>,
    layer: Arc<ViewerLayer>,
    layers: Arc<LayerSet>,
    /// RFC 9725 entity tag and the viewer's current ICE ufrag (both change on ICE restart).
    ice: IceTag,
}

struct Inner {
    api: API,
    cfg: WebRtcConfig,
    rtp: RtpConfig,
    streams: Arc<dyn StreamLookup>,
    fanouts: Mutex<HashMap<String, Entry>>,
    sessions: Mutex<HashMap<String, ViewerSession>>,
    next_viewer: AtomicU64,
    mux_addr: Option<SocketAddr>,
}

/// The selective forwarding unit. Cheap to clone.
#[derive(Clone)]
pub struct Sfu(Arc<Inner>);

impl Sfu {
    /// Builds the SFU (binds the UDP mux port when configured).
    pub async fn new(
        cfg: WebRtcConfig,
        rtp: RtpConfig,
        streams: Arc<dyn StreamLookup>,
    ) -> Result<Self, SignalingError> {
        let (api, mux_addr) = crate::api::build(&cfg).await?;
        let idle_stop = Duration::from_millis(cfg.egress_idle_stop_ms);
        let sfu = Self(Arc::new(Inner {
            api,
            cfg,
            rtp,
            streams,
            fanouts: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            next_viewer: AtomicU64::new(1),
            mux_addr,
        }));
        if !idle_stop.is_zero() {
            spawn_reaper(Arc::downgrade(&sfu.0), idle_stop);
        }
        Ok(sfu)
    }

    pub fn ice_servers(&self) -> &[IceServer] {
        &self.0.cfg.ice_servers
    }

    /// The single UDP port every viewer uses, when `udp_mux_port` is configured.
    pub fn udp_mux_addr(&self) -> Option<SocketAddr> {
        self.0.mux_addr
    }

    /// Viewer sessions open now.
    pub fn session_count(&self) -> usize {
        self.0.sessions.lock().len()
    }

    /// Viewer sessions of one stream open now (connecting or connected).
    pub fn viewer_count(&self, stream_id: &str) -> usize {
        self.0
            .sessions
            .lock()
            .values()
            .filter(|s| s.stream_id == stream_id)
            .count()
    }

    /// The forwarder of a stream, if one runs (for stats and tests).
    pub fn fanout(&self, stream_id: &str) -> Option<Arc<Fanout>> {
        self.0
            .fanouts
            .lock()
            .get(stream_id)
            .map(|e| Arc::clone(e.layers.source()))
    }

    /// A stream's layers and the layer of each of its viewers, if its egress runs.
    pub fn webrtc_info(&self, stream_id: &str) -> Option<StreamWebRtcInfo> {
        let layers = Arc::clone(&self.0.fanouts.lock().get(stream_id)?.layers);
        let mut viewers: Vec<ViewerLayerInfo> = self
            .0
            .sessions
            .lock()
            .iter()
            .filter(|(_, s)| s.stream_id == stream_id)
            .map(|(session, s)| {
                let layer = s.layer.current.load(Ordering::Relaxed);
                let wanted = s.layer.wanted.load(Ordering::Relaxed);
                ViewerLayerInfo {
                    session: session.clone(),
                    viewer: s.viewer,
                    layer,
                    layer_name: s.layers.names.get(layer).cloned().unwrap_or_default(),
                    switching_to: (wanted != layer).then_some(wanted),
                    switches: s.layer.switches.load(Ordering::Relaxed),
                }
            })
            .collect();
        viewers.sort_by_key(|v| v.viewer);
        Some(StreamWebRtcInfo {
            layers: layers.info(),
            viewers,
        })
    }

    /// Starts the stream's RTP egress before any viewer asks (the first viewer then starts on
    /// the cached GOP instead of waiting for the next keyframe).
    pub fn warm(&self, stream_id: &str) -> Result<Arc<Fanout>, SignalingError> {
        let stream = self
            .0
            .streams
            .stream(stream_id)
            .ok_or_else(|| SignalingError::UnknownStream(stream_id.to_owned()))?;
        Ok(Arc::clone(self.layers_for(&stream).0.source()))
    }

    /// The stream's forwarders, one per layer (their egress started if needed), and a guard
    /// that keeps the idle reaper off them until the joining viewer's session is registered.
    fn layers_for(&self, stream: &Arc<Stream>) -> (Arc<LayerSet>, Joining) {
        let mut fanouts = self.0.fanouts.lock();
        if let Some(e) = fanouts.get(stream.id()) {
            if e.stream.upgrade().is_some_and(|s| Arc::ptr_eq(&s, stream)) {
                e.joining.fetch_add(1, Ordering::Relaxed);
                return (Arc::clone(&e.layers), Joining(Arc::clone(&e.joining)));
            }
            e.layers.stop();
        }
        let renditions = if self.0.cfg.simulcast {
            self.0.streams.layers(stream.id())
        } else {
            Vec::new()
        };
        let mut set = LayerSet {
            names: vec![SOURCE.to_owned()],
            heights: vec![None],
            nominal_bps: vec![0],
            fanouts: vec![self.start_fanout(stream, 0)],
            buses: vec![Arc::downgrade(stream)],
        };
        for (i, r) in renditions.iter().enumerate() {
            set.names.push(r.name.clone());
            set.heights.push(Some(r.height));
            set.nominal_bps.push(r.bitrate_bps);
            set.fanouts.push(self.start_fanout(&r.stream, i + 1));
            set.buses.push(Arc::downgrade(&r.stream));
        }
        let layers = Arc::new(set);
        let joining = Arc::new(AtomicUsize::new(1));
        fanouts.insert(
            stream.id().to_owned(),
            Entry {
                stream: Arc::downgrade(stream),
                layers: Arc::clone(&layers),
                joining: Arc::clone(&joining),
                idle: IdleTimer::new(Duration::from_millis(self.0.cfg.egress_idle_stop_ms)),
            },
        );
        tracing::info!(stream = stream.id(), layers = ?layers.names, "sfu: RTP egress started");
        (layers, Joining(joining))
    }

    /// A forwarder for `bus` as layer `layer`, its RTP egress running.
    fn start_fanout(&self, bus: &Arc<Stream>, layer: usize) -> Arc<Fanout> {
        let fanout = Arc::new(
            Fanout::new(
                bus.id(),
                self.0.cfg.gop_cache_packets,
                Duration::from_millis(self.0.cfg.keyframe_interval_ms),
            )
            .with_layer(layer),
        );
        let egress = rtp::spawn(
            bus,
            self.0.rtp.clone(),
            Arc::clone(&fanout) as Arc<dyn RtpSink>,
        );
        fanout.set_egress(egress);
        fanout
    }

    /// WHEP: a viewer's SDP offer for `stream_id` in, the answer out.
    pub async fn view(&self, stream_id: &str, offer: &str) -> Result<ViewAnswer, SignalingError> {
        let info = check_offer(offer)?;
        let stream = self
            .0
            .streams
            .stream(stream_id)
            .ok_or_else(|| SignalingError::UnknownStream(stream_id.to_owned()))?;
        if stream.live().is_none() {
            return Err(SignalingError::NotLive(stream_id.to_owned()));
        }
        if self.session_count() >= self.0.cfg.max_viewers {
            return Err(SignalingError::Full);
        }
        let (layers, joining) = self.layers_for(&stream);
        let viewer = self.0.next_viewer.fetch_add(1, Ordering::Relaxed);
        let session = uuid::Uuid::new_v4().simple().to_string();
        let weak = Arc::downgrade(&self.0);
        let gone_session = session.clone();
        let on_gone: crate::viewer::OnGone = Arc::new(move |_| {
            if let Some(inner) = weak.upgrade() {
                if let Some(s) = inner.sessions.lock().remove(&gone_session) {
                    tracing::info!(session = %gone_session, stream = %s.stream_id, "sfu: viewer gone (connection closed or failed)");
                    tokio::spawn(async move {
                        let _ = s.pc.close().await;
                    });
                }
            }
        });
        let start = if self.0.cfg.simulcast {
            self.0.cfg.start_layer.min(layers.len() - 1)
        } else {
            0
        };
        let layer = ViewerLayer::new(start);
        let (pc, sdp) = crate::viewer::open(
            &self.0.api,
            &self.0.cfg,
            crate::viewer::Attach {
                id: viewer,
                layers: Arc::clone(&layers),
                shared: Arc::clone(&layer),
            },
            offer.to_owned(),
            info,
            on_gone,
        )
        .await?;
        self.0.sessions.lock().insert(
            session.clone(),
            ViewerSession {
                stream_id: stream_id.to_owned(),
                viewer,
                pc,
                layer,
                layers,
                ice: IceTag::new(offer),
            },
        );
        drop(joining);
        tracing::info!(stream = stream_id, %session, viewer, "sfu: viewer joined");
        Ok(ViewAnswer { session, sdp })
    }

    /// WHEP `DELETE`: ends a viewer session of `stream_id`.
    pub async fn leave(&self, stream_id: &str, session: &str) -> Result<(), SignalingError> {
        let removed = {
            let mut sessions = self.0.sessions.lock();
            match sessions.get(session) {
                Some(s) if s.stream_id == stream_id => sessions.remove(session),
                _ => None,
            }
        };
        let s = removed.ok_or_else(|| SignalingError::UnknownSession(session.to_owned()))?;
        s.layers.detach_all(s.viewer);
        s.pc.close().await?;
        tracing::info!(stream = stream_id, session, "sfu: viewer left");
        Ok(())
    }
}

/// Stops the RTP egress (and its transcode) of streams nobody has watched for `idle`; the next
/// viewer starts it again.
fn spawn_reaper(inner: Weak<Inner>, idle: Duration) {
    let period = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            let Some(inner) = inner.upgrade() else { break };
            inner.reap(Instant::now());
        }
    });
}

impl Inner {
    fn reap(&self, now: Instant) {
        let mut viewers: HashMap<String, usize> = HashMap::new();
        for s in self.sessions.lock().values() {
            *viewers.entry(s.stream_id.clone()).or_default() += 1;
        }
        let mut fanouts = self.fanouts.lock();
        fanouts.retain(|id, e| {
            let n = viewers.get(id).copied().unwrap_or(0) + e.joining.load(Ordering::Relaxed);
            if e.stream.strong_count() == 0 || e.idle.observe(now, n) {
                e.layers.stop();
                tracing::info!(stream = %id, idle = ?e.idle.after(), "sfu: RTP egress stopped (no viewer)");
                false
            } else {
                true
            }
        });
    }
}
