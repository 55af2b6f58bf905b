//! `GET /api/v1/streams/{id}/webrtc`: the stream's WebRTC layers (source and renditions) and
//! the layer each viewer gets now. Admin key, or a host/moderator token of the stream.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use showroom_signaling::StreamWebRtcInfo;

use super::auth::require_staff;
use super::error::ApiError;
use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/streams/{id}/webrtc", get(webrtc))
}

async fn webrtc(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<StreamWebRtcInfo>, ApiError> {
    state.find(&id).await?;
    require_staff(&headers, &state, &id)?;
    // No egress running (nobody watched lately): no layers and no viewers.
    Ok(Json(state.sfu.webrtc_info(&id).unwrap_or(
        StreamWebRtcInfo {
            layers: Vec::new(),
            viewers: Vec::new(),
        },
    )))
}
