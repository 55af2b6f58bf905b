//! One stream's forwarder: RTP from the pipelines' egress to every viewer's bounded queue.
//!
//! Packets are parsed once per stream and shared (`Arc`) by all viewers. A full viewer queue
//! drops that viewer's packet (counted); the others are not slowed. The last GOP of video is
//! kept so a viewer that joins starts on a keyframe at once. Sequence numbers and timestamps are
//! made continuous across publish sessions, so a publisher's reconnect is no jump for viewers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use showroom_pipelines::rtp::{RtpEgress, RtpKind, RtpPacket, RtpSink, VideoMode};
use tokio::sync::mpsc;
use webrtc::rtp::packet::Packet;
use webrtc::util::Unmarshal;

use crate::keyframe::KeyframeGate;

/// A packet on its way to viewers (parsed once, shared).
#[derive(Debug)]
pub struct Outgoing {
    pub kind: RtpKind,
    pub packet: Packet,
    /// The layer of the forwarder that made it (0 = source, see [`Fanout::with_layer`]).
    pub layer: usize,
    /// First packet of an access unit that starts with SPS (a decoder can start here).
    pub gop_start: bool,
}

/// Counters of one stream's forwarder.
#[derive(Debug, Default)]
pub struct FanoutStats {
    pub packets_in: AtomicU64,
    pub packets_forwarded: AtomicU64,
    pub packets_dropped: AtomicU64,
    pub malformed: AtomicU64,
    pub keyframes_requested: AtomicU64,
    /// Video packets re-sent from the retransmission cache on NACK.
    pub retransmitted: AtomicU64,
    /// NACKed packets no longer in the cache.
    pub retransmit_missed: AtomicU64,
}

/// Video packets kept for NACK, indexed by sequence number modulo the size.
const RETRANSMIT_SLOTS: usize = 1024;

#[derive(Default)]
struct Continuity {
    last: Option<(u16, u32)>,
    seq_off: u16,
    ts_off: u32,
    resync: bool,
}

impl Continuity {
    fn rewrite(&mut self, p: &mut Packet, step: u32) {
        if self.resync {
            self.resync = false;
            if let Some((seq, ts)) = self.last {
                self.seq_off = seq.wrapping_add(1).wrapping_sub(p.header.sequence_number);
                self.ts_off = ts.wrapping_add(step).wrapping_sub(p.header.timestamp);
            }
        }
        p.header.sequence_number = p.header.sequence_number.wrapping_add(self.seq_off);
        p.header.timestamp = p.header.timestamp.wrapping_add(self.ts_off);
        self.last = Some((p.header.sequence_number, p.header.timestamp));
    }
}

struct Slot {
    id: u64,
    tx: mpsc::Sender<Arc<Outgoing>>,
    /// Whether this viewer takes the video (a viewer on another layer takes only the audio).
    video: bool,
}

/// Video bytes counted over windows of this length for [`Fanout::video_bps`].
const RATE_WINDOW: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Rate {
    since: Option<Instant>,
    bytes: u64,
    bps: u64,
}

#[derive(Default)]
struct Inner {
    viewers: Vec<Slot>,
    gop: Vec<Arc<Outgoing>>,
    caching: bool,
    live: Option<u64>,
    video_mode: Option<VideoMode>,
    video: Continuity,
    audio: Continuity,
    /// The per-stream retransmission cache (video), shared by every viewer.
    retransmit: Vec<Option<Arc<Outgoing>>>,
    rate: Rate,
}

/// The forwarder of one stream.
pub struct Fanout {
    stream_id: String,
    layer: usize,
    gop_limit: usize,
    inner: Mutex<Inner>,
    gate: Mutex<KeyframeGate>,
    egress: Mutex<Option<RtpEgress>>,
    pub stats: FanoutStats,
}

impl Fanout {
    pub fn new(stream_id: &str, gop_limit: usize, keyframe_interval: Duration) -> Self {
        Self {
            stream_id: stream_id.to_owned(),
            layer: 0,
            gop_limit,
            inner: Mutex::new(Inner {
                retransmit: vec![None; RETRANSMIT_SLOTS],
                ..Inner::default()
            }),
            gate: Mutex::new(KeyframeGate::new(keyframe_interval)),
            egress: Mutex::new(None),
            stats: FanoutStats::default(),
        }
    }

    /// Marks the packets of this forwarder as layer `layer` (a stream's rendition).
    pub fn with_layer(mut self, layer: usize) -> Self {
        self.layer = layer;
        self
    }

    pub fn layer(&self) -> usize {
        self.layer
    }

    /// The video bitrate over the last complete window of 2 s (0 before one).
    pub fn video_bps(&self) -> u64 {
        self.inner.lock().rate.bps
    }

    pub fn set_egress(&self, egress: RtpEgress) {
        *self.egress.lock() = Some(egress);
    }

    /// Stops the egress (its reader and graphs); viewers get nothing more.
    pub fn stop(&self) {
        self.egress.lock().take();
    }

    pub fn is_live(&self) -> bool {
        self.inner.lock().live.is_some()
    }

    pub fn video_mode(&self) -> Option<VideoMode> {
        self.inner.lock().video_mode
    }

    pub fn viewer_count(&self) -> usize {
        self.inner.lock().viewers.len()
    }

    /// Adds a viewer queue and returns the cached GOP it must send first. Atomic with the
    /// packet flow: the first live packet the queue gets follows the GOP's last one.
    pub fn attach(&self, id: u64, tx: mpsc::Sender<Arc<Outgoing>>) -> Vec<Arc<Outgoing>> {
        let mut inner = self.inner.lock();
        inner.viewers.push(Slot {
            id,
            tx,
            video: true,
        });
        inner.gop.clone()
    }

    /// Whether viewer `id` takes this forwarder's video (it keeps the audio either way).
    pub fn set_video(&self, id: u64, on: bool) {
        if let Some(s) = self.inner.lock().viewers.iter_mut().find(|s| s.id == id) {
            s.video = on;
        }
    }

    pub fn detach(&self, id: u64) {
        self.inner.lock().viewers.retain(|s| s.id != id);
    }

    /// A video packet by its (outgoing) sequence number, for a viewer's NACK.
    pub fn retransmit(&self, seq: u16) -> Option<Arc<Outgoing>> {
        let inner = self.inner.lock();
        let found = inner
            .retransmit
            .get(usize::from(seq) % RETRANSMIT_SLOTS)
            .and_then(|s| s.as_ref())
            .filter(|p| p.packet.header.sequence_number == seq)
            .map(Arc::clone);
        let counter = if found.is_some() {
            &self.stats.retransmitted
        } else {
            &self.stats.retransmit_missed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// A viewer sent PLI/FIR, or joined with no GOP cached, at `now`; at most one request per
    /// interval goes upstream (the transcode's encoder, or a WHIP publisher as RTCP PLI).
    pub fn keyframe_wanted(&self, now: Instant) {
        if self.gate.lock().request(now) {
            self.stats
                .keyframes_requested
                .fetch_add(1, Ordering::Relaxed);
            if let Some(e) = self.egress.lock().as_ref() {
                let to = e.request_keyframe();
                tracing::debug!(stream = %self.stream_id, ?to, "sfu: keyframe requested");
            }
        }
    }
}

impl RtpSink for Fanout {
    fn session_started(&self, epoch: u64, video: Option<VideoMode>, audio: bool) {
        let mut inner = self.inner.lock();
        inner.live = Some(epoch);
        inner.video_mode = video;
        inner.gop.clear();
        inner.caching = false;
        inner.video.resync = true;
        inner.audio.resync = true;
        tracing::info!(stream = %self.stream_id, epoch, ?video, audio, "sfu: stream live");
    }

    fn packet(&self, packet: RtpPacket) {
        self.stats.packets_in.fetch_add(1, Ordering::Relaxed);
        let mut data = packet.data;
        let mut parsed = match Packet::unmarshal(&mut data) {
            Ok(p) => p,
            Err(e) => {
                self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(stream = %self.stream_id, error = %e, "sfu: malformed RTP from the egress dropped");
                return;
            }
        };
        let mut inner = self.inner.lock();
        match packet.kind {
            RtpKind::H264 => inner.video.rewrite(&mut parsed, 3000),
            RtpKind::Opus => inner.audio.rewrite(&mut parsed, 960),
        }
        let out = Arc::new(Outgoing {
            kind: packet.kind,
            packet: parsed,
            layer: self.layer,
            gop_start: packet.gop_start,
        });
        let is_video = packet.kind == RtpKind::H264;
        if is_video {
            let now = Instant::now();
            let r = &mut inner.rate;
            r.bytes += out.packet.payload.len() as u64 + 12;
            match r.since {
                Some(t) if now.saturating_duration_since(t) >= RATE_WINDOW => {
                    let us = now.saturating_duration_since(t).as_micros().max(1) as u64;
                    r.bps = r.bytes.saturating_mul(8_000_000) / us;
                    r.bytes = 0;
                    r.since = Some(now);
                }
                Some(_) => {}
                None => r.since = Some(now),
            }
            let slot = usize::from(out.packet.header.sequence_number) % RETRANSMIT_SLOTS;
            if let Some(s) = inner.retransmit.get_mut(slot) {
                *s = Some(Arc::clone(&out));
            }
            if packet.gop_start {
                inner.gop.clear();
                inner.caching = true;
            }
            if inner.caching {
                if inner.gop.len() < self.gop_limit {
                    inner.gop.push(Arc::clone(&out));
                } else {
                    inner.gop.clear();
                    inner.caching = false;
                    tracing::warn!(stream = %self.stream_id, limit = self.gop_limit, "sfu: GOP longer than the cache, new viewers wait for the next keyframe");
                }
            }
        }
        let mut forwarded = 0;
        let mut dropped = 0;
        inner.viewers.retain(|slot| {
            if is_video && !slot.video {
                return !slot.tx.is_closed();
            }
            match slot.tx.try_send(Arc::clone(&out)) {
                Ok(()) => {
                    forwarded += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    dropped += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        drop(inner);
        self.stats
            .packets_forwarded
            .fetch_add(forwarded, Ordering::Relaxed);
        if dropped > 0 {
            let total = self
                .stats
                .packets_dropped
                .fetch_add(dropped, Ordering::Relaxed)
                + dropped;
            if total.is_power_of_two() {
                tracing::warn!(stream = %self.stream_id, total, "sfu: slow viewers, packets dropped");
            }
        }
    }

    fn session_ended(&self, epoch: u64) {
        let mut inner = self.inner.lock();
        if inner.live == Some(epoch) {
            inner.live = None;
            inner.gop.clear();
            inner.caching = false;
        }
        tracing::info!(stream = %self.stream_id, epoch, "sfu: stream no longer live");
    }
}

#[cfg(test)]
#[path = "fanout_tests.rs"]
pub(crate) mod tests;
