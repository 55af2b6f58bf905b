//! `GET /api/v1/streams/{id}/stats`: the studio's live figures (viewers, reactions, gifts,
//! orders, revenue by currency). Admin key, or a host/moderator token of the stream.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use showroom_commerce::StreamStats;

use super::auth::require_staff;
use super::error::ApiError;
use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/streams/{id}/stats", get(stats))
}

async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<StreamStats>, ApiError> {
    state.find(&id).await?;
    require_staff(&headers, &state, &id)?;
    Ok(Json(state.shop.stream_stats(&id).await?))
}
