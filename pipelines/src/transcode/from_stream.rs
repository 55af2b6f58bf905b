//! The transcoder's reader on the source bus: per publish session, one [`Graph`] writing each
//! rendition to its own bus, watched by the real-time [`Watchdog`].

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::{AbrConfig, RenditionSpec};
use super::encoder;
use super::graph::Graph;
use super::plan::plan;
use super::watchdog::Watchdog;
use super::{Ladder, TranscodeStats};
use crate::stream::{Event, Reader, Session, Stream};
use crate::unit::{Codec, TrackKind};

/// How long a finished session may take to flush its renditions.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Starts the transcoder of `source` for `ladder` (needs a tokio runtime). `None` when the
/// ladder is empty: the stream is passthrough only.
pub fn spawn(source: &Arc<Stream>, ladder: &[RenditionSpec], cfg: &AbrConfig) -> Option<Ladder> {
    if ladder.is_empty() {
        return None;
    }
    let renditions: Vec<(RenditionSpec, Arc<Stream>)> = ladder
        .iter()
        .map(|r| {
            (
                r.clone(),
                Stream::new(format!("{}/{}", source.id(), r.name)),
            )
        })
        .collect();
    let stats = Arc::new(TranscodeStats::default());
    let reader = source.subscribe("transcode", cfg.queue_units);
    let task = Task {
        id: source.id().to_string(),
        renditions: renditions.clone(),
        cfg: cfg.clone(),
        stats: Arc::clone(&stats),
        started: Instant::now(),
    };
    tokio::spawn(task.run(reader));
    Some(Ladder { renditions, stats })
}

struct Task {
    id: String,
    renditions: Vec<(RenditionSpec, Arc<Stream>)>,
    cfg: AbrConfig,
    stats: Arc<TranscodeStats>,
    started: Instant,
}

/// One session being transcoded.
struct Live {
    epoch: u64,
    graph: Graph,
    watchdog: Watchdog,
    last_in: Option<Duration>,
    first_in: Option<Duration>,
}

impl Task {
    async fn run(self, mut reader: Reader) {
        let mut live: Option<Live> = None;
        while let Some(event) = reader.recv().await {
            match event {
                Event::Start(session) => {
                    if let Some(old) = live.take() {
                        old.graph.finish(FLUSH_TIMEOUT).await;
                    }
                    live = self.start(&session);
                }
                Event::Unit(unit) if unit.track == TrackKind::Video => {
                    if let Some(l) = live.as_mut() {
                        l.first_in.get_or_insert(unit.pts);
                        l.last_in = Some(l.last_in.map_or(unit.pts, |p| p.max(unit.pts)));
                        l.graph
                            .push(unit.pts, unit.dts, unit.keyframe, unit.payload);
                        self.watch(l);
                    }
                }
                Event::Unit(_) => {}
                Event::End { epoch } => {
                    if live.as_ref().is_some_and(|l| l.epoch == epoch) {
                        if let Some(old) = live.take() {
                            old.graph.finish(FLUSH_TIMEOUT).await;
                        }
                    }
                }
            }
        }
        if let Some(old) = live.take() {
            old.graph.finish(FLUSH_TIMEOUT).await;
        }
        tracing::debug!(stream = %self.id, "abr: transcoder reader ended");
    }

    fn start(&self, session: &Arc<Session>) -> Option<Live> {
        let track = session.track(TrackKind::Video)?;
        if !matches!(track.codec, Codec::H264 { .. }) {
            return None;
        }
        let (Some(w), Some(h)) = (track.width, track.height) else {
            tracing::warn!(stream = %self.id, "abr: source size unknown, session not transcoded");
            return None;
        };
        let specs: Vec<RenditionSpec> = self.renditions.iter().map(|(s, _)| s.clone()).collect();
        let planned = plan(&specs, w, h, track.framerate);
        if planned.is_empty() {
            tracing::info!(stream = %self.id, width = w, height = h, "abr: no rendition below the source, passthrough only");
            return None;
        }
        let encoder = match encoder::choose(self.cfg.encoder) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(stream = %self.id, error = %e, "abr: session not transcoded");
                return None;
            }
        };
        let mut outputs = Vec::with_capacity(planned.len());
        for p in planned {
            let (spec, bus) = &self.renditions[p.index];
            match bus.begin_derived("transcode", session) {
                Ok(publisher) => outputs.push((p, spec.name.clone(), publisher)),
                Err(e) => {
                    tracing::warn!(stream = %self.id, rendition = %spec.name, error = %e, "abr: rendition bus busy, rendition skipped");
                }
            }
        }
        let names: Vec<String> = outputs
            .iter()
            .map(|(p, n, _)| format!("{n}={}x{}", p.width, p.height))
            .collect();
        match Graph::start(&self.id, track, encoder, &self.cfg.x264_preset, outputs) {
            Ok(graph) => {
                self.stats.sessions.fetch_add(1, Ordering::Relaxed);
                tracing::info!(stream = %self.id, epoch = session.epoch, encoder = encoder.factory(), renditions = ?names, "abr: transcoding session");
                Some(Live {
                    epoch: session.epoch,
                    graph,
                    watchdog: Watchdog::new(
                        Duration::from_millis(self.cfg.max_lag_ms),
                        Duration::from_millis(self.cfg.lag_grace_ms),
                    ),
                    last_in: None,
                    first_in: None,
                })
            }
            Err(e) => {
                tracing::error!(stream = %self.id, error = %e, "abr: transcode graph failed to start");
                None
            }
        }
    }

    /// Feeds the watchdog; drops the most expensive running rendition when it says so.
    fn watch(&self, live: &mut Live) {
        let (Some(last_in), Some(first_in)) = (live.last_in, live.first_in) else {
            return;
        };
        let running: Vec<_> = live
            .graph
            .branches
            .iter()
            .filter(|b| !b.is_dropped())
            .collect();
        let worst = running
            .iter()
            .map(|b| last_in.saturating_sub(b.last_out().unwrap_or(first_in)))
            .max();
        if !live.watchdog.observe(self.started.elapsed(), worst) {
            return;
        }
        let Some(victim) = running.iter().max_by_key(|b| b.planned.cost(None)).copied() else {
            return;
        };
        victim.drop_rendition();
        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        let left: Vec<&str> = running
            .iter()
            .filter(|b| !Arc::ptr_eq(b, victim))
            .map(|b| b.name.as_str())
            .collect();
        tracing::warn!(
            stream = %self.id,
            rendition = %victim.name,
            lag_ms = worst.map(|l| l.as_millis() as u64),
            still_running = ?left,
            "abr: the machine cannot transcode the ladder in real time; rendition dropped for this session"
        );
    }
}
