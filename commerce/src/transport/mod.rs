//! The REST and WebSocket surface as axum handlers; the engine builds the `Router`
//! (`engine/src/http/commerce`). Wire types live in [`wire`].

pub mod rest;
pub mod wire;
pub mod ws;
