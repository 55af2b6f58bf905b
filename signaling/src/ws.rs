//! `/ws/signal`: WHEP over one WebSocket, JSON text frames.
//!
//! Client → server:
//! - `{"type":"view","stream":"<id>","sdp":"<offer>"}` → `{"type":"answer","session":"…","sdp":"…"}`
//!   (the answer carries every server candidate; the offer may carry the client's or leave
//!   them to `candidate` messages);
//! - `{"type":"candidate","session":"…","candidate":"candidate:…","sdp_mid":"0","sdp_mline_index":0}`
//!   → nothing on success (trickle ICE; `sdp_mid`/`sdp_mline_index` optional, an empty
//!   `candidate` is the end of candidates);
//! - `{"type":"restart","session":"…","sdp":"<offer with new ice-ufrag/ice-pwd>"}` →
//!   `{"type":"answer","session":"…","sdp":"…"}` (ICE restart, e.g. after `pc.restartIce()`);
//! - `{"type":"leave","session":"…"}` → `{"type":"left","session":"…"}`;
//! - `{"type":"ice_servers"}` → `{"type":"ice_servers","servers":[…]}`.
//!
//! Errors: `{"type":"error","status":<http status>,"reason":"…"}` (same statuses as WHEP). A
//! socket may hold several sessions and only acts on its own; closing it leaves them all.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};

use crate::config::IceServer;
use crate::error::SignalingError;
use crate::sfu::Sfu;

/// Messages from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    View {
        stream: String,
        sdp: String,
    },
    Candidate {
        session: String,
        candidate: String,
        #[serde(default)]
        sdp_mid: Option<String>,
        #[serde(default)]
        sdp_mline_index: Option<u16>,
    },
    Restart {
        session: String,
        sdp: String,
    },
    Leave {
        session: String,
    },
    IceServers,
}

/// Messages to the client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Answer { session: String, sdp: String },
    Left { session: String },
    IceServers { servers: Vec<IceServer> },
    Error { status: u16, reason: String },
}

/// The `/ws/signal` route, state applied.
pub fn router(sfu: Sfu) -> Router {
    Router::new()
        .route("/ws/signal", get(upgrade))
        .with_state(sfu)
}

async fn upgrade(State(sfu): State<Sfu>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| run(sfu, socket))
}

fn error(e: &SignalingError) -> ServerMsg {
    tracing::warn!(status = e.status().as_u16(), reason = %e, "ws/signal: request refused");
    ServerMsg::Error {
        status: e.status().as_u16(),
        reason: e.to_string(),
    }
}

async fn run(sfu: Sfu, mut socket: WebSocket) {
    // (stream, session) opened on this socket, left when it closes.
    let mut mine: Vec<(String, String)> = Vec::new();
    while let Some(Ok(msg)) = socket.recv().await {
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(_) => break,
            _ => continue,
        };
        let reply = match serde_json::from_str::<ClientMsg>(text.as_str()) {
            Err(e) => error(&SignalingError::BadMessage(e.to_string())),
            Ok(msg) => match handle(&sfu, &mut mine, msg).await {
                Ok(Some(reply)) => reply,
                Ok(None) => continue,
                Err(e) => error(&e),
            },
        };
        let json = match serde_json::to_string(&reply) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(error = %e, "ws/signal: reply not serialisable");
                break;
            }
        };
        if socket.send(Message::Text(json.into())).await.is_err() {
            break;
        }
    }
    for (stream, session) in mine {
        let _ = sfu.leave(&stream, &session).await;
    }
    tracing::debug!("ws/signal: socket closed, its sessions left");
}

/// One client message on a socket whose sessions are `mine`; `None` = no reply.
async fn handle(
    sfu: &Sfu,
    mine: &mut Vec<(String, String)>,
    msg: ClientMsg,
) -> Result<Option<ServerMsg>, SignalingError> {
    let stream_of = |mine: &Vec<(String, String)>, session: &str| {
        mine.iter()
            .find(|(_, s)| s == session)
            .map(|(stream, _)| stream.clone())
            .ok_or_else(|| SignalingError::UnknownSession(session.to_owned()))
    };
    Ok(Some(match msg {
        ClientMsg::IceServers => ServerMsg::IceServers {
            servers: sfu.ice_servers().to_vec(),
        },
        ClientMsg::View { stream, sdp } => {
            let a = sfu.view(&stream, &sdp).await?;
            mine.push((stream, a.session.clone()));
            ServerMsg::Answer {
                session: a.session,
                sdp: a.sdp,
            }
        }
        ClientMsg::Candidate {
            session,
            candidate,
            sdp_mid,
            sdp_mline_index,
        } => {
            let stream = stream_of(mine, &session)?;
            if !candidate.trim().is_empty() {
                sfu.add_candidate(&stream, &session, &candidate, sdp_mid, sdp_mline_index)
                    .await?;
            }
            return Ok(None);
        }
        ClientMsg::Restart { session, sdp } => {
            let stream = stream_of(mine, &session)?;
            let sdp = sfu.restart_ice(&stream, &session, &sdp).await?;
            ServerMsg::Answer { session, sdp }
        }
        ClientMsg::Leave { session } => {
            let i = mine
                .iter()
                .position(|(_, s)| *s == session)
                .ok_or_else(|| SignalingError::UnknownSession(session.clone()))?;
            let (stream, session) = mine.swap_remove(i);
            sfu.leave(&stream, &session).await?;
            ServerMsg::Left { session }
        }
    }))
}
