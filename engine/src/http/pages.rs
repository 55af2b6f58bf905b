//! The web client's pages: `/watch/{id}`, `/studio/{id}`, `/moderate/{id}` and `/assets/*`,
//! served from the built `web-client/dist` (`[web] dir`).

use std::path::PathBuf;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::services::ServeDir;

pub fn router(dir: PathBuf) -> Router {
    let page = |name: &'static str, dir: PathBuf| {
        get(move |Path(_id): Path<String>| serve_page(dir.join(name)))
    };
    Router::new()
        .route("/watch/{id}", page("watch.html", dir.clone()))
        .route("/studio/{id}", page("studio.html", dir.clone()))
        .route("/moderate/{id}", page("moderate.html", dir.clone()))
        .nest_service("/assets", ServeDir::new(dir.join("assets")))
}

async fn serve_page(path: PathBuf) -> Response {
    match tokio::fs::read(&path).await {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "web client page missing");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "web client not built: run scripts/run.sh (it builds web-client/)\n",
            )
                .into_response()
        }
    }
}
