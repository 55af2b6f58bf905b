//! `/hls/{id}/...`: the thin HTTP mapping of the LL-HLS origin (all logic lives in
//! `showroom_pipelines::llhls`).
//!
//! Files: `index.m3u8` (multivariant), `video.m3u8` / `audio.m3u8` / `{rendition}.m3u8` (ABR
//! ladder, docs/abr.md) (with `_HLS_msn`, `_HLS_part`, `_HLS_skip`), `{r}.init{epoch}.mp4`,
//! `{r}.s{msn}.m4s`, `{r}.p{seq}.m4s`.
//! Errors: 400 bad directives, 404 unknown/not live/evicted, 503 held too long.
//!
//! Each media playlist served counts its client as an LL-HLS viewer session
//! ([`crate::viewers`]): keyed by the `cid` query parameter when present (the web client adds a
//! random one per page), else by the client's address and User-Agent.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use showroom_pipelines::llhls::{HlsBody, Origin, OriginError, PlaylistQuery, Resource};
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::CompressionLayer;

use crate::viewers::ViewerCounter;

/// Finds the origin of a stream id (the engine's registry implements it).
pub type OriginFinder = Arc<dyn Fn(&str) -> Option<Arc<Origin>> + Send + Sync>;

#[derive(Clone)]
struct HlsState {
    find: OriginFinder,
    viewers: Arc<ViewerCounter>,
}

/// The HLS routes with their state applied, ready to `merge`.
pub fn router(find: OriginFinder, viewers: Arc<ViewerCounter>) -> Router {
    // Playlists are gzipped; media (video/*, audio/*) is sent as is.
    let predicate = DefaultPredicate::new()
        .and(NotForContentType::const_new("video/"))
        .and(NotForContentType::const_new("audio/"));
    Router::new()
        .route("/hls/{id}/{file}", get(serve))
        .with_state(HlsState { find, viewers })
        .layer(CompressionLayer::new().gzip(true).compress_when(predicate))
}

async fn serve(
    State(st): State<HlsState>,
    Path((id, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Response {
    let Some(origin) = (st.find)(&id) else {
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
            Ok(q) => {
                let served = origin.media_playlist(&rendition, &q).await;
                if served.is_ok() {
                    let key = client_key(query.as_deref(), &headers, peer.map(|p| p.0 .0));
                    st.viewers.hls_request(&id, &key);
                }
                served
            }
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

/// The player's `cid` (1 to 64 characters of `[A-Za-z0-9_-]`), else address + User-Agent.
fn client_key(query: Option<&str>, headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
    let cid = query
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("cid="))
        .filter(|c| {
            (1..=64).contains(&c.len())
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    match cid {
        Some(c) => format!("cid:{c}"),
        None => {
            let ua = headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let ip = peer.map(|p| p.ip().to_string()).unwrap_or_default();
            format!("addr:{ip}|{ua}")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_key_is_the_cid_else_address_and_user_agent() {
        let mut h = HeaderMap::new();
        h.insert(header::USER_AGENT, HeaderValue::from_static("Lavf/60"));
        let peer: Option<SocketAddr> = "127.0.0.1:5000".parse().ok();
        assert_eq!(
            client_key(Some("_HLS_msn=4&_HLS_part=1&cid=ab_9-Z"), &h, peer),
            "cid:ab_9-Z"
        );
        // A bad cid (too long, odd characters) is ignored, not trusted.
        let long = format!("cid={}", "a".repeat(65));
        assert_eq!(client_key(Some(&long), &h, peer), "addr:127.0.0.1|Lavf/60");
        assert_eq!(
            client_key(Some("cid=a%20b"), &h, peer),
            "addr:127.0.0.1|Lavf/60"
        );
        // The port is not part of the key: one player's several connections count once.
        let other_port: Option<SocketAddr> = "127.0.0.1:6000".parse().ok();
        assert_eq!(
            client_key(None, &h, other_port),
            client_key(Some("cid="), &h, peer)
        );
    }
}
