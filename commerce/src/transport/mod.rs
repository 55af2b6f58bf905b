//! The REST and WebSocket surface as axum handlers; the engine builds the `Router`
//! (`engine/src/http/commerce`). Wire types live in [`wire`].

pub(crate) mod fanout;
pub mod rest;
pub mod wire;
pub mod ws;
pub(crate) mod ws_conn;
pub mod ws_upgrade;
