//! The one error type at the HTTP edge: logs internals, answers a status and a plain reason.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid admin key")]
    Unauthorized,
    #[error("not allowed: needs the admin key or a host/moderator token for this stream")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Commerce(#[from] showroom_commerce::CommerceError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Db(e) => {
                tracing::error!(error = %e, "database error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::Commerce(e) => {
                if e.http_status() >= 500 {
                    tracing::error!(error = %e, "commerce error");
                }
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        };
        let reason = match &self {
            Self::Db(_) => "internal error".to_owned(),
            Self::Commerce(e) => e.public_message(),
            other => other.to_string(),
        };
        let mut response = (status, Json(serde_json::json!({ "error": reason }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
