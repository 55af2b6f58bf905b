//! Admin authentication: `Authorization: Bearer <admin key>`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

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
