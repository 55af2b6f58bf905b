//! A viewer session's ICE after the answer: trickled client candidates and ICE restart.

use std::sync::Arc;

use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::peer_connection::RTCPeerConnection;

use super::Sfu;
use crate::error::SignalingError;
use crate::patch::{IceSession, IceTag};
use crate::sdpfrag::{with_credentials, IceParams, SdpFrag};

impl Sfu {
    fn session_pc(
        &self,
        stream_id: &str,
        session: &str,
    ) -> Result<Arc<RTCPeerConnection>, SignalingError> {
        match self.0.sessions.lock().get(session) {
            Some(s) if s.stream_id == stream_id => Ok(Arc::clone(&s.pc)),
            _ => Err(SignalingError::UnknownSession(session.to_owned())),
        }
    }

    /// Trickle ICE: adds one client candidate (`candidate:…`; empty = end of candidates) to a
    /// viewer session. mDNS (`.local`) candidates are skipped: the server does not resolve them.
    pub async fn add_candidate(
        &self,
        stream_id: &str,
        session: &str,
        candidate: &str,
        mid: Option<String>,
        mline_index: Option<u16>,
    ) -> Result<(), SignalingError> {
        let pc = self.session_pc(stream_id, session)?;
        add_to(&pc, candidate, mid, mline_index).await
    }

    /// ICE restart with a full new offer (new `ice-ufrag`/`ice-pwd`, everything else as
    /// negotiated): returns the full answer with the new server credentials and every candidate.
    /// The viewer keeps its queue and tracks; media resumes on the new candidate pair.
    pub async fn restart_ice(
        &self,
        stream_id: &str,
        session: &str,
        offer: &str,
    ) -> Result<String, SignalingError> {
        let pc = self.session_pc(stream_id, session)?;
        let answer = crate::viewer::renegotiate(&pc, offer.to_owned()).await?;
        if let Some(s) = self.0.sessions.lock().get_mut(session) {
            s.ice = IceTag::new(offer);
        }
        tracing::info!(stream = stream_id, session, "sfu: ICE restarted");
        Ok(answer)
    }
}

async fn add_to(
    pc: &RTCPeerConnection,
    candidate: &str,
    mid: Option<String>,
    mline_index: Option<u16>,
) -> Result<(), SignalingError> {
    let candidate = candidate.strip_prefix("a=").unwrap_or(candidate).trim();
    if candidate
        .split_ascii_whitespace()
        .nth(4)
        .is_some_and(|a| a.ends_with(".local"))
    {
        tracing::debug!(candidate, "sfu: mDNS candidate skipped");
        return Ok(());
    }
    pc.add_ice_candidate(RTCIceCandidateInit {
        candidate: candidate.to_owned(),
        sdp_mid: mid,
        sdp_mline_index: mline_index,
        username_fragment: None,
    })
    .await
    .map_err(|e| SignalingError::BadSdpFrag(format!("candidate refused ({e}): {candidate:.80}")))
}

impl IceSession for Sfu {
    fn ice_of(&self, session: &str) -> Option<(String, IceTag)> {
        let sessions = self.0.sessions.lock();
        sessions
            .get(session)
            .map(|s| (s.stream_id.clone(), s.ice.clone()))
    }

    /// Viewer candidates go to webrtc-rs (`add_ice_candidate`).
    async fn trickle(&self, session: &str, frag: &SdpFrag) -> Result<(), SignalingError> {
        let pc = self
            .0
            .sessions
            .lock()
            .get(session)
            .map(|s| Arc::clone(&s.pc));
        let pc = pc.ok_or_else(|| SignalingError::UnknownSession(session.to_owned()))?;
        for c in &frag.candidates {
            add_to(&pc, &c.candidate, c.mid.clone(), Some(c.mline_index)).await?;
        }
        Ok(())
    }

    /// The full offer the fragment stands for (RFC 9725 §4.4), renegotiated; the answer's new
    /// credentials and candidates as a fragment.
    async fn restart(
        &self,
        session: &str,
        frag: &SdpFrag,
    ) -> Result<(String, String), SignalingError> {
        let Some((stream, _)) = self.ice_of(session) else {
            return Err(SignalingError::UnknownSession(session.to_owned()));
        };
        let pc = self.session_pc(&stream, session)?;
        let (Some(ufrag), Some(pwd)) = (&frag.ice_ufrag, &frag.ice_pwd) else {
            return Err(SignalingError::BadSdpFrag(
                "ICE restart without a=ice-ufrag/a=ice-pwd".into(),
            ));
        };
        let Some(remote) = pc.remote_description().await else {
            return Err(SignalingError::Unprocessable(
                "no remote description to restart",
            ));
        };
        let offer = with_credentials(&remote.sdp, ufrag, pwd);
        let answer = self.restart_ice(&stream, session, &offer).await?;
        self.trickle(session, frag).await?;
        let etag = self.ice_state(&stream, session)?.etag;
        Ok((IceParams::of_sdp(&answer).answer_frag(&answer), etag))
    }
}
