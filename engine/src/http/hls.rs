//! `/hls/{id}/...`: the thin HTTP mapping of the LL-HLS origin (all logic lives in
//! `showroom_pipelines::llhls`).
//!
//! Files: `index.m3u8` (multivariant), `video.m3u8` / `audio.m3u8` (with `_HLS_msn`,
//! `_HLS_part`, `_HLS_skip`), `{r}.init{epoch}.mp4`, `{r}.s{msn}.m4s`, `{r}.p{seq}.m4s`.
//! Errors: 400 bad directives, 404 unknown/not live/evicted, 503 held too long.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use showroom_pipelines::llhls::{HlsBody, Origin, OriginError, PlaylistQuery, Resource};
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::CompressionLayer;

/// Finds the origin of a stream id (the engine's registry implements it).
pub type OriginFinder = Arc<dyn Fn(&str) -> Option<Arc<Origin>> + Send + Sync>;

/// The HLS routes with their state applied, ready to `merge`.
pub fn router(find: OriginFinder) -> Router {
    // Playlists are gzipped; media (video/*, audio/*) is sent as is.
    let predicate = DefaultPredicate::new()
        .and(NotForContentType::const_new("video/"))
        .and(NotForContentType::const_new("audio/"));
    Router::new()
        .route("/hls/{id}/{file}", get(serve))
        .with_state(find)
        .layer(CompressionLayer::new().gzip(true).compress_when(predicate))
}

async fn serve(
    State(find): State<OriginFinder>,
    Path((id, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(origin) = find(&id) else {
        tracing::debug!(stream = %id, "hls: unknown stream");
        return error(StatusCode::NOT_FOUND, "unknown stream");
    };
    let Some(resource) = Resource::parse(&file) else {
        tracing::debug!(stream = %id, file = %file, "hls: unknown file name");
        return error(StatusCode::NOT_FOUND, "no such file");
    };
    let result = match resource {
        Resource::Multivariant => origin.multivariant(),
        Resource::Playlist { rendition } => match PlaylistQuery::parse(query.as_deref()) {
            Ok(q) => origin.media_playlist(&rendition, &q).await,
            Err(e) => Err(e),
        },
        Resource::Init { rendition, epoch } => origin.init(&rendition, &epoch).await,
        Resource::Segment { rendition, msn } => origin.segment(&rendition, msn).await,
        Resource::Part { rendition, seq } => origin.part(&rendition, seq).await,
    };
    match result {
        Ok(body) => ok(body),
        Err(e) => {
            let status = match &e {
                OriginError::BadRequest(_) => StatusCode::BAD_REQUEST,
                OriginError::NotFound | OriginError::NotLive => StatusCode::NOT_FOUND,
                OriginError::Timeout => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            tracing::debug!(stream = %id, file = %file, error = %e, "hls: request refused");
            error(status, &e.to_string())
        }
    }
}

fn ok(body: HlsBody) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(body.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(body.cache_control),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        body.bytes,
    )
        .into_response()
}

fn error(status: StatusCode, reason: &str) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        format!("{reason}\n"),
    )
        .into_response()
}
