//! The streams API: `/api/v1/streams` (admin only).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use showroom_pipelines::stream::Track;
use showroom_pipelines::unit::TrackKind;

use super::auth::{require_staff, Admin};
use super::error::ApiError;
use super::AppState;
use crate::registry::Entry;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/streams", get(list).post(create))
        .route("/api/v1/streams/{id}", get(show).delete(remove))
        .route("/api/v1/streams/{id}/info", get(info))
        .route("/api/v1/streams/{id}/end", post(end))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateStream {
    title: String,
}

/// A stream as the API shows it.
#[derive(Serialize)]
pub struct StreamView {
    pub id: String,
    pub title: String,
    pub stream_key: String,
    /// `idle` or `live`.
    pub state: &'static str,
    pub created_at: String,
    /// OBS "Server".
    pub rtmp_url: String,
    /// Server and key in one URL, for ffmpeg.
    pub rtmp_publish_url: String,
    pub whip_url: String,
    pub hls_url: String,
    pub whep_url: String,
    pub ingest: Option<IngestView>,
}

#[derive(Serialize)]
pub struct IngestView {
    pub protocol: &'static str,
    pub remote: String,
    pub started_at: String,
    pub bitrate_kbps: u64,
    pub video: Option<TrackView>,
    pub audio: Option<TrackView>,
}

#[derive(Serialize)]
pub struct TrackView {
    pub codec: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
}

async fn create(
    _: Admin,
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<CreateStream>,
) -> Result<(StatusCode, Json<StreamView>), ApiError> {
    let title = body.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(ApiError::BadRequest(
            "title must be 1 to 200 characters".into(),
        ));
    }
    let entry = state.registry.create(title.to_owned()).await?;
    tracing::info!(stream = %entry.record.id, title, "stream created");
    Ok((StatusCode::CREATED, Json(view(&state, &headers, &entry))))
}

async fn list(
    _: Admin,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Json<Vec<StreamView>> {
    let all = state.registry.list();
    Json(all.iter().map(|e| view(&state, &headers, e)).collect())
}

async fn show(
    _: Admin,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<StreamView>, ApiError> {
    let entry = state.find(&id).await?;
    Ok(Json(view(&state, &headers, &entry)))
}

async fn remove(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.registry.delete(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("stream"))
    }
}

/// What anyone may know of a stream (no stream key): for the viewer and studio pages.
#[derive(Serialize)]
pub struct PublicView {
    pub id: String,
    pub title: String,
    pub state: &'static str,
    /// OBS "Server" (the key is not included).
    pub rtmp_url: String,
    pub hls_url: String,
    pub whep_url: String,
    pub whip_url: String,
    pub started_at: Option<String>,
    /// People playing the video now (WebRTC + LL-HLS players, over every engine process;
    /// refreshed every 2 s).
    pub viewers: u64,
    /// The same, by transport, plus open `/ws` connections (pages with live updates).
    pub audience: showroom_commerce::Viewers,
}

async fn info(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<PublicView>, ApiError> {
    let entry = state.find(&id).await?;
    let v = view(&state, &headers, &entry);
    let audience = state.shop.viewers(&id);
    Ok(Json(PublicView {
        id: v.id,
        title: v.title,
        state: v.state,
        rtmp_url: v.rtmp_url,
        hls_url: v.hls_url,
        whep_url: v.whep_url,
        whip_url: v.whip_url,
        started_at: v.ingest.map(|i| i.started_at),
        viewers: audience.viewers,
        audience,
    }))
}

/// Ends the live publish session (the encoder is disconnected; the stream stays and can go
/// live again). Admin key, or a host/moderator token of this stream.
async fn end(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let entry = state.find(&id).await?;
    require_staff(&headers, &state, &id)?;
    let ended = entry.bus.end_session();
    tracing::info!(stream = %id, ended, "end stream requested");
    Ok(Json(serde_json::json!({ "id": id, "ended": ended })))
}

fn view(state: &AppState, headers: &HeaderMap, entry: &Entry) -> StreamView {
    let base = state.base_url(headers);
    let host = base
        .split("://")
        .nth(1)
        .unwrap_or(&base)
        .split([':', '/'])
        .next()
        .unwrap_or("localhost")
        .to_owned();
    let id = &entry.record.id;
    let rtmp_url = format!("rtmp://{host}:{}/live", state.config.rtmp.port);
    let ingest = entry.bus.live().map(|live| {
        let elapsed = SystemTime::now()
            .duration_since(live.started_at)
            .unwrap_or_default()
            .max(Duration::from_millis(1));
        IngestView {
            protocol: live.session.protocol,
            remote: live.session.remote.clone(),
            started_at: rfc3339(live.started_at),
            bitrate_kbps: (live.bytes as f64 * 8.0 / elapsed.as_secs_f64() / 1000.0) as u64,
            video: live.session.track(TrackKind::Video).map(track_view),
            audio: live.session.track(TrackKind::Audio).map(track_view),
        }
    });
    StreamView {
        id: id.clone(),
        title: entry.record.title.clone(),
        stream_key: entry.record.stream_key.clone(),
        state: if ingest.is_some() { "live" } else { "idle" },
        created_at: rfc3339(UNIX_EPOCH + Duration::from_millis(entry.record.created_at as u64)),
        rtmp_publish_url: format!("{rtmp_url}/{}", entry.record.stream_key),
        rtmp_url,
        whip_url: format!("{base}/whip/{id}"),
        hls_url: format!("{base}/hls/{id}/index.m3u8"),
        whep_url: format!("{base}/whep/{id}"),
        ingest,
    }
}

fn track_view(t: &Track) -> TrackView {
    TrackView {
        codec: t.codec.name(),
        width: t.width,
        height: t.height,
        fps: t
            .framerate
            .filter(|(_, d)| *d != 0)
            .map(|(n, d)| (n as f64 / d as f64 * 100.0).round() / 100.0),
        sample_rate: t.sample_rate,
        channels: t.channels,
    }
}

pub fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
