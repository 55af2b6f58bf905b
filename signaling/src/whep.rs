//! WHEP (RFC 9725 style egress): `POST /whep/{id}` offer → `201` answer + `Location` + `ETag`,
//! `DELETE` on the Location to leave, `PATCH` on it for trickle ICE and ICE restart
//! ([`crate::patch`]). Server candidates: all in the answer (never trickled).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use crate::config::IceServer;
use crate::error::SignalingError;
use crate::patch::{handler, set_etag, IceSession, SDPFRAG};
use crate::sfu::Sfu;

/// The WHEP routes, state applied: merge into the engine's router.
pub fn router(sfu: Sfu) -> Router {
    Router::new()
        .route("/whep/{id}", post(create).options(options))
        .route(
            "/whep/{id}/{session}",
            axum::routing::delete(remove).patch(handler::<Sfu>),
        )
        .with_state(sfu)
}

async fn create(
    State(sfu): State<Sfu>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SignalingError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        if !ct.as_bytes().starts_with(b"application/sdp") {
            return Err(SignalingError::BadSdp(format!(
                "content type must be application/sdp, got {}",
                String::from_utf8_lossy(ct.as_bytes())
            )));
        }
    }
    let offer = std::str::from_utf8(&body)
        .map_err(|_| SignalingError::BadSdp("body is not UTF-8".into()))?;
    let answer = sfu.view(&id, offer).await?;
    let etag = sfu.ice_state(&id, &answer.session).map(|t| t.etag);
    let mut resp = (StatusCode::CREATED, answer.sdp).into_response();
    if let Ok(etag) = etag {
        set_etag(&mut resp, &etag);
    }
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("/whep/{id}/{}", answer.session)) {
        h.insert(header::LOCATION, v);
    }
    add_links(h, sfu.ice_servers());
    Ok(resp)
}

async fn options(State(sfu): State<Sfu>) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(header::ALLOW, HeaderValue::from_static("OPTIONS, POST"));
    h.insert(
        header::HeaderName::from_static("accept-post"),
        HeaderValue::from_static("application/sdp"),
    );
    h.insert(
        header::HeaderName::from_static("accept-patch"),
        HeaderValue::from_static(SDPFRAG),
    );
    add_links(h, sfu.ice_servers());
    resp
}

async fn remove(
    State(sfu): State<Sfu>,
    Path((id, session)): Path<(String, String)>,
) -> Result<StatusCode, SignalingError> {
    sfu.leave(&id, &session).await?;
    Ok(StatusCode::OK)
}

/// RFC 9725 §4.4 `Link: <url>; rel="ice-server"` headers.
fn add_links(h: &mut HeaderMap, servers: &[IceServer]) {
    for s in servers {
        for url in &s.urls {
            let mut v = format!("<{url}>; rel=\"ice-server\"");
            if let (Some(u), Some(c)) = (&s.username, &s.credential) {
                v.push_str(&format!(
                    "; username=\"{u}\"; credential=\"{c}\"; credential-type=\"password\""
                ));
            }
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.append(header::LINK, v);
            }
        }
    }
}
