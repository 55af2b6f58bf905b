//! `/ws/signal`: WHEP over one WebSocket, JSON text frames.
//!
//! Client → server:
//! - `{"type":"view","stream":"<id>","sdp":"<offer>"}` → `{"type":"answer","session":"…","sdp":"…"}`
//!   (the offer carries every client candidate, the answer every server candidate: no trickle);
//! - `{"type":"leave","session":"…"}` → `{"type":"left","session":"…"}`;
//! - `{"type":"ice_servers"}` → `{"type":"ice_servers","servers":[…]}`.
//!
//! Errors: `{"type":"error","status":<http status>,"reason":"…"}` (same statuses as WHEP). A
//! socket may hold several sessions; closing it leaves them all.

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
    View { stream: String, sdp: String },
    Leave { session: String },
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
            Ok(ClientMsg::IceServers) => ServerMsg::IceServers {
                servers: sfu.ice_servers().to_vec(),
            },
            Ok(ClientMsg::View { stream, sdp }) => match sfu.view(&stream, &sdp).await {
                Ok(a) => {
                    mine.push((stream, a.session.clone()));
                    ServerMsg::Answer {
                        session: a.session,
                        sdp: a.sdp,
                    }
                }
                Err(e) => error(&e),
            },
            Ok(ClientMsg::Leave { session }) => {
                match mine.iter().position(|(_, s)| *s == session) {
                    Some(i) => {
                        let (stream, session) = mine.swap_remove(i);
                        match sfu.leave(&stream, &session).await {
                            Ok(()) => ServerMsg::Left { session },
                            Err(e) => error(&e),
                        }
                    }
                    None => error(&SignalingError::UnknownSession(session)),
                }
            }
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
