//! Replays and thumbnails: the thin HTTP mapping of `showroom_pipelines::record`.
//!
//! - `GET /vod/{id}/index.m3u8`: the recording's playlist (VOD with ENDLIST once the stream is
//!   not live, EVENT while it is still being recorded), `/vod/{id}/{session}/init.mp4` and
//!   `/vod/{id}/{session}/{seq}.m4s`: its media.
//! - `GET /vod/{id}/download.mp4`: the whole recording as one progressive MP4 (remuxed, no
//!   re-encode; built on the first request once the stream has ended, then cached).
//! - `GET /vod/{id}/thumbs.vtt` (+ `/vod/{id}/{session}/thumbs/{ms}.jpg`): the scrubber's
//!   thumbnail track. `GET /thumbs/{id}/latest.jpg`: the newest poster while live.
//!
//! With `[recording.s3]`, a file that is not on the local disk is streamed from the bucket.
//! Unknown stream, no recording, or a file name that is not ours: 404.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use showroom_pipelines::record::{MediaFile, Opened, RecordError};
use tower_http::services::ServeFile;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/vod/{id}/index.m3u8", get(playlist))
        .route("/vod/{id}/thumbs.vtt", get(thumbs_vtt))
        .route("/vod/{id}/download.mp4", get(download))
        .route("/vod/{id}/{session}/{file}", get(media))
        .route("/vod/{id}/{session}/thumbs/{file}", get(thumb))
        .route("/thumbs/{id}/latest.jpg", get(latest))
}

/// Whether the stream's recording is complete (nobody publishing, nothing left to write).
fn ended(state: &AppState, id: &str) -> Option<bool> {
    let entry = state.registry.get(id)?;
    let recording = entry.recorder.as_ref().is_some_and(|r| r.is_recording());
    Some(!entry.bus.is_publishing() && !recording)
}

async fn playlist(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(ended) = ended(&state, &id) else {
        return not_found(&id, "unknown stream");
    };
    match state.registry.recordings().playlist(&id, ended).await {
        Ok(text) => body(
            text,
            "application/vnd.apple.mpegurl",
            if ended {
                "public, max-age=60"
            } else {
                "no-cache"
            },
        ),
        Err(e) => refused(&id, "playlist", e),
    }
}

async fn thumbs_vtt(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if state.registry.get(&id).is_none() {
        return not_found(&id, "unknown stream");
    }
    match state.registry.recordings().thumbnails_vtt(&id).await {
        Ok(text) => body(text, "text/vtt; charset=utf-8", "no-cache"),
        Err(e) => refused(&id, "thumbs.vtt", e),
    }
}

async fn media(
    State(state): State<AppState>,
    Path((id, session, file)): Path<(String, String, String)>,
) -> Response {
    serve_media(&state, &id, &session, &file).await
}

async fn thumb(
    State(state): State<AppState>,
    Path((id, session, file)): Path<(String, String, String)>,
) -> Response {
    serve_media(&state, &id, &session, &format!("thumbs/{file}")).await
}

async fn serve_media(state: &AppState, id: &str, session: &str, file: &str) -> Response {
    if state.registry.get(id).is_none() {
        return not_found(id, "unknown stream");
    }
    match state.registry.recordings().media(id, session, file) {
        Ok(f) => send_file(state, id, f, "public, max-age=86400").await,
        Err(e) => refused(id, file, e),
    }
}

async fn latest(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if state.registry.get(&id).is_none() {
        return not_found(&id, "unknown stream");
    }
    match state.registry.recordings().latest_thumbnail(&id) {
        Ok(path) => {
            send_file(
                &state,
                &id,
                MediaFile {
                    path,
                    content_type: "image/jpeg",
                },
                "no-cache",
            )
            .await
        }
        Err(e) => refused(&id, "latest.jpg", e),
    }
}

async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> Response {
    match ended(&state, &id) {
        None => return not_found(&id, "unknown stream"),
        Some(false) => {
            return (
                StatusCode::CONFLICT,
                "the stream is still being recorded: download it once it has ended\n",
            )
                .into_response()
        }
        Some(true) => {}
    }
    match state.registry.recordings().download(&id).await {
        Ok(f) => {
            // Streamed from disk, with Range support (seeking players, resumed downloads).
            let mut r = match ServeFile::new(&f.path).try_call(req).await {
                Ok(r) => r.map(axum::body::Body::new),
                Err(e) => return refused(&id, "download.mp4", RecordError::Io(e)),
            };
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.mp4\"")) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Err(e) => refused(&id, "download.mp4", e),
    }
}

/// A recording file from the local disk, or streamed from S3 as it arrives when it is only
/// there (`[recording.s3]`).
async fn send_file(state: &AppState, id: &str, f: MediaFile, cache: &'static str) -> Response {
    let path = match state.registry.recordings().open(&f).await {
        Ok(Opened::Local(path)) => path,
        Ok(Opened::Remote(object)) => {
            let mut r = body(
                axum::body::Body::from_stream(object.chunks),
                f.content_type,
                cache,
            );
            if let Some(len) = object.len {
                r.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            }
            return r;
        }
        Err(e) => return refused(id, "file", e),
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => body(bytes, f.content_type, cache),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => not_found(id, "no such file"),
        Err(e) => refused(id, "file", RecordError::Io(e)),
    }
}

fn body(
    bytes: impl Into<axum::body::Body>,
    content_type: &'static str,
    cache: &'static str,
) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        bytes.into(),
    )
        .into_response()
}

fn not_found(id: &str, reason: &str) -> Response {
    tracing::debug!(stream = %id, reason, "vod: not found");
    (StatusCode::NOT_FOUND, format!("{reason}\n")).into_response()
}

fn refused(id: &str, what: &str, e: RecordError) -> Response {
    match e {
        RecordError::NotFound => not_found(id, "no recording"),
        other => {
            tracing::error!(stream = %id, file = what, error = %other, "vod: cannot serve");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}
