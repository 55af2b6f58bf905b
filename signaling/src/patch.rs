//! RFC 9725 §4.3 `PATCH` on a WHIP or WHEP session resource: trickle ICE (`204`) and ICE
//! restart (`200` with the answer fragment), `application/trickle-ice-sdpfrag` both ways.
//!
//! - `Content-Type` other than `application/trickle-ice-sdpfrag` → `415`;
//! - unknown session → `404`; body not a valid fragment → `400` saying which line and why;
//! - `If-Match` neither `*` nor the session's current `ETag` → `412`;
//! - credentials other than the session's current remote ones → ICE restart: `200`, the new
//!   server credentials and candidates as a fragment, and a new `ETag`;
//! - otherwise the candidates are added → `204`.
//!
//! Server candidates are never trickled: the `201` answer (and the restart answer) carry them all.

use std::future::Future;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::SignalingError;
use crate::sdpfrag::SdpFrag;

/// The media type of PATCH bodies (RFC 8840).
pub const SDPFRAG: &str = "application/trickle-ice-sdpfrag";

/// A session's ICE identity for PATCH: its entity tag and the client's current ICE ufrag.
#[derive(Debug, Clone)]
pub(crate) struct IceTag {
    /// RFC 9725 entity tag (quoted); a new one after each ICE restart.
    pub etag: String,
    /// The client's current `ice-ufrag` (a fragment with another one is an ICE restart).
    pub remote_ufrag: String,
}

impl IceTag {
    /// A fresh tag for a session whose client offered `offer`.
    pub fn new(offer: &str) -> Self {
        Self {
            etag: new_etag(),
            remote_ufrag: crate::sdpfrag::IceParams::of_sdp(offer).ufrag,
        }
    }
}

/// What the PATCH handler needs of a WHIP or WHEP session.
pub(crate) trait IceSession: Clone + Send + Sync + 'static {
    /// The stream id and ICE tag of a session.
    fn ice_of(&self, session: &str) -> Option<(String, IceTag)>;

    /// The session's ICE tag, if the session belongs to `stream`.
    fn ice_state(&self, stream: &str, session: &str) -> Result<IceTag, SignalingError> {
        match self.ice_of(session) {
            Some((s, tag)) if s == stream => Ok(tag),
            _ => Err(SignalingError::UnknownSession(session.to_owned())),
        }
    }

    /// Adds the fragment's candidates (trickle) to a session known to exist.
    fn trickle(
        &self,
        session: &str,
        frag: &SdpFrag,
    ) -> impl Future<Output = Result<(), SignalingError>> + Send;

    /// ICE restart with the fragment's credentials and candidates; returns the answer fragment
    /// and the new `ETag`.
    fn restart(
        &self,
        session: &str,
        frag: &SdpFrag,
    ) -> impl Future<Output = Result<(String, String), SignalingError>> + Send;
}

/// A fresh quoted entity tag.
pub(crate) fn new_etag() -> String {
    format!("\"{}\"", uuid::Uuid::new_v4().simple())
}

/// Puts `ETag: etag` on a response.
pub(crate) fn set_etag(resp: &mut Response, etag: &str) {
    if let Ok(v) = HeaderValue::from_str(etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
}

/// The axum handler of `PATCH /{whip|whep}/{id}/{session}`.
pub(crate) async fn handler<S: IceSession>(
    State(s): State<S>,
    Path((id, session)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SignalingError> {
    patch(&s, &id, &session, &headers, &body).await
}

/// Handles one PATCH on `session` of `stream`.
pub(crate) async fn patch<S: IceSession>(
    s: &S,
    stream: &str,
    session: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, SignalingError> {
    let IceTag { etag, remote_ufrag } = s.ice_state(stream, session)?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    if !ct.trim_start().starts_with(SDPFRAG) {
        return Err(SignalingError::MediaType(format!(
            "PATCH takes {SDPFRAG}, got `{ct}`"
        )));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| SignalingError::BadSdpFrag("body is not UTF-8".into()))?;
    let frag = SdpFrag::parse(text).map_err(|e| SignalingError::BadSdpFrag(e.to_string()))?;
    if let Some(m) = headers.get(header::IF_MATCH) {
        let m = String::from_utf8_lossy(m.as_bytes());
        let ok = m.trim() == "*" || m.split(',').any(|t| t.trim() == etag);
        if !ok {
            return Err(SignalingError::Precondition(format!(
                "If-Match {m} is not the session's current ETag (an ICE restart changed it?)"
            )));
        }
    }
    if frag.is_restart(&remote_ufrag) {
        let (answer, etag) = s.restart(session, &frag).await?;
        tracing::info!(stream, session, "ICE restart answered");
        let mut resp = (StatusCode::OK, answer).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(SDPFRAG));
        set_etag(&mut resp, &etag);
        Ok(resp)
    } else {
        s.trickle(session, &frag).await?;
        tracing::debug!(
            stream,
            session,
            candidates = frag.candidates.len(),
            "trickle ICE candidates added"
        );
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}
