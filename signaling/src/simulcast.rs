//! A stream's layers (the source and its ABR renditions, one forwarder each) and a viewer's
//! path through them: which layer's video it takes, switching on the target's keyframe.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::Mutex;
use serde::Serialize;
use showroom_pipelines::stream::Stream;
use tokio::sync::mpsc;
use webrtc::rtp::packet::Packet;

use crate::fanout::{Fanout, Outgoing};
use crate::layer::LayerStatus;
use crate::splice::Splice;

/// One rendition the SFU offers as a layer (from [`crate::StreamLookup::layers`]).
#[derive(Clone)]
pub struct Layer {
    pub name: String,
    /// Output height in pixels.
    pub height: u32,
    /// Target video bitrate, bit/s.
    pub bitrate_bps: u64,
    pub stream: Arc<Stream>,
}

/// Name of layer 0.
pub const SOURCE: &str = "source";

/// The forwarders of one stream: index 0 is the source, then the renditions (highest first).
pub(crate) struct LayerSet {
    pub names: Vec<String>,
    pub heights: Vec<Option<u32>>,
    /// Nominal bitrates (0 for the source: measured instead).
    pub nominal_bps: Vec<u64>,
    pub fanouts: Vec<Arc<Fanout>>,
    /// Each layer's bus: a layer is live while its bus has a session (its forwarder only once
    /// the first RTP is out).
    pub buses: Vec<Weak<Stream>>,
}

impl LayerSet {
    pub fn source(&self) -> &Arc<Fanout> {
        &self.fanouts[0]
    }

    pub fn len(&self) -> usize {
        self.fanouts.len()
    }

    /// Bitrate (nominal, else measured) and liveness of every layer, for the controller.
    pub fn status(&self) -> Vec<LayerStatus> {
        self.fanouts
            .iter()
            .zip(&self.nominal_bps)
            .zip(&self.buses)
            .map(|((f, &nominal), bus)| LayerStatus {
                bitrate_bps: if nominal > 0 { nominal } else { f.video_bps() },
                live: bus.upgrade().is_some_and(|b| b.live().is_some()),
            })
            .collect()
    }

    pub fn stop(&self) {
        for f in &self.fanouts {
            f.stop();
        }
    }

    pub fn detach_all(&self, viewer: u64) {
        for f in &self.fanouts {
            f.detach(viewer);
        }
    }

    pub fn info(&self) -> Vec<LayerInfo> {
        self.status()
            .into_iter()
            .enumerate()
            .map(|(i, st)| LayerInfo {
                index: i,
                name: self.names[i].clone(),
                height: self.heights[i],
                bitrate_bps: st.bitrate_bps,
                live: st.live,
            })
            .collect()
    }
}

/// One layer of a stream, as reported to operators.
#[derive(Debug, Clone, Serialize)]
pub struct LayerInfo {
    pub index: usize,
    pub name: String,
    pub height: Option<u32>,
    /// Nominal (renditions) or measured (source) video bitrate, bit/s.
    pub bitrate_bps: u64,
    pub live: bool,
}

/// One viewer's layer, as reported to operators and tests.
#[derive(Debug, Clone, Serialize)]
pub struct ViewerLayerInfo {
    pub session: String,
    pub viewer: u64,
    /// Index of the layer whose video the viewer gets now.
    pub layer: usize,
    pub layer_name: String,
    /// The layer it is switching to (at that layer's next keyframe), if any.
    pub switching_to: Option<usize>,
    /// Switches done.
    pub switches: u64,
}

/// The WebRTC view of one stream: its layers and each viewer's.
#[derive(Debug, Clone, Serialize)]
pub struct StreamWebRtcInfo {
    pub layers: Vec<LayerInfo>,
    pub viewers: Vec<ViewerLayerInfo>,
}

/// A viewer's layer state shared by its RTCP task (which decides), its writer (which
/// switches) and the SFU (which reports).
#[derive(Debug)]
pub(crate) struct ViewerLayer {
    pub current: AtomicUsize,
    pub wanted: AtomicUsize,
    pub switches: AtomicU64,
    pub splice: Mutex<Splice>,
}

/// The `layer` of a marker put in a viewer's queue to wake its writer (no packet).
pub(crate) const WAKE: usize = usize::MAX;

/// A marker that makes the viewer's writer act on a new wanted layer even if none of its
/// layers sends anything (e.g. its current layer stopped and the stream has no audio).
pub(crate) fn wake_marker() -> Arc<Outgoing> {
    Arc::new(Outgoing {
        kind: showroom_pipelines::rtp::RtpKind::H264,
        packet: Packet::default(),
        layer: WAKE,
        gop_start: false,
    })
}

impl ViewerLayer {
    pub fn new(start: usize) -> Arc<Self> {
        Arc::new(Self {
            current: AtomicUsize::new(start),
            wanted: AtomicUsize::new(start),
            switches: AtomicU64::new(0),
            splice: Mutex::new(Splice::new()),
        })
    }

    /// The controller wants layer `layer`: the writer attaches to it (at its next packet, or
    /// at `wake`, a [`wake_marker`] for its queue) and switches at the layer's next keyframe.
    pub fn want(&self, layer: usize, wake: &mpsc::Sender<Arc<Outgoing>>, marker: &Arc<Outgoing>) {
        self.wanted.store(layer, Ordering::Relaxed);
        let _ = wake.try_send(Arc::clone(marker));
    }
}

/// The writer side of a viewer's video: attaches and detaches it to layers' forwarders and
/// rewrites packets into one continuous RTP stream.
pub(crate) struct VideoPath {
    id: u64,
    layers: Arc<LayerSet>,
    tx: mpsc::Sender<Arc<Outgoing>>,
    shared: Arc<ViewerLayer>,
    current: usize,
    target: usize,
}

impl VideoPath {
    /// Attaches viewer `id` on layer `start` (audio always from the source) and returns the
    /// cached GOP to send first.
    pub fn attach(
        id: u64,
        layers: Arc<LayerSet>,
        start: usize,
        tx: mpsc::Sender<Arc<Outgoing>>,
        shared: Arc<ViewerLayer>,
    ) -> (Self, Vec<Arc<Outgoing>>) {
        let start = start.min(layers.len() - 1);
        let mut gop = layers.source().attach(id, tx.clone());
        if start != 0 {
            layers.source().set_video(id, false);
            gop = layers.fanouts[start].attach(id, tx.clone());
        }
        shared.current.store(start, Ordering::Relaxed);
        shared.wanted.store(start, Ordering::Relaxed);
        let path = Self {
            id,
            layers,
            tx,
            shared,
            current: start,
            target: start,
        };
        (path, gop)
    }

    fn subscribe(&self, layer: usize) {
        if layer == 0 {
            self.layers.source().set_video(self.id, true);
        } else {
            // The cached GOP is old by now: the switch waits for the next keyframe instead.
            let _ = self.layers.fanouts[layer].attach(self.id, self.tx.clone());
        }
    }

    fn unsubscribe(&self, layer: usize) {
        if layer == 0 {
            self.layers.source().set_video(self.id, false);
        } else {
            self.layers.fanouts[layer].detach(self.id);
        }
    }

    /// Attaches to the layer the controller wants (and off a target no longer wanted).
    pub fn retarget(&mut self) {
        let wanted = self.shared.wanted.load(Ordering::Relaxed);
        if wanted != self.target && wanted < self.layers.len() {
            if self.target != self.current {
                self.unsubscribe(self.target);
            }
            self.target = wanted;
            if wanted != self.current {
                self.subscribe(wanted);
            }
        }
    }

    /// A video packet from one of the viewer's forwarders at `now`: the packet to send (its
    /// sequence number and timestamp rewritten), or `None` to drop it.
    pub fn video(&mut self, now: Instant, p: &Outgoing) -> Option<Packet> {
        if self.shared.wanted.load(Ordering::Relaxed) != self.target {
            self.retarget();
        }
        if p.layer == self.target && self.target != self.current {
            if !p.gop_start {
                return None;
            }
            let from = self.current;
            self.unsubscribe(from);
            self.current = p.layer;
            self.shared.current.store(p.layer, Ordering::Relaxed);
            self.shared.switches.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                viewer = self.id,
                from = %self.layers.names[from],
                to = %self.layers.names[p.layer],
                "sfu: viewer switched layer on a keyframe"
            );
        } else if p.layer != self.current {
            return None;
        }
        let (seq, ts) = self.shared.splice.lock().map(
            now,
            p.layer,
            p.packet.header.sequence_number,
            p.packet.header.timestamp,
        );
        let mut out = p.packet.clone();
        out.header.sequence_number = seq;
        out.header.timestamp = ts;
        Some(out)
    }
}

#[cfg(test)]
#[path = "simulcast_tests.rs"]
mod tests;

/// A NACKed outgoing sequence number → the packet to send again, rewritten as first sent.
pub(crate) fn retransmit(layers: &LayerSet, shared: &ViewerLayer, seq: u16) -> Option<Packet> {
    let (layer, layer_seq, ts_shift) = shared.splice.lock().nack(seq)?;
    let found = layers.fanouts.get(layer)?.retransmit(layer_seq)?;
    let mut out = found.packet.clone();
    out.header.sequence_number = seq;
    out.header.timestamp = out.header.timestamp.wrapping_add(ts_shift);
    Some(out)
}
