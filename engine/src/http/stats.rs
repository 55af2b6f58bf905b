//! Staff figures of a stream (admin key, or a host/moderator token of the stream):
//! - `GET /api/v1/streams/{id}/stats`: the studio's live figures (viewers, reactions, gifts,
//!   orders, revenue by currency);
//! - `GET /api/v1/streams/{id}/webrtc`: the WebRTC layers (source and ABR renditions) and the
//!   layer each WebRTC viewer gets now.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use showroom_commerce::StreamStats;
use showroom_signaling::StreamWebRtcInfo;

use super::auth::require_staff;
use super::error::ApiError;
use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/streams/{id}/stats", get(stats))
        .route("/api/v1/streams/{id}/webrtc", get(webrtc))
}

/// The stream exists (404 otherwise) and the caller is its staff (401/403 otherwise).
async fn staff_of(state: &AppState, headers: &HeaderMap, id: &str) -> Result<(), ApiError> {
    state.find(id).await?;
    require_staff(headers, state, id)
}

async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<StreamStats>, ApiError> {
    staff_of(&state, &headers, &id).await?;
    Ok(Json(state.shop.stream_stats(&id).await?))
}

async fn webrtc(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<StreamWebRtcInfo>, ApiError> {
    staff_of(&state, &headers, &id).await?;
    // No egress running (nobody watched lately): no layers and no viewers.
    let info = state.sfu.webrtc_info(&id).unwrap_or(StreamWebRtcInfo {
        layers: Vec::new(),
        viewers: Vec::new(),
    });
    Ok(Json(info))
}
