//! Admin authentication: `Authorization: Bearer <admin key>`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::error::ApiError;
use super::AppState;
use crate::secrets::constant_time_eq;

/// Present in a handler's arguments: the request carried the admin key.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match token {
            Some(t) if constant_time_eq(t, &state.secrets.admin_key) => Ok(Admin),
            _ => {
                tracing::warn!(path = %parts.uri.path(), "admin request refused: bad or missing key");
                Err(ApiError::Unauthorized)
            }
        }
    }
}

/// The request carries the admin key, or a token of the stream's staff (host, moderator)
/// issued by the interaction layer.
pub fn require_staff(
    headers: &HeaderMap,
    state: &AppState,
    stream_id: &str,
) -> Result<(), ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    if constant_time_eq(token, &state.secrets.admin_key) {
        return Ok(());
    }
    match state.shop.authenticate(token) {
        Ok(actor) if actor.require_staff(stream_id, "end the stream").is_ok() => Ok(()),
        _ => {
            tracing::warn!(stream = stream_id, "staff request refused");
            Err(ApiError::Forbidden)
        }
    }
}
