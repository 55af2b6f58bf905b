//! WHIP (RFC 9725) ingest signaling: `POST /whip/{id}` with `Authorization: Bearer <key>` and
//! an SDP offer → `201` + answer (every server candidate) + `Location` + `ETag`; `PATCH` on the
//! Location trickles publisher candidates ([`crate::patch`]; ICE restart → `422`); `DELETE`
//! ends the publish. The media side is `showroom_pipelines::whip` (webrtcbin → bus).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use parking_lot::Mutex;
use showroom_pipelines::ingest::{IngestRefusal, PublishTarget};
use showroom_pipelines::stream::PublishError;
use showroom_pipelines::whip::{WhipConfig, WhipError, WhipSession};

use crate::error::SignalingError;
use crate::offer::check_offer;
use crate::patch::{handler, set_etag, IceSession, IceTag};
use crate::sdpfrag::SdpFrag;

struct Entry {
    stream_id: String,
    session: WhipSession,
    ice: IceTag,
}

impl Entry {
    fn tag(&self) -> (String, IceTag) {
        (self.stream_id.clone(), self.ice.clone())
    }
}

struct Inner {
    cfg: WhipConfig,
    target: Arc<dyn PublishTarget>,
    sessions: Mutex<HashMap<String, Entry>>,
}

/// WHIP ingest: stream keys checked against the engine's [`PublishTarget`]. Cheap to clone.
#[derive(Clone)]
pub struct Whip(Arc<Inner>);

impl Whip {
    pub fn new(cfg: WhipConfig, target: Arc<dyn PublishTarget>) -> Self {
        Self(Arc::new(Inner {
            cfg,
            target,
            sessions: Mutex::new(HashMap::new()),
        }))
    }

    /// Publish sessions open now.
    pub fn session_count(&self) -> usize {
        self.0.sessions.lock().len()
    }

    /// Starts a publish of `stream_id` with `key`; returns (session id, answer SDP).
    pub async fn publish(
        &self,
        stream_id: &str,
        key: Option<&str>,
        offer: &str,
    ) -> Result<(String, String), SignalingError> {
        let key = key.ok_or(SignalingError::Unauthorized("missing bearer token"))?;
        let stream = self
            .0
            .target
            .find_by_key(key)
            .ok_or(SignalingError::Unauthorized("unknown stream key"))?;
        if stream.id() != stream_id {
            return Err(SignalingError::Unauthorized(
                "the key is for another stream",
            ));
        }
        check_offer(offer)?;
        let publisher = self
            .0
            .target
            .publish(key, "whip", "webrtc")
            .map_err(|e| match e {
                IngestRefusal::UnknownKey => SignalingError::Unauthorized("unknown stream key"),
                IngestRefusal::Publish(PublishError::AlreadyPublishing(s)) => {
                    SignalingError::Busy(s)
                }
                other => SignalingError::Ingest(other.to_string()),
            })?;
        let (session, answer) = WhipSession::start(publisher, offer, &self.0.cfg)
            .await
            .map_err(|e| match e {
                WhipError::BadSdp(m) => SignalingError::BadSdp(m),
                WhipError::Negotiation(m) => SignalingError::NoCodec(m),
                other => SignalingError::Ingest(other.to_string()),
            })?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let closed = session.closed();
        self.0.sessions.lock().insert(
            id.clone(),
            Entry {
                stream_id: stream_id.to_owned(),
                session,
                ice: IceTag::new(offer),
            },
        );
        let weak = Arc::downgrade(&self.0);
        let sid = id.clone();
        tokio::spawn(async move {
            closed.wait().await;
            if let Some(inner) = weak.upgrade() {
                if inner.sessions.lock().remove(&sid).is_some() {
                    tracing::info!(session = %sid, "whip: publisher gone, session removed");
                }
            }
        });
        tracing::info!(stream = stream_id, session = %id, "whip: publishing");
        Ok((id, answer))
    }

    /// Ends a publish session (`DELETE` on its Location).
    pub fn end(&self, stream_id: &str, session: &str) -> Result<(), SignalingError> {
        let mut sessions = self.0.sessions.lock();
        match sessions.get(session) {
            Some(e) if e.stream_id == stream_id => {
                sessions.remove(session);
                tracing::info!(stream = stream_id, session, "whip: publish ended by DELETE");
                Ok(())
            }
            _ => Err(SignalingError::UnknownSession(session.to_owned())),
        }
    }
}

/// The WHIP routes, state applied.
pub fn router(whip: Whip) -> Router {
    Router::new()
        .route("/whip/{id}", post(create))
        .route(
            "/whip/{id}/{session}",
            axum::routing::delete(remove).patch(handler::<Whip>),
        )
        .with_state(whip)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

async fn create(
    State(whip): State<Whip>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SignalingError> {
    let key = bearer(&headers);
    if key.is_some() {
        if let Some(ct) = headers.get(header::CONTENT_TYPE) {
            if !ct.as_bytes().starts_with(b"application/sdp") {
                return Err(SignalingError::BadSdp(format!(
                    "content type must be application/sdp, got {}",
                    String::from_utf8_lossy(ct.as_bytes())
                )));
            }
        }
    }
    let offer = std::str::from_utf8(&body)
        .map_err(|_| SignalingError::BadSdp("body is not UTF-8".into()))?;
    let (session, answer) = whip.publish(&id, key, offer).await?;
    let etag = whip.ice_state(&id, &session).map(|t| t.etag);
    let mut resp = (StatusCode::CREATED, answer).into_response();
    if let Ok(etag) = etag {
        set_etag(&mut resp, &etag);
    }
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("/whip/{id}/{session}")) {
        h.insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn remove(
    State(whip): State<Whip>,
    Path((id, session)): Path<(String, String)>,
) -> Result<StatusCode, SignalingError> {
    whip.end(&id, &session)?;
    Ok(StatusCode::OK)
}

impl IceSession for Whip {
    fn ice_of(&self, session: &str) -> Option<(String, IceTag)> {
        self.0.sessions.lock().get(session).map(Entry::tag)
    }

    /// RFC 9725 §4.3: a session that supports trickle but not ICE restart answers 422.
    async fn restart(
        &self,
        _session: &str,
        _frag: &SdpFrag,
    ) -> Result<(String, String), SignalingError> {
        Err(SignalingError::Unprocessable(
            "ICE restart of a WHIP session is not supported: DELETE and publish again",
        ))
    }

    /// Publisher candidates go to webrtcbin (`add-ice-candidate`).
    async fn trickle(&self, session: &str, frag: &SdpFrag) -> Result<(), SignalingError> {
        let sessions = self.0.sessions.lock();
        let e = sessions
            .get(session)
            .ok_or_else(|| SignalingError::UnknownSession(session.to_owned()))?;
        for c in &frag.candidates {
            e.session
                .add_candidate(u32::from(c.mline_index), &c.candidate);
        }
        Ok(())
    }
}
