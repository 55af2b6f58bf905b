//! `GET /metrics` (Prometheus text format) and `GET /healthz`.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::AppState;
use crate::registry::Entry;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let entries = state.registry.list();
    let mut out = String::with_capacity(1024 + entries.len() * 256);
    let live = entries.iter().filter(|e| e.bus.live().is_some()).count();
    gauge(
        &mut out,
        "showroom_streams",
        "Registered streams.",
        entries.len() as u64,
    );
    gauge(
        &mut out,
        "showroom_streams_live",
        "Streams with a publisher sending media.",
        live as u64,
    );

    per_stream(
        &mut out,
        &entries,
        "showroom_ingest_bytes_total",
        "Media bytes received per stream.",
        |e| e.bus.stats.bytes_in.load(Ordering::Relaxed),
    );
    per_stream(
        &mut out,
        &entries,
        "showroom_ingest_units_total",
        "Access units received per stream.",
        |e| e.bus.stats.units_in.load(Ordering::Relaxed),
    );
    let abr = |e: &Entry, f: fn(&showroom_pipelines::transcode::TranscodeStats) -> u64| {
        e.ladder.as_ref().map_or(0, |l| f(&l.stats))
    };
    per_stream(
        &mut out,
        &entries,
        "showroom_abr_sessions_total",
        "Publish sessions transcoded into the ABR ladder, per stream.",
        |e| abr(e, |s| s.sessions.load(Ordering::Relaxed)),
    );
    per_stream(
        &mut out,
        &entries,
        "showroom_abr_renditions_dropped_total",
        "ABR renditions dropped because the machine could not transcode in real time.",
        |e| abr(e, |s| s.dropped.load(Ordering::Relaxed)),
    );
    let hls: Vec<_> = entries
        .iter()
        .map(|e| (&e.record.id, e.origin.stats()))
        .collect();
    let sum = |f: fn(&showroom_pipelines::llhls::OriginStats) -> u64| -> u64 {
        hls.iter().map(|(_, s)| f(s)).sum()
    };
    counter(
        &mut out,
        "showroom_hls_parts_total",
        "LL-HLS parts produced.",
        sum(|s| s.parts_produced),
    );
    counter(
        &mut out,
        "showroom_hls_segments_total",
        "LL-HLS segments completed.",
        sum(|s| s.segments),
    );
    counter(
        &mut out,
        "showroom_hls_requests_total",
        "LL-HLS requests answered or held.",
        sum(|s| s.requests),
    );
    gauge(
        &mut out,
        "showroom_hls_held_requests",
        "Blocking LL-HLS requests held right now.",
        sum(|s| s.held_now.max(0) as u64),
    );
    for extra in state.extra_metrics.iter() {
        extra(&mut out);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// One counter with a `stream` label per registered stream.
fn per_stream(
    out: &mut String,
    entries: &[std::sync::Arc<Entry>],
    name: &str,
    help: &str,
    value: impl Fn(&Entry) -> u64,
) {
    header_line(out, name, "counter", help);
    for e in entries {
        let _ = writeln!(out, "{name}{{stream=\"{}\"}} {}", e.record.id, value(e));
    }
}

/// Writes `# HELP` and `# TYPE` lines.
pub fn header_line(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

pub fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    header_line(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

pub fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header_line(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}
