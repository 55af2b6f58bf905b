//! The HTTP surface: each module exposes a `router()`, merged here, and nothing else.

mod auth;
mod commerce;
mod error;
mod hls;
pub mod metrics;
mod pages;
mod stats;
mod streams;
mod vod;

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::Router;
use tower_http::cors::CorsLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::registry::{Entry, Registry};
use crate::secrets::Secrets;
pub use error::ApiError;

/// Writes more Prometheus lines (ingest servers and egress report through these).
pub type MetricsWriter = Arc<dyn Fn(&mut String) + Send + Sync>;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub secrets: Arc<Secrets>,
    pub registry: Arc<Registry>,
    pub shop: Arc<showroom_commerce::Commerce>,
    pub extra_metrics: Arc<Vec<MetricsWriter>>,
    /// LL-HLS viewer sessions (the HLS routes feed it).
    pub viewers: Arc<crate::viewers::ViewerCounter>,
    /// The SFU (its per-viewer layers are reported by `webrtc`).
    pub sfu: showroom_signaling::Sfu,
}

impl AppState {
    /// `public_url` from config, else the request's Host.
    pub fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.config.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && h.is_ascii())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("localhost:{}", self.config.http.port));
        format!("http://{host}")
    }

    /// The stream with this id; on a miss, re-reads the database once (another engine process
    /// may have created it).
    pub async fn find(&self, id: &str) -> Result<Arc<Entry>, ApiError> {
        if let Some(entry) = self.registry.get(id) {
            return Ok(entry);
        }
        self.registry.refresh().await?;
        self.registry.get(id).ok_or(ApiError::NotFound("stream"))
    }
}

/// The whole application router.
pub fn router(state: AppState, extra: Vec<Router>) -> Router {
    let shop = Arc::clone(&state.shop);
    let pages_dir = state.config.web.dir.clone();
    let registry = Arc::clone(&state.registry);
    let viewers = Arc::clone(&state.viewers);
    let find_origin: hls::OriginFinder =
        Arc::new(move |id: &str| registry.get(id).map(|e| Arc::clone(&e.origin)));
    let mut app = Router::new()
        .merge(streams::router())
        .merge(stats::router())
        .merge(metrics::router())
        .merge(vod::router())
        .with_state(state)
        .merge(hls::router(find_origin, viewers))
        .merge(commerce::router(shop))
        .merge(pages::router(pages_dir));
    for r in extra {
        app = app.merge(r);
    }
    app.layer(CorsLayer::permissive())
        .layer(TraceLayer::new_for_http())
}
